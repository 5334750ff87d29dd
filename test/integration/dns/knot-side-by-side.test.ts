// Side by side with Knot DNS: the records a simulated federation's controller writes (plan() and
// the key layout, test/support/controller-records.ts) plus other writers' data, put into real etcd
// and served by `fedns serve`, and the same keys turned into a zone file served by knotd. Both get
// the same questions (every name, its empty non-terminals, per-address key names, names that do not
// exist; every common type) and must agree on rcode, AA, answer RRsets (order aside) and whether the
// authority section holds the SOA.
import { expect } from "chai";
import { nameOfKey } from "../../../src/records/name.ts";
import { controllerRecords, GLOBAL } from "../../support/controller-records.ts";
import { type DigRecord, type DigResult, kdig, kdigMany } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { eventually, type ServeProcess, startServe } from "../../support/fedns.ts";
import { type Knot, startKnot } from "../../support/knot.ts";
import { zoneFileOf } from "../../support/zone-file.ts";

const ZONE = "example.com";
const BARZONE = "nginx.default.myfed.svc.barzone.barregion.example.com";
/** Other writers' data beside the controller's (CoreDNS-style keys, each at its own name). */
const OTHERS = new Map([
  ["/skydns/com/example/dns/ns/ns1", JSON.stringify({ host: "192.0.2.53", ttl: 60 })],
  ["/skydns/com/example/dangling", JSON.stringify({ host: "gone.example.com", ttl: 30 })],
  ["/skydns/com/example/alias", JSON.stringify({ host: BARZONE, ttl: 40 })],
  ["/skydns/com/example/external", JSON.stringify({ host: "www.example.org", ttl: 50 })],
  ["/skydns/com/example/info", JSON.stringify({ host: "", text: "v=spf1 -all", ttl: 60 })],
  ["/skydns/com/example/web-txt", JSON.stringify({ host: "web.example.com", text: "v=1" })],
]);
const KEYS = new Map([...controllerRecords(), ...OTHERS]);
const TYPES = ["A", "AAAA", "CNAME", "TXT", "SRV", "MX", "NS", "SOA", "PTR", "TYPE65"];
/**
 * Names another writer's records make answer beyond their own (CoreDNS's subtree reading): `dns.<zone>`
 * answers the address of `ns1.ns.dns.<zone>` from CoreDNS and fedns, a zone file has nothing there.
 */
const SUBTREE_READ = new Set([`dns.${ZONE}`, `ns.dns.${ZONE}`]);
/**
 * Questions where the CoreDNS reading of another writer's record makes more than a zone file holds:
 * an address record also answers SRV (port 0, target its own name; plugin/backend_lookup.go SRV).
 */
const COREDNS_ONLY = new Set([`ns1.ns.dns.${ZONE} SRV`]);

/** Every name the data makes: record names, key names, the empty non-terminals between them and the apex. */
function questionNames(): string[] {
  const names = new Set<string>();
  const addWithAncestors = (name: string): void => {
    for (let current = name; current.endsWith(ZONE); current = current.slice(current.indexOf(".") + 1)) {
      names.add(current);
      if (current === ZONE) break;
    }
  };
  for (const [key, value] of KEYS) {
    const keyName = nameOfKey("/skydns", key);
    if (keyName === undefined) throw new Error(key);
    addWithAncestors(keyName);
    const group = (JSON.parse(value) as { group?: string }).group;
    if (group !== undefined) addWithAncestors(group);
  }
  for (const missing of [
    `nosuch.${ZONE}`,
    `nosuch.${GLOBAL}`,
    `_https._tcp.${GLOBAL}`,
    "nginx.default.myfed.svc.nozone.fooregion.example.com",
    "other.default.myfed.svc.example.com",
    `deeper.dangling.${ZONE}`,
  ]) {
    names.add(missing);
  }
  for (const name of SUBTREE_READ) names.delete(name);
  return [...names].sort();
}

interface Comparable {
  rcode: string;
  aa: boolean;
  answer: string[];
  soaInAuthority: boolean;
}

function rr(record: DigRecord): string {
  let data = record.data.toLowerCase();
  // The serial is each server's own; the rest of the SOA must agree.
  if (record.type === "SOA")
    data = data
      .split(" ")
      .filter((_, position) => position !== 2)
      .join(" ");
  return `${record.name.toLowerCase()} ${record.ttl} ${record.type} ${data}`;
}

function comparable(result: DigResult): Comparable {
  return {
    rcode: result.status,
    aa: result.flags.includes("aa"),
    answer: result.answer.map(rr).sort(),
    soaInAuthority: result.authority.some((record) => record.type === "SOA"),
  };
}

function summary(c: Comparable): string {
  return `${c.rcode}${c.aa ? " aa" : ""}${c.soaInAuthority ? " soa" : ""} [${c.answer.join("; ")}]`;
}

/** Runs `work` over `items` with at most `width` in flight. */
async function pool<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: width }, async () => {
    while (next < items.length) {
      const position = next++;
      results[position] = await work(items[position] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

describe("fedns serve and Knot DNS side by side on the controller's records", function () {
  this.timeout(180_000);
  let etcd: EtcdProcess;
  let serve: ServeProcess;
  let knot: Knot;
  const zoneFile = zoneFileOf(KEYS, { zone: ZONE });

  before(async () => {
    etcd = await startEtcd();
    serve = await startServe({ etcd: etcd.endpoint, zones: [ZONE] });
    knot = await startKnot({ zone: ZONE, zoneFile });
    for (const [key, value] of KEYS) await etcd.etcdctl(["put", key, value]);
    await eventually(
      "records served",
      async () => {
        expect((await kdig(serve.dns, "info.example.com", "TXT")).answer).to.have.length(1);
      },
      10_000,
    );
  });

  after(async () => {
    await knot?.stop();
    await serve?.stop();
    await etcd?.destroy();
  });

  it("gives the same rcode, AA, answer RRsets and negative SOA for every name and type", async () => {
    const questions = questionNames()
      .flatMap((name) => TYPES.map((type) => ({ name, type })))
      .filter(({ name, type }) => !COREDNS_ONLY.has(`${name} ${type}`));
    // Batches of questions, one kdig run per batch and server.
    const batches: (typeof questions)[] = [];
    for (let at = 0; at < questions.length; at += 40) batches.push(questions.slice(at, at + 40));
    const compared = (
      await pool(batches, 2, async (batch) => {
        const [ours, theirs] = await Promise.all([kdigMany(serve.dns, batch), kdigMany(knot.dns, batch)]);
        return batch.map(({ name, type }, position) => ({
          name,
          type,
          ours: comparable(ours[position]!),
          theirs: comparable(theirs[position]!),
        }));
      })
    ).flat();
    const differences = compared
      .filter((entry) => JSON.stringify(entry.ours) !== JSON.stringify(entry.theirs))
      .map((entry) => `${entry.name} ${entry.type}: fedns ${summary(entry.ours)} | knot ${summary(entry.theirs)}`);
    expect(differences, `zone file:\n${zoneFile}`).to.deep.equal([]);

    // The comparison covered every kind of answer, not just agreement on emptiness.
    const seen = (predicate: (entry: Comparable) => boolean): number =>
      compared.filter((entry) => predicate(entry.theirs)).length;
    expect(
      seen((c) => c.rcode === "NXDOMAIN"),
      "NXDOMAIN answers",
    ).to.be.greaterThan(10);
    expect(
      seen((c) => c.rcode === "NOERROR" && c.answer.length === 0 && c.soaInAuthority),
      "NODATA",
    ).to.be.greaterThan(10);
    for (const type of ["A", "AAAA", "SRV", "TXT", "CNAME", "NS", "SOA"]) {
      expect(
        seen((c) => c.answer.some((line) => line.split(" ")[2] === type)),
        `answers holding ${type}`,
      ).to.be.greaterThan(0);
    }
    // A fallback level asked for A: the CNAME chain and the global addresses.
    const chain = compared.find((entry) => entry.name === BARZONE && entry.type === "A");
    expect(chain?.ours.answer.filter((line) => line.includes(" CNAME "))).to.have.length(2);
    expect(chain?.ours.answer.filter((line) => line.includes(" A "))).to.have.length(2);
  });
});
