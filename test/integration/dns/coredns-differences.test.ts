// Every listed difference from the CoreDNS etcd plugin (docs/coredns-differences.md), asked with dig
// of `fedns serve` over real etcd: what fedns answers, where CoreDNS would answer otherwise.
import { expect } from "chai";
import { controllerRecords, GLOBAL } from "../../support/controller-records.ts";
import { type DigResult, dig } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { eventually, type ServeProcess, startServe } from "../../support/fedns.ts";

const DATA: Record<string, object> = {
  "/skydns/com/example/loop-a": { host: "loop-b.example.com" },
  "/skydns/com/example/loop-b": { host: "loop-a.example.com" },
  "/skydns/com/example/hop": { host: "alias.example.com" },
  "/skydns/com/example/alias": { host: "gone.example.com" },
  "/skydns/com/example/mxalias": { host: "mail.example.com" },
  "/skydns/com/example/mail": { host: "mx.example.net", mail: true, priority: 5 },
  "/skydns/com/example/ext": { host: "www.example.org" },
  "/skydns/com/example/mixed/a": { host: "192.0.2.10" },
  "/skydns/com/example/mixed/b": { host: "target.example.com" },
  "/skydns/com/example/target": { host: "192.0.2.11" },
  "/skydns/com/example/web/_tcp/_http": { host: "target.example.com", port: 8080 },
  "/skydns/com/example/srvalias": { host: "_http._tcp.web.example.com" },
  "/skydns/com/example/dns/ns/bad": { host: "ns.example.net" },
  "/skydns/com/example/dns/ns/good": { host: "192.0.2.53" },
};

function lines(result: DigResult): string[] {
  return result.answer.map((record) => `${record.name} ${record.type} ${record.data}`);
}

function hasSoa(result: DigResult): boolean {
  return result.authority.some((record) => record.type === "SOA");
}

describe("differences from the CoreDNS etcd plugin, through dig (real etcd, fedns serve)", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let serve: ServeProcess;
  const ask = (name: string, type: string, tcp = false): Promise<DigResult> => dig(serve.dns, name, type, { tcp });

  before(async () => {
    etcd = await startEtcd();
    serve = await startServe({ etcd: etcd.endpoint, zones: ["example.com"] });
    for (const [key, value] of [
      ...controllerRecords(),
      ...Object.entries(DATA).map(([k, v]): [string, string] => [k, JSON.stringify(v)]),
    ]) {
      await etcd.etcdctl(["put", key, value]);
    }
    await eventually(
      "records served",
      async () => expect(lines(await ask("target.example.com", "A"))).to.have.length(1),
      10_000,
    );
  });

  after(async () => {
    await serve?.stop();
    await etcd?.destroy();
  });

  it("1. a CNAME loop answers the chain once round, NOERROR, no SOA", async () => {
    const result = await ask("loop-a.example.com", "A");
    expect(result.status).to.equal("NOERROR");
    expect(lines(result)).to.deep.equal([
      "loop-a.example.com. CNAME loop-b.example.com.",
      "loop-b.example.com. CNAME loop-a.example.com.",
    ]);
    expect(hasSoa(result)).to.equal(false);
  });

  it("2. a chain ending in a missing name keeps its CNAMEs and ends NXDOMAIN with the SOA", async () => {
    const result = await ask("hop.example.com", "A");
    expect([result.status, hasSoa(result)]).to.deep.equal(["NXDOMAIN", true]);
    expect(lines(result)).to.deep.equal([
      "hop.example.com. CNAME alias.example.com.",
      "alias.example.com. CNAME gone.example.com.",
    ]);
  });

  it("3. MX, HTTPS, CAA and unknown types at an alias get the CNAME and the target's data", async () => {
    expect(lines(await ask("mxalias.example.com", "MX"))).to.deep.equal([
      "mxalias.example.com. CNAME mail.example.com.",
      "mail.example.com. MX 5 mx.example.net.",
    ]);
    for (const type of ["HTTPS", "CAA", "TYPE65000"]) {
      const result = await ask("mxalias.example.com", type);
      expect([result.status, lines(result)], type).to.deep.equal([
        "NOERROR",
        ["mxalias.example.com. CNAME mail.example.com."],
      ]);
      expect(hasSoa(result), type).to.equal(true);
    }
  });

  it("4. an out-of-zone target is answered as the CNAME alone (no upstream lookup)", async () => {
    const result = await ask("ext.example.com", "A");
    expect([result.status, lines(result)]).to.deep.equal(["NOERROR", ["ext.example.com. CNAME www.example.org."]]);
  });

  it("5. a CNAME beside other data at a name is not served", async () => {
    const result = await ask("mixed.example.com", "A");
    expect(lines(result)).to.deep.equal(["mixed.example.com. A 192.0.2.10"]);
  });

  it("6. the apex answers SOA and NS only: no aggregate of the zone", async () => {
    for (const type of ["A", "AAAA", "TXT"]) {
      const result = await ask("example.com", type);
      expect([result.status, lines(result), hasSoa(result)], type).to.deep.equal(["NOERROR", [], true]);
    }
    const any = await ask("example.com", "ANY", true);
    expect(any.answer.map((record) => record.type).sort()).to.deep.equal(["NS", "SOA"]);
  });

  it("7. a name host with a port at an _x._proto name answers SRV only", async () => {
    expect(lines(await ask("_http._tcp.web.example.com", "SRV"))).to.deep.equal([
      "_http._tcp.web.example.com. SRV 10 100 8080 target.example.com.",
    ]);
    for (const type of ["A", "AAAA", "TXT"]) {
      const result = await ask("_http._tcp.web.example.com", type);
      expect([result.status, lines(result), hasSoa(result)], type).to.deep.equal(["NOERROR", [], true]);
    }
  });

  it("8. a name host without a port asked for SRV is a CNAME, followed to the real SRV", async () => {
    expect(lines(await ask("srvalias.example.com", "SRV"))).to.deep.equal([
      "srvalias.example.com. CNAME _http._tcp.web.example.com.",
      "_http._tcp.web.example.com. SRV 10 100 8080 target.example.com.",
    ]);
  });

  it("9. fedns's own records: empty non-terminals hold nothing, per-address keys are no names", async () => {
    const ent = await ask("default.myfed.svc.example.com", "A");
    expect([ent.status, lines(ent)]).to.deep.equal(["NOERROR", []]);
    const leaf = [...controllerRecords().keys()].find((key) =>
      key.startsWith("/skydns/com/example/svc/myfed/default/nginx/c1-"),
    );
    const leafName = `${leaf?.split("/").pop()}.${GLOBAL}`;
    const result = await ask(leafName, "A");
    expect([result.status, lines(result), hasSoa(result)]).to.deep.equal(["NXDOMAIN", [], true]);
  });

  it("10. an ns.dns key with a name host is skipped; NS still answers from the others", async () => {
    const result = await ask("example.com", "NS");
    expect([result.status, lines(result)]).to.deep.equal(["NOERROR", ["example.com. NS good.ns.dns.example.com."]]);
  });

  it("11. ANY over UDP gets RFC 8482's HINFO", async () => {
    const result = await ask("target.example.com", "ANY");
    expect(lines(result)).to.deep.equal(['target.example.com. HINFO "RFC8482" ""']);
  });
});
