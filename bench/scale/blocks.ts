// Long tasks in a V8 .cpuprofile (node --cpu-prof): runs of samples with no `(idle)` between them, i.e. times
// the event loop did not turn. For each run longer than a threshold: when, how long, and where the time went
// (self time by function, and inclusive time by fedns function: the frames of src/ on the stacks).
// `node bench/scale/blocks.ts FILE.cpuprofile [--min-ms 50] [--top 8]`; the pure part is unit-tested.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface LongTask {
  /** ms after the profile's start. */
  atMs: number;
  durationMs: number;
  /** Self time by function label, largest first. */
  self: { label: string; ms: number }[];
  /** Time with a function of `src/` on the stack (counted once per sample), largest first. */
  inclusive: { label: string; ms: number }[];
}

function labelOf(frame: CallFrame, root: string): string {
  const name = frame.functionName === "" ? "(anonymous)" : frame.functionName;
  if (frame.url === "") return name;
  let path = frame.url.startsWith("file://") ? decodeURIComponent(frame.url.slice(7)) : frame.url;
  const at = path.indexOf(root);
  if (at >= 0) path = path.slice(at + root.length);
  return `${name} (${path}:${frame.lineNumber + 1})`;
}

function ranked(totals: Map<string, number>, top: number): { label: string; ms: number }[] {
  return [...totals.entries()]
    .map(([label, micros]) => ({ label, ms: micros / 1000 }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, top);
}

/** Every run of non-idle samples of at least `minMs`, in time order. `own` marks the URLs counted inclusively. */
export function longTasks(
  profile: CpuProfile,
  options: { minMs?: number; top?: number; own?: (url: string) => boolean; root?: string } = {},
): LongTask[] {
  const minMicros = (options.minMs ?? 50) * 1000;
  const top = options.top ?? 8;
  const own = options.own ?? ((url: string) => url.includes("/src/"));
  const root = options.root ?? "/src/";
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const tasks: LongTask[] = [];
  let run: { start: number; micros: number; self: Map<string, number>; inclusive: Map<string, number> } | undefined;
  const close = (): void => {
    if (run !== undefined && run.micros >= minMicros) {
      tasks.push({
        atMs: (run.start - profile.startTime) / 1000,
        durationMs: run.micros / 1000,
        self: ranked(run.self, top),
        inclusive: ranked(run.inclusive, top),
      });
    }
    run = undefined;
  };
  let at = profile.startTime + (deltas[0] ?? 0);
  for (let i = 0; i + 1 < samples.length; i++) {
    // deltas[i + 1] is how long sample i's frame ran.
    const micros = Math.max(0, deltas[i + 1] ?? 0);
    const node = byId.get(samples[i]!);
    const idle = node === undefined || node.callFrame.functionName === "(idle)";
    if (idle) {
      close();
    } else {
      run ??= { start: at, micros: 0, self: new Map(), inclusive: new Map() };
      run.micros += micros;
      const label = labelOf(node.callFrame, root);
      run.self.set(label, (run.self.get(label) ?? 0) + micros);
      const seen = new Set<string>();
      for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
        const frame = byId.get(id)!.callFrame;
        if (!own(frame.url)) continue;
        const name = labelOf(frame, root);
        if (seen.has(name)) continue;
        seen.add(name);
        run.inclusive.set(name, (run.inclusive.get(name) ?? 0) + micros);
      }
    }
    at += micros;
  }
  close();
  return tasks;
}

export function formatLongTasks(tasks: readonly LongTask[], limit = 20): string {
  const lines = [`${tasks.length} tasks; longest ${Math.min(limit, tasks.length)}:`];
  for (const task of [...tasks].sort((a, b) => b.durationMs - a.durationMs).slice(0, limit)) {
    lines.push(`- at ${(task.atMs / 1000).toFixed(1)} s: ${task.durationMs.toFixed(0)} ms`);
    lines.push(`  self: ${task.self.map((s) => `${s.label} ${s.ms.toFixed(0)}`).join("; ")}`);
    lines.push(`  in:   ${task.inclusive.map((s) => `${s.label} ${s.ms.toFixed(0)}`).join("; ")}`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { "min-ms": { type: "string", default: "50" }, top: { type: "string", default: "8" } },
  });
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
    console.log(`${file}:`);
    console.log(formatLongTasks(longTasks(profile, { minMs: Number(values["min-ms"]), top: Number(values.top) })));
  }
}
