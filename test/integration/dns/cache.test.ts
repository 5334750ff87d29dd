// The response cache under etcd changes, seen from outside: `fedns serve` over a real etcd, asked
// with dig, cache hits counted from /metrics. A change to an unrelated name keeps a cached answer
// (a hit, not a recomputation); a change to a name the answer was read from (the name itself, an SRV
// target) shows in the very first answer after the change has been applied.
import { expect } from "chai";
import { dig } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { eventually, type ServeProcess, startServe } from "../../support/fedns.ts";

const WEB = "web.default.myfed.svc.example.com";
const WEB_KEY = "/skydns/com/example/svc/myfed/default/web";
const SRV = "_http._tcp.api.example.com";
const SRV_KEY = "/skydns/com/example/api/_tcp/_http";
const TARGET = "backend.example.com";
const TARGET_KEY = "/skydns/com/example/backend";

async function cacheLookups(serve: ServeProcess): Promise<{ hit: number; miss: number; stale: number }> {
  const text = await (await fetch(`${serve.metrics}/metrics`)).text();
  const count = (result: string) =>
    Number(new RegExp(`fedns_dns_cache_lookups_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { hit: count("hit"), miss: count("miss"), stale: count("stale") };
}

describe("fedns serve: per-name cache invalidation (real etcd, dig)", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let serve: ServeProcess;
  let marker = 0;

  /** Puts a fresh marker name and waits until serve answers it: every earlier etcd change is applied then. */
  async function settled(): Promise<void> {
    const name = `marker${++marker}.example.com`;
    await etcd.etcdctl(["put", `/skydns/com/example/marker${marker}`, JSON.stringify({ host: "192.0.2.1" })]);
    await eventually(`${name} answered`, async () => {
      expect((await dig(serve.dns, name, "A")).status).to.equal("NOERROR");
    });
  }

  before(async () => {
    etcd = await startEtcd();
    serve = await startServe({ etcd: etcd.endpoint, zones: ["example.com"] });
    await etcd.etcdctl(["put", `${WEB_KEY}/a`, JSON.stringify({ host: "198.51.100.1", ttl: 30 })]);
    await etcd.etcdctl(["put", `${SRV_KEY}/a`, JSON.stringify({ host: TARGET, port: 8080 })]);
    await etcd.etcdctl(["put", `${TARGET_KEY}/a`, JSON.stringify({ host: "198.51.100.10" })]);
    await settled();
  });

  after(async () => {
    await serve?.stop();
    await etcd?.destroy();
  });

  it("keeps a cached answer across a change to another name, and shows a change to its own name at once", async () => {
    const first = await dig(serve.dns, WEB, "A");
    expect(first.answer.map((rr) => rr.data)).to.deep.equal(["198.51.100.1"]);
    await settled();
    const before = await cacheLookups(serve);
    const again = await dig(serve.dns, WEB, "A");
    expect(again.answer.map((rr) => rr.data)).to.deep.equal(["198.51.100.1"]);
    const after = await cacheLookups(serve);
    expect(after.hit, "served from the cache after an unrelated change").to.equal(before.hit + 1);
    expect(after.stale).to.equal(before.stale);

    await etcd.etcdctl(["put", `${WEB_KEY}/a`, JSON.stringify({ host: "198.51.100.2", ttl: 30 })]);
    await settled();
    const changed = await cacheLookups(serve);
    const fresh = await dig(serve.dns, WEB, "A");
    expect(fresh.answer.map((rr) => rr.data)).to.deep.equal(["198.51.100.2"]);
    const afterChange = await cacheLookups(serve);
    expect(afterChange.stale, "the cached answer was dropped, not served").to.equal(changed.stale + 1);
    expect(afterChange.hit).to.equal(changed.hit);
  });

  it("drops a cached SRV answer when its target's addresses change, and keeps it otherwise", async () => {
    const glue = async () => (await dig(serve.dns, SRV, "SRV")).additional.map((rr) => rr.data).sort();
    expect(await glue()).to.deep.equal(["198.51.100.10"]);
    await settled();
    const before = await cacheLookups(serve);
    expect(await glue()).to.deep.equal(["198.51.100.10"]);
    expect((await cacheLookups(serve)).hit).to.equal(before.hit + 1);

    await etcd.etcdctl(["put", `${TARGET_KEY}/b`, JSON.stringify({ host: "198.51.100.11" })]);
    await settled();
    expect(await glue()).to.deep.equal(["198.51.100.10", "198.51.100.11"]);
  });

  it("answers NXDOMAIN from the cache while the zone changes, with the zone's current SOA serial", async () => {
    const missing = "missing.default.myfed.svc.example.com";
    const serialOf = (result: Awaited<ReturnType<typeof dig>>) => Number(result.authority[0]?.data.split(" ")[2]);
    const first = await dig(serve.dns, missing, "A");
    expect(first.status).to.equal("NXDOMAIN");
    await settled();
    const before = await cacheLookups(serve);
    const second = await dig(serve.dns, missing, "A");
    expect(second.status).to.equal("NXDOMAIN");
    expect((await cacheLookups(serve)).hit).to.equal(before.hit + 1);
    expect(serialOf(second)).to.be.greaterThan(serialOf(first));
    const soa = await dig(serve.dns, "example.com", "SOA");
    expect(serialOf(second)).to.equal(Number(soa.answer[0]?.data.split(" ")[2]));

    await etcd.etcdctl([
      "put",
      "/skydns/com/example/svc/myfed/default/missing/a",
      JSON.stringify({ host: "192.0.2.7" }),
    ]);
    await settled();
    expect((await dig(serve.dns, missing, "A")).answer.map((rr) => rr.data)).to.deep.equal(["192.0.2.7"]);
  });
});
