// compactHeap(): one full, compacting garbage collection on demand, without `--expose-gc` on the command line
// (issue 8). V8 keeps its heap at the size it grew to while the first load of the record index made garbage
// (~400 MiB committed for ~200 MiB live at 650k records) and an idle server allocates too little to shrink
// it again; one full GC at a moment when nothing is served yet gives most of it back at once.
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export interface HeapCompaction {
  /** Heap used before and after, bytes. */
  usedBefore: number;
  usedAfter: number;
  /** Heap committed (V8's heap total) before and after, bytes. */
  totalBefore: number;
  totalAfter: number;
  /** How long the collection held the event loop. */
  pauseMs: number;
}

type Collect = (options?: { type?: "major"; execution?: "sync"; flavor?: "regular" | "last-resort" }) => void;
let collect: Collect | undefined;

/** V8's gc() function: the global one under --expose-gc, else one exposed for this call's new context. */
function collector(): Collect {
  if (collect !== undefined) return collect;
  const global = (globalThis as { gc?: Collect }).gc;
  if (global !== undefined) collect = global;
  else {
    setFlagsFromString("--expose-gc");
    collect = runInNewContext("gc") as Collect;
  }
  return collect;
}

/**
 * Runs a full GC now, holding the event loop for its pause, and says what it freed. V8's "last resort"
 * flavour (the memory-pressure collection: rounds until nothing more is freed, compacting fragmented pages)
 * gives the emptied pages back at once; a regular one left them committed for another ~10 s.
 */
export function compactHeap(): HeapCompaction {
  const before = process.memoryUsage();
  const started = performance.now();
  collector()({ type: "major", execution: "sync", flavor: "last-resort" });
  const pauseMs = performance.now() - started;
  const after = process.memoryUsage();
  return {
    usedBefore: before.heapUsed,
    usedAfter: after.heapUsed,
    totalBefore: before.heapTotal,
    totalAfter: after.heapTotal,
    pauseMs,
  };
}
