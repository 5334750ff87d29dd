import { expect } from "chai";
import { configureLogging } from "../../../src/obs/log.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend, WatchHandle } from "../../../src/store/kv.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";

// Several times what etcd sends in one catch-up batch (watchBatchMaxRevs, 1000), so that on a busy
// machine the connection still drops with batches left to send.
const REVISIONS = 5000;
const PREFIX = "/resume/";

async function eventually(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("store: etcd watch catch-up across a disconnect", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let backend: KvBackend;
  let handle: WatchHandle | undefined;

  before(async () => {
    configureLogging("silent");
    etcd = await startEtcd();
    backend = createEtcdBackend({
      endpoints: [etcd.endpoint],
      requestTimeoutMs: 2000,
      watchBackoff: { initialMs: 50, maxMs: 500 },
    });
  });
  after(async () => {
    await handle?.close();
    await backend?.close();
    await etcd?.destroy();
  });

  it("delivers every revision when the connection drops between catch-up batches", async () => {
    const start = (await etcd.revision()) + 1;
    for (let i = 0; i < REVISIONS; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, REVISIONS - i) }, (_, j) =>
          backend.txn([], [{ type: "put", key: `${PREFIX}${String(i + j).padStart(5, "0")}`, value: String(i + j) }]),
        ),
      );
    }
    const seen = new Set<number>();
    let stopping: Promise<void> | undefined;
    handle = await backend.watch(PREFIX, start, {
      onEvents: (events) => {
        for (const event of events) seen.add(event.modRevision);
        // etcd sends the next batch about 100 ms after this one; drop the connection before it comes.
        if (stopping === undefined && events.length > 0) stopping = etcd.stop();
      },
      onCompacted: () => {},
      onDisconnected: () => {},
      onConnected: () => {},
    });
    await eventually(() => stopping !== undefined, "the first batch", 10_000);
    await stopping;
    expect(seen.size).to.be.lessThan(REVISIONS);
    await etcd.start();
    await eventually(() => seen.size === REVISIONS, `all ${REVISIONS} revisions (have ${seen.size})`, 20_000).catch(
      (err: Error) => {
        throw new Error(`${err.message}; highest seen ${Math.max(...seen)}`);
      },
    );
    expect(Math.min(...seen)).to.equal(start);
    expect(Math.max(...seen)).to.equal(start + REVISIONS - 1);
  });
});
