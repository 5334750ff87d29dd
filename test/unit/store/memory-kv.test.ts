import { expect } from "chai";
import type { WatchEvent, WatchHandlers } from "../../../src/store/kv.ts";
import { createMemoryBackend } from "../../../src/store/memory-kv.ts";

interface Recorder extends WatchHandlers {
  events: WatchEvent[];
  revisions: number[];
  compacted: number[];
  connected: number;
  disconnected: number;
}

function recorder(): Recorder {
  const record: Recorder = {
    events: [],
    revisions: [],
    compacted: [],
    connected: 0,
    disconnected: 0,
    onEvents(events, revision) {
      record.events.push(...events);
      record.revisions.push(revision);
    },
    onCompacted(revision) {
      record.compacted.push(revision);
    },
    onConnected() {
      record.connected++;
    },
    onDisconnected() {
      record.disconnected++;
    },
  };
  return record;
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

describe("store: memory backend", () => {
  it("numbers revisions like etcd: one per changing write, none for a no-op txn", async () => {
    const kv = createMemoryBackend();
    expect(kv.revision).to.equal(0);
    await kv.put("/a/1", "x");
    await kv.put("/a/1", "x");
    expect(kv.revision).to.equal(2);
    const noop = await kv.txn([], [{ type: "delete", key: "/a/missing" }]);
    expect(noop).to.deep.equal({ succeeded: true, revision: 2 });
    const both = await kv.txn(
      [],
      [
        { type: "put", key: "/a/2", value: "y" },
        { type: "delete", key: "/a/1" },
      ],
    );
    expect(both.revision).to.equal(3);
    expect(kv.get("/a/2")?.modRevision).to.equal(3);
    expect(kv.get("/a/1")).to.equal(undefined);
  });

  it("ranges by prefix in key order with mod revisions", async () => {
    const kv = createMemoryBackend();
    await kv.put("/p/b", "2");
    await kv.put("/p/a", "1");
    await kv.put("/q/a", "3");
    const result = await kv.range("/p/");
    expect(result.revision).to.equal(3);
    expect(result.kvs).to.deep.equal([
      { key: "/p/a", value: "1", modRevision: 2 },
      { key: "/p/b", value: "2", modRevision: 1 },
    ]);
  });

  it("applies a txn only when every compared mod revision holds (0: absent)", async () => {
    const kv = createMemoryBackend();
    await kv.put("/k", "v1");
    const stale = await kv.txn([{ key: "/k", modRevision: 0 }], [{ type: "put", key: "/k", value: "v2" }]);
    expect(stale.succeeded).to.equal(false);
    expect(kv.get("/k")?.value).to.equal("v1");
    const fresh = await kv.txn(
      [
        { key: "/k", modRevision: 1 },
        { key: "/new", modRevision: 0 },
      ],
      [
        { type: "put", key: "/k", value: "v2" },
        { type: "put", key: "/new", value: "n" },
      ],
    );
    expect(fresh.succeeded).to.equal(true);
    expect(kv.get("/k")?.value).to.equal("v2");
  });

  it("rejects txns over the op limit and with duplicate keys, as etcd does", async () => {
    const kv = createMemoryBackend({ maxTxnOps: 2 });
    const three = ["/a", "/b", "/c"].map((key) => ({ type: "put" as const, key, value: "v" }));
    let error: unknown;
    await kv.txn([], three).catch((err: unknown) => {
      error = err;
    });
    expect(String(error)).to.match(/too many operations/);
    error = undefined;
    await kv
      .txn(
        [],
        [
          { type: "put", key: "/a", value: "1" },
          { type: "delete", key: "/a" },
        ],
      )
      .catch((err: unknown) => {
        error = err;
      });
    expect(String(error)).to.match(/duplicate key/);
    expect(kv.revision).to.equal(0);
  });

  it("watches replay history from the start revision, then follow live writes under the prefix only", async () => {
    const kv = createMemoryBackend();
    await kv.put("/w/a", "1");
    await kv.put("/w/b", "2");
    await kv.put("/other", "x");
    const seen = recorder();
    await kv.watch("/w/", 2, seen);
    await tick();
    expect(seen.connected).to.equal(1);
    expect(seen.events).to.deep.equal([{ type: "put", key: "/w/b", value: "2", modRevision: 2 }]);
    await kv.delete("/w/a");
    await kv.put("/other", "y");
    await tick();
    expect(seen.events.slice(1)).to.deep.equal([{ type: "delete", key: "/w/a", modRevision: 4 }]);
    expect(seen.revisions).to.deep.equal([2, 4]);
  });

  it("reports compaction to a watch that starts or falls behind the compacted revision", async () => {
    const kv = createMemoryBackend();
    await kv.put("/w/a", "1");
    await kv.put("/w/a", "2");
    kv.compact();
    const behind = recorder();
    await kv.watch("/w/", 1, behind);
    await tick();
    expect(behind.compacted).to.deep.equal([2]);
    expect(behind.events).to.deep.equal([]);

    const current = recorder();
    await kv.watch("/w/", 3, current);
    await tick();
    kv.setAvailable(false);
    await kv.put("/w/b", "x").catch(() => undefined);
    kv.setAvailable(true);
    await kv.put("/w/b", "1");
    await tick();
    expect(current.compacted).to.deep.equal([]);
    expect(current.events.map((event) => event.key)).to.deep.equal(["/w/b"]);
  });

  it("when unavailable: calls fail, watches are disconnected, then resume without losing events", async () => {
    const kv = createMemoryBackend();
    const seen = recorder();
    await kv.watch("/w/", 1, seen);
    await tick();
    kv.setAvailable(false);
    expect(seen.disconnected).to.equal(1);
    let error: unknown;
    await kv.range("/w/").catch((err: unknown) => {
      error = err;
    });
    expect(String(error)).to.match(/unavailable/);
    kv.setAvailable(true);
    expect(seen.connected).to.equal(2);
    await kv.put("/w/a", "1");
    await tick();
    expect(seen.events).to.have.length(1);
  });

  it("elects the first candidate and the next one when the leader resigns", async () => {
    const kv = createMemoryBackend();
    const first = kv.campaign("e", "one", 5);
    const second = kv.campaign("e", "two", 5);
    await first.elected;
    expect(first.isLeader()).to.equal(true);
    expect(second.isLeader()).to.equal(false);
    await first.resign();
    await second.elected;
    expect(second.isLeader()).to.equal(true);
    expect(first.isLeader()).to.equal(false);
    const lost: Error[] = [];
    second.onLost((reason) => lost.push(reason));
    await kv.close();
    expect(second.isLeader()).to.equal(false);
    expect(lost).to.have.length(1);
  });

  it("fences writes with the leader's election key, without taking revisions", async () => {
    const kv = createMemoryBackend();
    const first = kv.campaign("e", "one", 5);
    const second = kv.campaign("e", "two", 5);
    await first.elected;
    const fence = first.fence();
    expect(fence).to.not.equal(undefined);
    expect(second.fence()).to.equal(undefined);
    expect(kv.revision).to.equal(0);
    if (fence === undefined) return;
    expect((await kv.txn([fence], [{ type: "put", key: "/k", value: "1" }])).succeeded).to.equal(true);
    await first.resign();
    await second.elected;
    expect(first.fence()).to.equal(undefined);
    expect(second.fence()).to.not.deep.equal(fence);
    expect((await kv.txn([fence], [{ type: "put", key: "/k", value: "2" }])).succeeded).to.equal(false);
    expect(kv.get("/k")?.value).to.equal("1");
    expect(kv.revision).to.equal(1);
  });
});
