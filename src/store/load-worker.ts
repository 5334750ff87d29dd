// The loader worker (issue 8): runs one full load of the record prefix on its own thread with its own etcd
// client (etcd-range-reader.ts), so that the gRPC decoding, the JSON parse and the validation of every value cost the main thread
// nothing. It reads the prefix in pages at one revision (kv.ts rangePages, etcd-kv.ts sub-ranges), prepares
// every key with the index's own rules (records/prepared.ts prepareKey) and posts each page packed
// (packPage: a string table and typed arrays, transferred), at most PAGES_AHEAD pages ahead of what the main
// thread has taken ("next"). Then "done" with the revision, or "error" with the message of what failed.
// Started by store/worker-loader.ts; it may block its own thread as long as it likes.
import { parentPort, workerData } from "node:worker_threads";
import {
  type PreparedKey,
  type PreparedRejection,
  packPage,
  prepareKey,
  transferablesOf,
} from "../records/prepared.ts";
import { EtcdRangeReader } from "./etcd-range-reader.ts";
import { rangePages } from "./kv.ts";
import type { LoaderMessage, LoaderRequest } from "./worker-loader.ts";

/** Pages posted and not yet taken by the main thread, at most. */
const PAGES_AHEAD = 2;

async function run(port: NonNullable<typeof parentPort>, request: LoaderRequest): Promise<void> {
  let credit = PAGES_AHEAD;
  let wake: (() => void) | undefined;
  port.on("message", (message: unknown) => {
    if (message !== "next") return;
    credit++;
    wake?.();
  });
  const post = (message: LoaderMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);
  const reader = new EtcdRangeReader(request.etcd);
  try {
    let revision = 0;
    let keys = 0;
    for await (const page of rangePages(reader, request.base, request.pageSize)) {
      revision = page.revision;
      keys += page.kvs.length;
      if (page.kvs.length === 0) continue;
      const prepared: PreparedKey[] = [];
      const rejected: PreparedRejection[] = [];
      for (const kv of page.kvs) {
        const result = prepareKey(request.base, kv.key, kv.value, kv.modRevision || revision);
        if ("error" in result) rejected.push({ key: kv.key, error: result.error, value: kv.value });
        else prepared.push(result);
      }
      while (credit === 0) await new Promise<void>((resolve) => (wake = resolve));
      credit--;
      const packed = packPage(revision, prepared, rejected);
      post(packed, transferablesOf(packed));
    }
    post({ type: "done", revision, keys });
  } catch (err) {
    post({ type: "error", message: err instanceof Error ? err.message : String(err) });
  } finally {
    reader.close();
  }
}

if (parentPort !== null) void run(parentPort, workerData as LoaderRequest);
