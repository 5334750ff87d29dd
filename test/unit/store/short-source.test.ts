// The DNS server's short-name data from the store: loaded, followed, bad values skipped and counted, a key limit.
import { expect } from "chai";
import { clientKey, networkBytes, serviceKey } from "../../../src/federation/short-keys.ts";
import { newRegistry } from "../../../src/obs/metrics.ts";
import { createMemoryBackend } from "../../../src/store/memory-kv.ts";
import { startShortSource } from "../../../src/store/short-source.ts";

const PREFIX = "/fedns-short";
const FED = "myfed";
const addr = (text: string) => networkBytes(text)!.bytes;
const network = (cluster: string, net: string, zone = "a") =>
  JSON.stringify({ network: net, source: "node", zone, region: "r", owner: "fedns/myfed", cluster });
const shard = (ip: string) => JSON.stringify({ addresses: [ip], ports: [], owner: "fedns/myfed" });

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("store: short-name source", () => {
  it("loads, follows changes (shards in place, networks rebuilt), skips and counts bad values", async () => {
    const backend = createMemoryBackend();
    await backend.put(clientKey(PREFIX, FED, "east", "127.1.0.0/24"), network("east", "127.1.0.0/24"));
    await backend.put(serviceKey(PREFIX, FED, "east", "default", "web"), shard("10.96.0.1"));
    await backend.put(serviceKey(PREFIX, FED, "east", "default", "bad"), '{"addresses":["not an ip"],"ports":[]}');
    const registry = newRegistry();
    const source = startShortSource({ backend, prefix: PREFIX, federation: FED, registry });
    try {
      await source.loaded;
      const data = source.data()!;
      expect(data.askerOf(addr("127.1.0.9")).asker).to.deep.equal({ cluster: "east", zone: "a", region: "r" });
      expect(data.shardOf("east", "default", "web")?.addresses).to.deep.equal(["10.96.0.1"]);
      expect(data.shardOf("east", "default", "bad")).to.equal(undefined);
      expect(await registry.metrics()).to.match(/fedns_short_bad_values_total 1/);

      await backend.put(serviceKey(PREFIX, FED, "east", "default", "web"), shard("10.96.0.2"));
      await backend.put(clientKey(PREFIX, FED, "west", "127.2.0.0/24"), network("west", "127.2.0.0/24", "b"));
      await until(() => source.data()?.askerOf(addr("127.2.0.1")).asker?.cluster === "west");
      expect(source.data()!.shardOf("east", "default", "web")?.addresses).to.deep.equal(["10.96.0.2"]);
      await backend.txn([], [{ type: "delete", key: serviceKey(PREFIX, FED, "east", "default", "web") }]);
      await until(() => source.data()?.shardOf("east", "default", "web") === undefined);
    } finally {
      await source.stop();
      await backend.close();
    }
  });

  it("keeps at most maxKeys keys: a flood of keys does not grow memory (known keys still change)", async () => {
    const backend = createMemoryBackend();
    for (let i = 0; i < 5; i++)
      await backend.put(serviceKey(PREFIX, FED, "east", "default", `s${i}`), shard(`10.96.0.${i}`));
    const source = startShortSource({ backend, prefix: PREFIX, federation: FED, maxKeys: 3 });
    try {
      await source.loaded;
      const known = [0, 1, 2, 3, 4].filter((i) => source.data()!.shardOf("east", "default", `s${i}`) !== undefined);
      expect(known).to.have.length(3);
      await backend.put(serviceKey(PREFIX, FED, "east", "default", "new"), shard("10.96.1.1"));
      await backend.put(serviceKey(PREFIX, FED, "east", "default", `s${known[0]}`), shard("10.96.2.2"));
      await until(() => source.data()?.shardOf("east", "default", `s${known[0]}`)?.addresses[0] === "10.96.2.2");
      expect(source.data()!.shardOf("east", "default", "new")).to.equal(undefined);
    } finally {
      await source.stop();
      await backend.close();
    }
  });

  it("loads in turns of the serving budget, the previous data answering meanwhile (a guard: fails without it)", async () => {
    const backend = createMemoryBackend();
    const keys = 2000; // one range page: only the budget can make the load yield
    for (let i = 0; i < keys; i++)
      await backend.put(serviceKey(PREFIX, FED, "east", "default", `s${i}`), shard(`10.96.${i >> 8}.${i & 255}`));
    // A work clock that moves 1 ms per look: the 8 ms budget is used every few keys.
    let work = 0;
    const source = startShortSource({ backend, prefix: PREFIX, federation: FED, workClock: () => work++ });
    let turns = 0;
    let counting = true;
    const tick = (): void => {
      turns += 1;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    try {
      await source.loaded;
      counting = false;
      expect(source.data()!.shardOf("east", "default", `s${keys - 1}`)?.addresses).to.deep.equal(["10.96.7.207"]);
      // Two passes over the keys (decode, then build), a yield every ~8 keys each.
      expect(turns).to.be.greaterThan(keys / 8);
    } finally {
      counting = false;
      await source.stop();
      await backend.close();
    }
  });
});
