// Knot (knotd) and NSD as secondaries of `fedns serve` on loopback, with TSIG: the initial AXFR,
// answers equal to fedns's for every name the controller writes (levels, CNAME fallback, AAAA, SRV,
// per-address names, names that do not exist), a controller change in etcd reaching both by NOTIFY
// and IXFR, and the transfer refused without the key.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { stringify } from "yaml";
import { serialMarkerKey, serialMarkerValue, serviceUnitOf } from "../../../src/federation/keys.ts";
import { nameOfKey } from "../../../src/records/name.ts";
import type { SkydnsService } from "../../../src/records/service.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import { RecordWriter } from "../../../src/store/writer.ts";
import { BARZONE, controllerRecords, FOOZONE, GLOBAL } from "../../support/controller-records.ts";
import { type DigResult, kdig, kdigMany } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { eventually, type ServeProcess, startServe } from "../../support/fedns.ts";
import { freePort } from "../../support/ports.ts";
import { type Secondary, startKnotSecondary, startNsdSecondary } from "../../support/secondaries.ts";

const ZONE = "example.com";
const SECRET = Buffer.alloc(32, 3).toString("base64");
const KEY = { name: "xfr-key", algorithm: "hmac-sha256", secret: SECRET };
const TYPES = ["A", "AAAA", "CNAME", "TXT", "SRV", "MX"];

/** Every name the controller's records make (key names, owner names, their ancestors) and some that do not exist. */
function questionNames(records: Map<string, string>): string[] {
  const names = new Set<string>([`nosuch.${ZONE}`, `nosuch.${GLOBAL}`, `_https._tcp.${GLOBAL}`]);
  const add = (name: string): void => {
    for (let current = name; current !== ZONE && current.endsWith(ZONE); ) {
      names.add(current);
      current = current.slice(current.indexOf(".") + 1);
    }
  };
  for (const [key, value] of records) {
    add(nameOfKey("/skydns", key) ?? "");
    const group = (JSON.parse(value) as { group?: string }).group;
    if (group !== undefined) add(group);
  }
  return [...names].sort();
}

function comparable(result: DigResult): string {
  const answer = result.answer
    .map((record) => `${record.name.toLowerCase()} ${record.ttl} ${record.type} ${record.data.toLowerCase()}`)
    .sort();
  const negative = result.authority.some((record) => record.type === "SOA") ? " soa" : "";
  return `${result.status}${result.flags.includes("aa") ? " aa" : ""}${negative} [${answer.join("; ")}]`;
}

/** fedns_dns_transfers_total{kind, result} of the primary. */
async function transfers(serve: ServeProcess, kind: string, result: string): Promise<number> {
  const text = await (await fetch(`${serve.metrics}/metrics`)).text();
  const line = text
    .split("\n")
    .find((row) => row.startsWith(`fedns_dns_transfers_total{kind="${kind}",result="${result}"}`));
  return Number(line?.split(" ").at(-1) ?? "0");
}

async function serialOf(server: { host: string; port: number }): Promise<number> {
  const reply = await kdig(server, ZONE, "SOA");
  return Number(reply.answer[0]?.data.split(" ")[2] ?? "0");
}

describe("Knot and NSD as secondaries of fedns serve (TSIG, NOTIFY, IXFR)", function () {
  this.timeout(120_000);
  let etcd: EtcdProcess;
  let serve: ServeProcess;
  let knot: Secondary;
  let nsd: Secondary;
  let configFile: string;
  const records = controllerRecords();

  before(async () => {
    etcd = await startEtcd();
    for (const [key, value] of records) await etcd.etcdctl(["put", key, value]);
    const dir = await mkdtemp(join(tmpdir(), "fedns-xfr-"));
    const secretFile = join(dir, "xfr-key");
    await writeFile(secretFile, `${SECRET}\n`);
    const knotPort = await freePort();
    let nsdPort = await freePort();
    while (nsdPort === knotPort) nsdPort = await freePort();
    const config = {
      zones: [ZONE],
      dns: {
        nameservers: [{ name: "ns1.example.net" }],
        tsig: { keys: [{ name: "xfr-key", algorithm: "hmac-sha256", secretFile }] },
        transfers: {
          notifyDebounceMs: 200,
          zones: [
            {
              zone: ZONE,
              allow: [{ networks: ["127.0.0.0/8"], key: "xfr-key" }],
              notify: [
                { address: `127.0.0.1:${knotPort}`, key: "xfr-key" },
                { address: `127.0.0.1:${nsdPort}`, key: "xfr-key" },
              ],
            },
          ],
        },
      },
    };
    configFile = join(dir, "fedns.yaml");
    await writeFile(configFile, stringify(config));
    serve = await startServe({ etcd: etcd.endpoint, zones: [ZONE], extra: ["--config", configFile] });
    const options = { zone: ZONE, primary: serve.dns, key: KEY };
    knot = await startKnotSecondary({ ...options, port: knotPort });
    nsd = await startNsdSecondary({ ...options, port: nsdPort });
    const primarySerial = await eventually("primary loaded", async () => {
      const serial = await serialOf(serve.dns);
      expect(serial).to.be.greaterThan(1);
      return serial;
    });
    for (const [name, secondary] of [
      ["knot", knot],
      ["nsd", nsd],
    ] as const) {
      await eventually(
        `${name} transferred the zone`,
        async () => expect(await serialOf(secondary.dns)).to.equal(primarySerial),
        20_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${secondary.output().slice(-3000)}\n${serve.process.output().slice(-2000)}`);
      });
    }
  });

  after(async () => {
    await knot?.stop();
    await nsd?.stop();
    await serve?.stop();
    await etcd?.destroy();
  });

  it("answers every name the controller writes as fedns does", async () => {
    const questions = questionNames(records).flatMap((name) => TYPES.map((type) => ({ name, type })));
    const ours = await kdigMany(serve.dns, questions);
    for (const [name, secondary] of [
      ["knot", knot],
      ["nsd", nsd],
    ] as const) {
      const theirs = await kdigMany(secondary.dns, questions);
      const differences = questions
        .map((question, i) => ({ question, ours: comparable(ours[i]!), theirs: comparable(theirs[i]!) }))
        .filter((entry) => entry.ours !== entry.theirs)
        .map((entry) => `${entry.question.name} ${entry.question.type}: fedns ${entry.ours} | ${name} ${entry.theirs}`);
      expect(differences, name).to.deep.equal([]);
    }
    // The comparison covered real answers: a CNAME fallback chain, AAAA, SRV.
    const at = (name: string, type: string): string =>
      comparable(ours[questions.findIndex((q) => q.name === name && q.type === type)]!);
    expect(at(BARZONE, "A")).to.contain(" CNAME ").and.contain(" A 198.51.100.1");
    expect(at(FOOZONE, "AAAA")).to.contain("2001:db8::1");
    expect(at(`_http._tcp.${GLOBAL}`, "SRV")).to.contain(" SRV ");
  });

  it("a change in etcd reaches both secondaries by NOTIFY and IXFR", async () => {
    const before = await serialOf(serve.dns);
    const key = [...records.keys()].find(
      (candidate) =>
        nameOfKey("/skydns", candidate)?.endsWith(FOOZONE) &&
        JSON.parse(records.get(candidate)!).host === "198.51.100.1",
    );
    expect(key).to.be.a("string");
    const value = { ...JSON.parse(records.get(key!)!), host: "198.51.100.77" };
    await etcd.etcdctl(["put", key!, JSON.stringify(value)]);
    const after = await eventually(
      "primary serial moved",
      async () => {
        const serial = await serialOf(serve.dns);
        expect(serial).to.be.greaterThan(before);
        return serial;
      },
      5000,
    );
    for (const [name, secondary] of [
      ["knot", knot],
      ["nsd", nsd],
    ] as const) {
      // No refresh timer is due for hours (SOA refresh 7200): only NOTIFY brings it this fast.
      await eventually(
        `${name} serves the change`,
        async () => {
          expect(await serialOf(secondary.dns)).to.equal(after);
          const reply = await kdig(secondary.dns, FOOZONE, "A");
          expect(reply.answer.map((record) => record.data)).to.include("198.51.100.77");
        },
        15_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${secondary.output().slice(-3000)}`);
      });
    }
    // Both came by IXFR (the primary counts what it sent): Knot logs it too.
    expect(await transfers(serve, "ixfr", "done")).to.be.at.least(2);
    expect(knot.output()).to.match(/IXFR, incoming/);
  });

  it("a delete by the controller, then fedns serve restarted: the serial stays, the secondaries follow on", async () => {
    // The controller's writer deletes one per-address key of a unit (and moves the domain's serial marker).
    const unitOf = serviceUnitOf("/skydns", "myfed");
    const key = [...records.keys()].find(
      (candidate) =>
        nameOfKey("/skydns", candidate)?.endsWith(FOOZONE) &&
        JSON.parse(records.get(candidate)!).host === "198.51.100.1",
    )!;
    const unit = unitOf(key)!;
    const desired = new Map<string, SkydnsService>();
    for (const [other, value] of records) {
      if (other !== key && unitOf(other) === unit) desired.set(other, JSON.parse(value) as SkydnsService);
    }
    const backend = createEtcdBackend({ endpoints: [etcd.endpoint] });
    const owner = "fedns/myfed";
    const writer = new RecordWriter({
      backend,
      prefix: "/skydns",
      owner,
      serialMarker: { key: serialMarkerKey(ZONE), value: serialMarkerValue(owner) },
    });
    const written = await writer.writeUnit(unit, desired);
    await backend.close();
    expect(written.deletes).to.equal(1);
    const deletedAt = await etcd.revision();
    await eventually("the primary's serial is the delete's", async () =>
      expect(await serialOf(serve.dns)).to.equal(deletedAt),
    );
    for (const secondary of [knot, nsd]) {
      await eventually("the secondary has the delete", async () => {
        expect(await serialOf(secondary.dns)).to.equal(deletedAt);
        const reply = await kdig(secondary.dns, FOOZONE, "A");
        expect(reply.answer.map((record) => record.data)).to.not.include("198.51.100.1");
      });
    }
    // Restarted on the same port (the secondaries' primary): it loads etcd afresh, without the deleted key.
    await serve.stop();
    const port = serve.dns.port;
    serve = await startServe({
      etcd: etcd.endpoint,
      zones: [ZONE],
      extra: ["--config", configFile, "--listen", `127.0.0.1:${port}`],
    });
    serve = { ...serve, dns: { host: "127.0.0.1", port } };
    const restarted = await eventually("the restarted primary answers", async () => {
      const serial = await serialOf(serve.dns);
      expect(serial).to.be.greaterThan(1);
      return serial;
    });
    // Not lower than what the secondaries hold (RFC 1982: they would think they are ahead and never transfer).
    expect(restarted).to.equal(deletedAt);
    // The next change reaches both (NOTIFY from the restarted primary, then a transfer).
    const next = { ...(JSON.parse(records.get(key)!) as SkydnsService), host: "198.51.100.88" };
    await etcd.etcdctl(["put", key, JSON.stringify(next)]);
    const changedAt = await etcd.revision();
    await eventually("the restarted primary serves the change", async () => {
      const reply = await kdig(serve.dns, FOOZONE, "A");
      expect(reply.answer.map((record) => record.data)).to.include("198.51.100.88");
    });
    for (const [name, secondary] of [
      ["knot", knot],
      ["nsd", nsd],
    ] as const) {
      await eventually(
        `${name} serves the change after the restart`,
        async () => {
          expect(await serialOf(secondary.dns)).to.equal(changedAt);
          const reply = await kdig(secondary.dns, FOOZONE, "A");
          expect(reply.answer.map((record) => record.data)).to.include("198.51.100.88");
        },
        15_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${secondary.output().slice(-3000)}`);
      });
    }
  });

  it("refuses a transfer without the key", async () => {
    const refused = await transfers(serve, "axfr", "refused");
    const reply = await kdig(serve.dns, ZONE, "AXFR", { tcp: true }).catch(() => undefined);
    expect(reply?.answer ?? []).to.have.length(0);
    expect(await transfers(serve, "axfr", "refused")).to.equal(refused + 1);
  });
});
