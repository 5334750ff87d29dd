// Records exactly as the controller writes them, served by `fedns serve` over real etcd and asked
// through real unbound: stub zone and forward zone, QNAME minimisation on (unbound's default), cold
// and warm cache. SRV of every level keeps its real port, CNAME fallbacks hold for every type, a
// dangling chain ends in NXDOMAIN, and PTR answers from a configured reverse zone.
import { expect } from "chai";
import { decodeService } from "../../../src/records/service.ts";
import { controllerRecords, FALLBACKS, GLOBAL, LEVELS } from "../../support/controller-records.ts";
import { type DigResult, dig } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { eventually, type ServeProcess, startServe } from "../../support/fedns.ts";
import { describeEachUdpTransport } from "../../support/udp-transports.ts";
import { startUnbound, type Unbound, type UnboundOptions } from "../../support/unbound.ts";

const REVERSE_ZONE = "100.51.198.in-addr.arpa";
const PTR_NAME = `1.${REVERSE_ZONE}`;
const DANGLING = "dangling.example.com";
const records = controllerRecords();
/** Other writers' data beside the controller's: a dangling alias and a PTR. */
const extra = new Map([
  ["/skydns/com/example/dangling", JSON.stringify({ host: "gone.example.com", ttl: 30 })],
  ["/skydns/arpa/in-addr/198/51/100/1", JSON.stringify({ host: GLOBAL, ttl: 30 })],
]);

/** The SRV names plan() wrote, with the ports and targets their records hold. */
function srvExpectations(): Map<string, string[]> {
  const expected = new Map<string, string[]>();
  for (const value of records.values()) {
    const service = JSON.parse(value) as { group: string; port?: number; host: string };
    if (service.port === undefined) continue;
    const list = expected.get(service.group) ?? [];
    list.push(`${service.port} ${service.host}.`);
    expected.set(service.group, list);
  }
  for (const list of expected.values()) list.sort();
  return expected;
}

function portsAndTargets(result: DigResult): string[] {
  return result.answer
    .filter((rr) => rr.type === "SRV")
    .map((rr) => rr.data.split(" ").slice(2).join(" "))
    .sort();
}

const SETUPS: { title: string; options: Partial<UnboundOptions>; warm: boolean }[] = [
  { title: "stub zone, cold cache", options: { mode: "stub", noCache: true }, warm: false },
  { title: "stub zone, warm cache", options: { mode: "stub", noCache: false }, warm: true },
  { title: "forward zone, warm cache", options: { mode: "forward", noCache: false }, warm: true },
];

describeEachUdpTransport("controller records through unbound (real etcd, fedns serve)", function (udpTransport) {
  this.timeout(120_000);
  let etcd: EtcdProcess;
  let serve: ServeProcess;

  before(async () => {
    etcd = await startEtcd();
    serve = await startServe({ udpTransport, etcd: etcd.endpoint, zones: ["example.com", REVERSE_ZONE] });
    for (const [key, value] of [...records, ...extra]) await etcd.etcdctl(["put", key, value]);
    await eventually("records served", async () => {
      expect((await dig(serve.dns, PTR_NAME, "PTR")).answer).to.have.length(1);
    });
  });

  after(async () => {
    await serve?.stop();
    await etcd?.destroy();
  });

  it("uses records as plan() writes them: SRV names at every level, CNAME fallbacks", () => {
    const srv = srvExpectations();
    for (const level of LEVELS) expect(srv.has(`_http._tcp.${level}`), level).to.equal(true);
    for (const value of records.values()) {
      const decoded = decodeService(value);
      expect(decoded.ok).to.equal(true);
    }
  });

  for (const setup of SETUPS) {
    describe(setup.title, () => {
      let unbound: Unbound;
      const ask = (name: string, type: string): Promise<DigResult> =>
        dig({ host: "127.0.0.1", port: unbound.port }, name, type, { extra: ["+rec", "+time=5"] });

      before(async () => {
        unbound = await startUnbound({
          zones: ["example.com", REVERSE_ZONE],
          upstream: serve.dns,
          qnameMinimisation: true,
          ...setup.options,
        });
        if (setup.warm) {
          // What a client asks first primes the cache: addresses at every name, SRV names asked as A.
          for (const name of srvExpectations().keys()) {
            for (const type of ["A", "AAAA", "TXT"]) await ask(name, type);
          }
          for (const level of LEVELS) await ask(level, "A");
        }
      });
      after(async () => {
        await unbound?.stop();
      });

      it("answers SRV of every level with the real ports and targets", async () => {
        for (const [name, expected] of srvExpectations()) {
          const result = await ask(name, "SRV");
          expect(result.status, name).to.equal("NOERROR");
          expect(portsAndTargets(result), name).to.deep.equal(expected);
          for (const port of portsAndTargets(result)) expect(port.startsWith("0 "), name).to.equal(false);
        }
      });

      it("answers NODATA for addresses at SRV names", async () => {
        for (const name of srvExpectations().keys()) {
          const result = await ask(name, "A");
          expect([result.status, result.answer.length], name).to.deep.equal(["NOERROR", 0]);
        }
      });

      it("follows the CNAME of a fallback level for A, AAAA, MX, TXT and HTTPS", async () => {
        const globalA = (await ask(GLOBAL, "A")).answer.map((rr) => rr.data).sort();
        expect(globalA.length).to.be.greaterThan(0);
        for (const name of FALLBACKS) {
          for (const type of ["A", "AAAA", "MX", "TXT", "TYPE65"]) {
            const result = await ask(name, type);
            expect(result.status, `${name} ${type}`).to.equal("NOERROR");
            expect(result.answer[0]?.type, `${name} ${type}`).to.equal("CNAME");
            expect(result.answer[0]?.name, `${name} ${type}`).to.equal(`${name}.`);
            if (type === "A") {
              const addresses = result.answer.filter((rr) => rr.type === "A").map((rr) => rr.data);
              expect(addresses.sort(), name).to.deep.equal(globalA);
            }
          }
        }
      });

      it("ends a dangling chain in NXDOMAIN with the CNAME", async () => {
        for (const type of ["A", "MX", "TYPE65"]) {
          const result = await ask(DANGLING, type);
          expect(result.status, type).to.equal("NXDOMAIN");
          expect(
            result.answer.map((rr) => `${rr.type} ${rr.data}`),
            type,
          ).to.deep.equal(["CNAME gone.example.com."]);
        }
      });

      it("answers PTR from the reverse zone", async () => {
        const result = await ask(PTR_NAME, "PTR");
        expect(result.status).to.equal("NOERROR");
        expect(result.answer.map((rr) => rr.data)).to.deep.equal([`${GLOBAL}.`]);
      });
    });
  }
});
