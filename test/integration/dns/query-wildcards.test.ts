// dns.queryWildcards seen with dig: on (the default, CoreDNS) `*` and `any` labels in a question match
// any label; off they are read literally, so only a key stored with a `*` label answers `*` and `any`
// names nothing. Checked on the DNS server directly and through `fedns serve --config` (the wiring).
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { type DnsServer, startDnsServer } from "../../../src/dns/server.ts";
import { dig, indexWith } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { eventually, type ServeProcess, startServe } from "../../support/fedns.ts";

const RECORDS = {
  "/skydns/com/example/wild/one/a": { host: "10.0.1.1" },
  "/skydns/com/example/wild/two/a": { host: "10.0.1.2" },
  "/skydns/com/example/wild/*/a": { host: "10.0.1.3" },
};

async function addresses(
  server: { host: string; port: number },
  name: string,
): Promise<{ status: string; data: string[] }> {
  const result = await dig(server, name, "A");
  return { status: result.status, data: result.answer.map((rr) => rr.data).sort() };
}

async function expectSetting(server: { host: string; port: number }, wildcards: boolean): Promise<void> {
  const all = ["10.0.1.1", "10.0.1.2", "10.0.1.3"];
  expect(await addresses(server, "*.wild.example.com")).to.deep.equal({
    status: "NOERROR",
    data: wildcards ? all : ["10.0.1.3"],
  });
  expect(await addresses(server, "ANY.wild.example.com")).to.deep.equal(
    wildcards ? { status: "NOERROR", data: all } : { status: "NXDOMAIN", data: [] },
  );
  // Plain names answer the same either way.
  expect(await addresses(server, "one.wild.example.com")).to.deep.equal({ status: "NOERROR", data: ["10.0.1.1"] });
}

describe("dns.queryWildcards (dig)", function () {
  this.timeout(60_000);

  for (const wildcards of [true, false]) {
    it(`DNS server with queryWildcards ${wildcards}`, async () => {
      let server: DnsServer | undefined;
      try {
        server = await startDnsServer({
          index: await indexWith(RECORDS),
          zones: ["example.com"],
          listen: { host: "127.0.0.1", port: 0 },
          queryWildcards: wildcards,
        });
        await expectSetting(server.address, wildcards);
      } finally {
        await server?.close();
      }
    });
  }

  describe("fedns serve --config", () => {
    let etcd: EtcdProcess;
    const serves: ServeProcess[] = [];

    before(async () => {
      etcd = await startEtcd();
      for (const [key, value] of Object.entries(RECORDS)) await etcd.etcdctl(["put", key, JSON.stringify(value)]);
    });

    after(async () => {
      for (const serve of serves) await serve.stop();
      await etcd?.destroy();
    });

    for (const wildcards of [true, false]) {
      it(`dns.queryWildcards: ${wildcards}`, async () => {
        const config = join(tmpdir(), `fedns-wildcards-${process.pid}-${wildcards}.yaml`);
        await writeFile(config, `dns:\n  queryWildcards: ${wildcards}\n`);
        const serve = await startServe({ etcd: etcd.endpoint, zones: ["example.com"], extra: ["--config", config] });
        serves.push(serve);
        await eventually("loaded", async () => {
          expect((await dig(serve.dns, "one.wild.example.com", "A")).status).to.equal("NOERROR");
        });
        await expectSetting(serve.dns, wildcards);
      });
    }
  });
});
