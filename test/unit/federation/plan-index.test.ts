// plan()'s output read back through the DNS side's RecordIndex: each name answers exactly its own records.
import { expect } from "chai";
import { plan } from "../../../src/federation/plan.ts";
import { RecordIndex } from "../../../src/records/index.ts";
import { encodeService, type SkydnsService } from "../../../src/records/service.ts";
import { federation, OPTIONS, svc, zonal } from "./fixtures.ts";

const GLOBAL = "nginx.default.myfed.svc.example.com";
const HTTP = { name: "http", protocol: "TCP", port: 80 };

function indexOf(records: Map<string, SkydnsService>): RecordIndex {
  const index = new RecordIndex({ prefix: OPTIONS.prefix });
  const result = index.apply(
    [...records].map(([key, value], i) => ({
      type: "put" as const,
      key,
      value: encodeService(value),
      revision: i + 1,
    })),
  );
  expect(result.rejected).to.deep.equal([]);
  return index;
}

describe("federation plan() read through RecordIndex", () => {
  const state = federation(
    zonal("c1", "foozone", "fooregion", [
      svc({ ips: ["198.51.100.1", "2001:db8::1"], ports: [HTTP, { name: "dns", protocol: "UDP", port: 53 }] }),
    ]),
    zonal("c2", "barzone", "barregion", [svc({ ips: ["198.51.100.2"], endpoints: [], ports: [HTTP] })]),
    zonal("c3", "bazzone", "fooregion", [svc({ ips: ["198.51.100.3"], ports: [{ ...HTTP, port: 8080 }] })]),
  );
  const records = plan(state, OPTIONS).services.get("default/nginx")!;
  const index = indexOf(records);

  it("answers every name with exactly the records plan() gave that name", () => {
    const groups = new Set([...records.values()].map((record) => record.group!));
    expect(groups.size).to.be.greaterThan(10);
    for (const group of groups) {
      const expected = [...records].filter(([, value]) => value.group === group).map(([key]) => key);
      const found = index.lookup(group)?.map((record) => record.key);
      expect(found, group).to.deep.equal(expected.sort());
    }
  });

  it("the global A/AAAA answer excludes the SRV leaves below it", () => {
    const found = index.lookup(GLOBAL)!;
    expect(found.map((record) => `${record.host.kind} ${record.service.host}`).sort()).to.deep.equal([
      "A 198.51.100.1",
      "A 198.51.100.3",
      "AAAA 2001:db8::1",
    ]);
  });

  it("a region without healthy shards answers its CNAME alone, though SRV names lie below it", () => {
    const found = index.lookup(`nginx.default.myfed.svc.barregion.example.com`)!;
    expect(found.map((record) => [record.host.kind, record.service.host])).to.deep.equal([["CNAME", GLOBAL]]);
    expect(
      index.lookup(`_http._tcp.nginx.default.myfed.svc.barregion.example.com`)!.map((r) => r.service.host),
    ).to.deep.equal([GLOBAL, GLOBAL]);
  });

  it("SRV names answer one record per port with a target that holds addresses", () => {
    const found = index.lookup(`_http._tcp.nginx.default.myfed.svc.fooregion.example.com`)!;
    expect(found.map((record) => `${record.service.port} ${record.service.host}`)).to.deep.equal([
      "80 nginx.default.myfed.svc.fooregion.example.com",
      "8080 nginx.default.myfed.svc.fooregion.example.com",
    ]);
    const zone = index.lookup(`_http._tcp.nginx.default.myfed.svc.foozone.fooregion.example.com`)!;
    expect(zone.map((record) => `${record.service.port} ${record.service.host}`)).to.deep.equal([
      "80 nginx.default.myfed.svc.foozone.fooregion.example.com",
    ]);
  });

  it("a zone without healthy shards is a CNAME to its region", () => {
    const found = index.lookup(`nginx.default.myfed.svc.barzone.barregion.example.com`)!;
    expect(found.map((record) => record.service.host)).to.deep.equal(["nginx.default.myfed.svc.barregion.example.com"]);
  });
});
