// Serial markers on a real etcd: the writer moves the federation domain's marker in every txn that deletes, and
// a DNS server's record source takes it into the zone's serial, so that a zone whose last change was a delete
// has the same serial on a replica running through the delete and on one (re)started after it.
import { expect } from "chai";
import { checkDnsIdentity } from "../../../src/cli/check/dns-identity.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { zoneSerial } from "../../../src/dns/records.ts";
import { serialMarkerKey, serialMarkerValue } from "../../../src/federation/keys.ts";
import { configureLogging } from "../../../src/obs/log.ts";
import { newRegistry, type Registry } from "../../../src/obs/metrics.ts";
import { LiveIndex } from "../../../src/records/live-index.ts";
import type { SkydnsService } from "../../../src/records/service.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { type RecordSource, startRecordSource } from "../../../src/store/source.ts";
import { RecordWriter } from "../../../src/store/writer.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { type EtcdUser, enableEtcdAuth } from "../../support/etcd-auth.ts";

const OWNER = "fedns/myfed";

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function key(domain: string, service: string, leaf: string): string {
  return `/skydns/${domain.split(".").reverse().join("/")}/svc/myfed/default/${service}/${leaf}`;
}

function unit(domain: string, service: string, hosts: string[]): Map<string, SkydnsService> {
  return new Map(
    hosts.map((host, i) => [
      key(domain, service, `c-${i}`),
      { host, ttl: 30, owner: OWNER, cluster: "c", group: `${service}.default.myfed.svc.${domain}` },
    ]),
  );
}

async function metric(registry: Registry, name: string): Promise<number> {
  const text = await registry.metrics();
  const line = text.split("\n").find((entry) => entry.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

describe("store: serial markers (a delete's revision survives a restart)", function () {
  this.timeout(30_000);
  let etcd: EtcdProcess;
  let backend: KvBackend;
  const sources: RecordSource[] = [];

  before(async () => {
    configureLogging("silent");
    etcd = await startEtcd();
    backend = createEtcdBackend({ endpoints: [etcd.endpoint] });
  });
  afterEach(async () => {
    for (const source of sources.splice(0)) await source.stop();
  });
  after(async () => {
    await backend?.close();
    await etcd?.destroy();
  });

  async function replica(registry?: Registry): Promise<LiveIndex> {
    const index = new LiveIndex({ prefix: "/skydns" });
    const source = startRecordSource({ backend, prefix: "/skydns", index, ...(registry ? { registry } : {}) });
    sources.push(source);
    await source.loaded;
    return index;
  }

  function writer(domain: string): RecordWriter {
    return new RecordWriter({
      backend,
      prefix: "/skydns",
      owner: OWNER,
      serialMarker: { key: serialMarkerKey(domain), value: serialMarkerValue(OWNER) },
    });
  }

  it("puts the marker in every txn that deletes, at that txn's revision, and in no other", async () => {
    const domain = "one.example.com";
    const write = writer(domain);
    await write.writeUnit("default/web", unit(domain, "web", ["198.51.100.1", "198.51.100.2"]));
    expect(await etcd.etcdctl(["get", serialMarkerKey(domain)])).to.equal("");
    await write.writeUnit("default/web", unit(domain, "web", ["198.51.100.1"]));
    const deletedAt = await etcd.revision();
    const marker = JSON.parse(await etcd.etcdctl(["get", "-w", "json", serialMarkerKey(domain)])) as {
      kvs: { mod_revision: number; value: string }[];
    };
    expect(marker.kvs[0]!.mod_revision).to.equal(deletedAt);
    expect(JSON.parse(Buffer.from(marker.kvs[0]!.value, "base64").toString())).to.deep.equal({ owner: OWNER });
    // A put-only txn leaves it where it was.
    await write.writeUnit("default/web", unit(domain, "web", ["198.51.100.3"]));
    const after = JSON.parse(await etcd.etcdctl(["get", "-w", "json", serialMarkerKey(domain)])) as {
      kvs: { mod_revision: number }[];
    };
    expect(after.kvs[0]!.mod_revision).to.be.below(await etcd.revision());
  });

  it("gives a zone whose last change was a delete the same serial on a replica started after it", async () => {
    const domain = "two.example.com";
    const write = writer(domain);
    await write.writeUnit("default/web", unit(domain, "web", ["198.51.100.1"]));
    await write.writeUnit("default/db", unit(domain, "db", ["198.51.100.9"]));
    const running = await replica();
    const beforeDelete = zoneSerial(running.current, domain);
    await write.deleteUnit("default/db");
    const deletedAt = await etcd.revision();
    await eventually(() => zoneSerial(running.current, domain) === deletedAt, "the running replica to see the delete");
    // A replica (or this one restarted) loading etcd now sees only the remaining records: without the marker
    // its serial would be web's revision, below the one the secondaries already hold.
    const restarted = await replica();
    expect(zoneSerial(restarted.current, domain)).to.equal(deletedAt);
    expect(zoneSerial(restarted.current, domain)).to.be.greaterThan(beforeDelete);
    expect(restarted.current.lastChange(domain)).to.be.below(deletedAt);
    // A later delete moves both again, the same way.
    await write.deleteUnit("default/web");
    const second = await etcd.revision();
    await eventually(
      () => zoneSerial(running.current, domain) === second && zoneSerial(restarted.current, domain) === second,
      "both replicas to follow the second delete",
    );
    const third = await replica();
    expect(zoneSerial(third.current, domain)).to.equal(second);
  });

  it("counts a domain's marker for the zones inside it and the zones holding it, not for others", async () => {
    const domain = "three.example.com";
    const write = writer(domain);
    await write.writeUnit("default/web", unit(domain, "web", ["198.51.100.1", "198.51.100.2"]));
    await write.writeUnit("default/web", unit(domain, "web", ["198.51.100.1"]));
    const deletedAt = await etcd.revision();
    const index = (await replica()).current;
    expect(index.serialMarks(domain)).to.equal(deletedAt);
    expect(index.serialMarks(`eu.${domain}`)).to.equal(deletedAt);
    expect(index.serialMarks("example.com")).to.be.at.least(deletedAt);
    expect(index.serialMarks("other.example.org")).to.equal(0);
  });

  it("skips, logs and counts bad markers; a good one put by hand still counts once the hold is over", async () => {
    await etcd.etcdctl(["put", "/fedns-serial/Bad.Example.COM", "{}"]);
    await etcd.etcdctl(["put", "/fedns-serial/four.example.com", "not json"]);
    await etcd.etcdctl(["put", "/fedns-serial/a/b", "{}"]);
    const registry = newRegistry();
    const index = await replica(registry);
    expect(index.current.serialMarks("four.example.com")).to.equal(0);
    expect(index.current.serialMarks("bad.example.com")).to.equal(0);
    expect(await metric(registry, "fedns_store_bad_serial_markers_total")).to.equal(3);
    await etcd.etcdctl(["put", "/fedns-serial/four.example.com", JSON.stringify({ owner: "operator" })]);
    const at = await etcd.revision();
    // No records event comes with it: applied after the hold (the records watch never reaches its revision).
    await eventually(() => index.current.serialMarks("four.example.com") === at, "the marker", 5000);
    await etcd.etcdctl(["put", "/fedns-serial/four.example.com", JSON.stringify({ owner: 7 })]);
    await eventually(
      async () => (await metric(registry, "fedns_store_bad_serial_markers_total")) === 4,
      "the bad value on the watch to be counted",
    );
    expect(index.current.serialMarks("four.example.com")).to.equal(at);
  });
});

describe("store: serial markers with etcd auth", function () {
  this.timeout(60_000);
  const etcds: EtcdProcess[] = [];
  const closers: (() => Promise<void>)[] = [];

  before(() => configureLogging("silent"));
  after(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    for (const etcd of etcds.splice(0)) await etcd.destroy();
  });

  async function setUp(serialMarkers: boolean) {
    const etcd = await startEtcd();
    etcds.push(etcd);
    const auth = await enableEtcdAuth(etcd, "/skydns", { serialMarkers });
    const as = (user: EtcdUser): KvBackend => {
      const backend = createEtcdBackend({ endpoints: [etcd.endpoint], ...user });
      closers.push(() => backend.close());
      return backend;
    };
    const domain = "auth.example.com";
    const write = new RecordWriter({
      backend: as(auth.controller),
      prefix: "/skydns",
      owner: OWNER,
      serialMarker: { key: serialMarkerKey(domain), value: serialMarkerValue(OWNER) },
    });
    await write.writeUnit("default/web", unit(domain, "web", ["198.51.100.1"]));
    await write.writeUnit("default/db", unit(domain, "db", ["198.51.100.2"]));
    await write.deleteUnit("default/db");
    const deletedAt = Number(
      (
        JSON.parse(await auth.etcdctlAs(auth.root, ["get", "-w", "json", "/nothing"])) as {
          header: { revision: number };
        }
      ).header.revision,
    );
    const index = new LiveIndex({ prefix: "/skydns" });
    const registry = newRegistry();
    const source = startRecordSource({ backend: as(auth.dns), prefix: "/skydns", index, registry });
    closers.push(() => source.stop());
    await source.loaded;
    const config = parseConfig({
      federation: "myfed",
      domain,
      etcd: { endpoints: [etcd.endpoint], prefix: "/skydns" },
      log: { level: "silent" },
    });
    const findings = (await checkDnsIdentity(config, 5000, as(auth.dns))).map((f) => [f.severity, f.code]);
    return { etcd, auth, domain, index, deletedAt, registry, findings };
  }

  it("the controller's role writes the marker and the DNS servers' role reads it", async () => {
    const { domain, index, deletedAt, findings } = await setUp(true);
    expect(zoneSerial(index.current, domain)).to.equal(deletedAt);
    expect(findings).to.deep.equal([["ok", "dns-identity-read-only"]]);
  });

  it("roles granted before markers existed: deletes still go through, serve still loads, serials as without", async () => {
    const { domain, index, deletedAt, auth, findings } = await setUp(false);
    // fedns check says so.
    expect(findings).to.deep.equal([
      ["ok", "dns-identity-read-only"],
      ["warn", "dns-identity-cannot-read-serials"],
    ]);
    const etcdctl = (args: string[]) => auth.etcdctlAs(auth.root, args);
    // The controller could not write the marker: the delete went through without it.
    expect(await etcdctl(["get", "--prefix", "--keys-only", "/skydns/"])).to.not.contain("/db/");
    expect(await etcdctl(["get", "--prefix", "--keys-only", "/fedns-serial/"])).to.equal("");
    expect(index.current.lookup(`web.default.myfed.svc.${domain}`)).to.have.length(1);
    expect(zoneSerial(index.current, domain)).to.be.below(deletedAt);
  });
});
