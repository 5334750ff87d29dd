// `fedns serve` with its own read-only etcd identity (dns.etcd) against a real etcd with authentication on:
// it loads and follows the records as a user whose role may only read the prefix, never touches the
// controller's credentials (its password file does not even exist here), and a write as that user is refused.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { stringify } from "yaml";
import { dnsEtcdBackend, etcdBackendFromConfig } from "../../../src/cli/backend.ts";
import { parseConfig } from "../../../src/config/load.ts";
import type { FednsConfig } from "../../../src/config/schema.ts";
import { dig } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { type EtcdAuth, enableEtcdAuth } from "../../support/etcd-auth.ts";
import { eventually, FEDNS_MAIN, waitForHttp } from "../../support/fedns.ts";
import { freePort } from "../../support/ports.ts";
import { type Started, startProcess } from "../../support/processes.ts";

const NGINX = "nginx.default.myfed.svc.example.com";
const NGINX_KEY = "/skydns/com/example/svc/myfed/default/nginx";

function record(host: string): string {
  return JSON.stringify({ host, ttl: 30, group: NGINX, owner: "fedns/myfed" });
}

describe("etcd auth: the DNS servers' read-only identity (dns.etcd)", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let auth: EtcdAuth;
  let dir: string;
  let config: FednsConfig;
  let raw: Record<string, unknown>;
  let serve: Started | undefined;

  before(async () => {
    etcd = await startEtcd();
    auth = await enableEtcdAuth(etcd);
    dir = await mkdtemp(join(tmpdir(), "fedns-etcd-auth-"));
    await writeFile(join(dir, "dns-password"), `${auth.dns.password}\n`, { mode: 0o600 });
    raw = {
      federation: "myfed",
      domain: "example.com",
      zones: ["example.com"],
      etcd: {
        endpoints: [etcd.endpoint],
        prefix: "/skydns",
        username: auth.controller.username,
        // Mounted only into the controller's pods: the DNS servers must not need it.
        passwordFile: join(dir, "controller-password-not-mounted-here"),
      },
      dns: { etcd: { username: auth.dns.username, passwordFile: join(dir, "dns-password") } },
    };
    config = parseConfig(raw, "test");
    await writeFile(join(dir, "fedns.yaml"), stringify(raw));
  });

  after(async () => {
    await serve?.stop();
    await etcd?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("fedns serve loads and follows the records as the read-only user", async () => {
    await auth.etcdctlAs(auth.controller, ["put", `${NGINX_KEY}/east-a-1`, record("198.51.100.7")]);
    const port = await freePort();
    const metrics = await freePort();
    serve = startProcess(process.execPath, [
      FEDNS_MAIN,
      "serve",
      "--config",
      join(dir, "fedns.yaml"),
      "--listen",
      `127.0.0.1:${port}`,
      "--metrics",
      `127.0.0.1:${metrics}`,
    ]);
    await waitForHttp(`http://127.0.0.1:${metrics}/readyz`, serve, 30_000);
    const server = { host: "127.0.0.1", port };
    const first = await dig(server, NGINX, "A");
    expect(
      first.answer.map((rr) => rr.data),
      serve.output(),
    ).to.deep.equal(["198.51.100.7"]);

    // The watch works with read permission alone: a change by the controller shows up.
    await auth.etcdctlAs(auth.controller, ["put", `${NGINX_KEY}/west-a-1`, record("203.0.113.9")]);
    await eventually("the watched change is served", async () => {
      const answer = await dig(server, NGINX, "A");
      expect(answer.answer.map((rr) => rr.data).sort()).to.deep.equal(["198.51.100.7", "203.0.113.9"]);
    });
  });

  it("refuses a write with the DNS servers' identity, and takes one with the controller's", async () => {
    const dnsBackend = dnsEtcdBackend(config);
    try {
      const read = await dnsBackend.range(`${NGINX_KEY}/`);
      expect(read.kvs.map((kv) => kv.key)).to.include(`${NGINX_KEY}/east-a-1`);
      let refused: unknown;
      try {
        await dnsBackend.txn([], [{ type: "put", key: `${NGINX_KEY}/rogue`, value: record("192.0.2.66") }]);
      } catch (err) {
        refused = err;
      }
      expect(String(refused)).to.match(/permission denied/i);
    } finally {
      await dnsBackend.close();
    }
    expect(await etcd.etcdctl([`--user=root:${auth.root.password}`, "get", `${NGINX_KEY}/rogue`])).to.equal("");

    // The same write as the controller goes through: the refusal is the role, not the request.
    await writeFile(join(dir, "controller-password"), auth.controller.password);
    const controller = etcdBackendFromConfig({ ...config.etcd, passwordFile: join(dir, "controller-password") });
    try {
      await controller.txn([], [{ type: "put", key: `${NGINX_KEY}/scratch`, value: record("192.0.2.67") }]);
      await controller.txn([], [{ type: "delete", key: `${NGINX_KEY}/scratch` }]);
    } finally {
      await controller.close();
    }
  });

  it("without dns.etcd, fedns serve uses the controller's identity (here: its password file is missing)", async () => {
    const shared = parseConfig({ ...raw, dns: {} }, "test");
    expect(() => dnsEtcdBackend(shared)).to.throw(/^etcd\.passwordFile: the file cannot be read/);
    await dnsEtcdBackend(config).close();
  });
});
