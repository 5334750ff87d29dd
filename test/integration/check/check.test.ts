// `fedns check` end to end: simulated member clusters (real HTTPS list/watch), a real etcd written by
// the controller in-process, and the DNS server in-process. Each test breaks one thing, runs the
// check and looks for the finding that names it, then puts things back.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect } from "chai";
import { stringify } from "yaml";
import type { Finding } from "../../../src/cli/check/findings.ts";
import { type CheckReport, runCheck, runCheckCommand } from "../../../src/cli/check.ts";
import { type Serving, startServing } from "../../../src/cli/serve.ts";
import { parseConfig } from "../../../src/config/load.ts";
import type { FednsConfig } from "../../../src/config/schema.ts";
import { type Controller, startController } from "../../../src/controller/controller.ts";
import { parseScenario, type ScenarioService, type Simulation } from "../../../src/sim/index.ts";
import { serviceObject, sliceObjects } from "../../../src/sim/seed.ts";
import { createEtcdBackend } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { freePort } from "../../support/ports.ts";
import { startTestSimulation, waitFor } from "../../support/sim.ts";

const run = promisify(execFile);
const CLI = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));

const web = (ip: string, node: string) => ({
  name: "web",
  ports: [{ name: "http", port: 80 }],
  ingress: [{ ip }],
  endpoints: [{ address: "10.0.0.1", node }],
});

const SCENARIO = parseScenario({
  clusters: [
    {
      name: "east",
      nodes: [{ name: "node-e", zone: "us-east-1a", region: "us-east-1" }],
      services: [web("198.51.100.1", "node-e")],
    },
    {
      name: "west",
      nodes: [{ name: "node-w", zone: "us-west-2a", region: "us-west-2" }],
      services: [web("198.51.100.2", "node-w"), { ...web("2001:db8::2", "node-w"), name: "api" }],
    },
  ],
});

/** A LoadBalancer Service for the tests to add: scenario defaults applied. */
function extraService(spec: Record<string, unknown>): ScenarioService {
  const scenario = parseScenario({ clusters: [{ name: "x", nodes: [{ name: "node-e" }], services: [spec] }] });
  return scenario.clusters[0]!.services[0]!;
}

function byCode(report: CheckReport, code: string): Finding[] {
  return report.findings.filter((finding) => finding.code === code);
}

function problems(report: CheckReport): string[] {
  return report.findings.filter((f) => f.severity !== "ok").map((f) => `${f.severity} ${f.subject}: ${f.message}`);
}

describe("fedns check (simulated clusters + etcd + DNS server)", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let sim: Simulation;
  let controller: Controller;
  let serving: Serving;
  let reader: KvBackend;
  let config: FednsConfig;
  let dir: string;
  const backends: KvBackend[] = [];

  const backend = (): KvBackend => {
    const created = createEtcdBackend({ endpoints: [etcd.endpoint] });
    backends.push(created);
    return created;
  };

  // Load balancer hostnames never reach a real resolver: lb.example.test resolves only when a test says so.
  const lbHostnames = new Map<string, string[]>();
  const lookup = async (hostname: string): Promise<{ addresses: string[] }> => {
    const found = lbHostnames.get(hostname);
    if (found === undefined) throw Object.assign(new Error(`queryA ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return { addresses: found };
  };

  const check = (overrides: Partial<FednsConfig> = {}): Promise<CheckReport> =>
    runCheck({ ...config, ...overrides }, { timeoutMs: 3000, lookup });

  before(async () => {
    etcd = await startEtcd();
    sim = await startTestSimulation({ scenario: SCENARIO });
    dir = await mkdtemp(join(tmpdir(), "fedns-check-"));
    config = parseConfig({
      federation: "myfed",
      domain: "example.com",
      etcd: { endpoints: [etcd.endpoint], prefix: "/skydns" },
      dns: { listen: `127.0.0.1:${await freePort()}` },
      metrics: { listen: `127.0.0.1:${await freePort()}` },
      kubeconfig: sim.kubeconfigPath,
      log: { level: "silent" },
    });
    reader = backend();
    controller = await startTestController();
    serving = await startServing(config, backend());
    // Healthy once the controller has written everything the clusters imply and the server serves it.
    await waitFor("the controller to write the records", async () => (await check()).exitCode === 0, 15_000);
  });

  /** The controller repairs drift in etcd within moments; tests that break records stop it meanwhile. */
  function startTestController(): Promise<Controller> {
    return startController({
      federation: "myfed",
      domain: "example.com",
      prefix: "/skydns",
      backend: backend(),
      clusters: sim.clusters.map((c) => ({ name: c.name, kubeconfig: sim.kubeconfigPath, context: c.name })),
      graceMs: 60_000,
      batchMs: 10,
      lookup,
      leaderElection: { enabled: false, leaseSeconds: 2 },
    });
  }

  /** Runs `tamper` with the controller stopped, then restarts it and waits until it has repaired everything. */
  async function withControllerStopped(tamper: () => Promise<void>): Promise<void> {
    await controller.stop();
    try {
      await tamper();
    } finally {
      controller = await startTestController();
      await waitFor("the controller to repair the records", async () => (await check()).exitCode === 0, 15_000);
    }
  }

  after(async () => {
    await controller?.stop();
    await serving?.stop();
    await Promise.all(backends.map((b) => b.close()));
    await sim?.stop();
    await etcd?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("reports a healthy setup with ok findings only and exit code 0", async () => {
    const report = await check();
    // This etcd has no authentication, so anyone, the DNS servers included, may write: the one warning
    // (test/integration/check/dns-identity.test.ts covers etcd with auth).
    expect(problems(report)).to.deep.equal([
      "warn etcd: fedns serve's etcd identity (no dns.etcd: the controller's, etcd) can write under /skydns/: a compromised DNS pod could rewrite every answer",
    ]);
    expect(report.exitCode).to.equal(0);
    const codes = report.findings.map((f) => f.code);
    expect(codes).to.include.members(["config-ok", "etcd-ok", "records-ok", "dns-ok"]);
    expect(byCode(report, "cluster-ok").map((f) => f.subject)).to.deep.equal(["cluster east", "cluster west"]);
    // web: global + 2 regions + 2 zones; api: the same five names (CNAMEs where it has no shard).
    expect(byCode(report, "dns-ok")[0]!.message).to.match(/^10 names answer/);
  });

  it("names a node without zone/region labels (a warning: exit code stays 0)", async () => {
    const east = sim.cluster("east");
    east.apply({ apiVersion: "v1", kind: "Node", metadata: { name: "bare-node", labels: {} }, spec: {}, status: {} });
    try {
      const report = await check();
      const [finding] = byCode(report, "nodes-without-location");
      expect(finding?.severity).to.equal("warn");
      expect(finding?.subject).to.equal("cluster east");
      expect(finding?.message).to.contain("bare-node");
      expect(finding?.fix).to.contain("topology.kubernetes.io/zone");
      expect(report.exitCode).to.equal(0);
    } finally {
      east.delete("Node", undefined, "bare-node");
    }
  });

  it("reports a cluster past controller.clusterCaps as degraded, as the controller would mark it", async () => {
    const clusterCaps = { maxListPages: 100, maxObjects: 1, maxObjectBytes: 1024 * 1024 };
    const report = await check({ controller: { ...config.controller, clusterCaps } });
    const degraded = byCode(report, "cluster-degraded");
    expect(degraded.map((f) => f.severity)).to.include("error");
    expect(degraded[0]?.message).to.match(/more than 1 objects \(clusterCaps\.maxObjects\)/);
    expect(report.exitCode).to.equal(1);
  });

  it("reports what a cluster's trust settings refuse: a namespace, a zone another cluster claims, a TTL, an address", async () => {
    const west = sim.cluster("west");
    west.patch("Service", "default", "web", { metadata: { annotations: { "fedns.io/ttl": "1" } } });
    west.patchStatus("Service", "default", "web", {
      loadBalancer: { ingress: [{ ip: "198.51.100.2" }, { ip: "169.254.169.254" }] },
    });
    west.apply({
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: "claimer",
        labels: { "topology.kubernetes.io/zone": "us-east-1a", "topology.kubernetes.io/region": "us-east-1" },
      },
      spec: {},
      status: {},
    });
    try {
      await waitFor("west's changes listed", async () => byCode(await check(), "plan-address-refused").length > 0);
      const report = await check({
        clusters: [
          { name: "east", trust: { zones: ["us-east-1a"] } },
          { name: "west", trust: { namespaces: ["default"], ttl: { min: 30 } } },
        ],
      } as Partial<FednsConfig>);
      const subjects = (code: string) => byCode(report, code).map((f) => `${f.subject}: ${f.message}`);
      expect(subjects("plan-address-refused")).to.deep.equal([
        "cluster west: service default/web: address 169.254.169.254: special-purpose address: link-local (RFC 3927), includes cloud metadata 169.254.169.254; skipped",
      ]);
      expect(subjects("plan-location-refused")).to.deep.equal([
        'cluster west: zone "us-east-1a" is claimed by cluster east in the config; not claimed',
      ]);
      expect(subjects("plan-ttl-refused")).to.deep.equal([
        "cluster west: service default/web: TTL 5 is outside this cluster's trust.ttl [30, 3600]; 30 used",
      ]);
      expect(byCode(report, "plan-ttl-refused")[0]!.fix).to.contain("docs/trust.md");
      const namespaced = await check({
        clusters: [{ name: "west", trust: { namespaces: ["payments"] } }],
      } as Partial<FednsConfig>);
      expect(byCode(namespaced, "plan-namespace-refused").map((f) => f.subject)).to.deep.equal([
        "cluster west",
        "cluster west",
      ]);
    } finally {
      west.delete("Node", undefined, "claimer");
      west.patch("Service", "default", "web", { metadata: { annotations: { "fedns.io/ttl": null } } });
      west.patchStatus("Service", "default", "web", { loadBalancer: { ingress: [{ ip: "198.51.100.2" }] } });
    }
    await waitFor("the controller to restore west", async () => (await check()).exitCode === 0, 15_000);
  });

  it("names a LoadBalancer service without addresses and one without ready endpoints", async () => {
    const west = sim.cluster("west");
    const pending = extraService({ name: "pending", ports: [{ port: 80 }], endpoints: [{ address: "10.0.0.5" }] });
    const unready = extraService({
      name: "unready",
      ports: [{ port: 80 }],
      ingress: [{ ip: "198.51.100.9" }],
      endpoints: [{ address: "10.0.0.6", ready: false }],
    });
    const cloud = extraService({
      name: "cloud",
      ports: [{ port: 80 }],
      ingress: [{ hostname: "lb.example.test" }],
      endpoints: [{ address: "10.0.0.7" }],
    });
    const objects = [pending, unready, cloud].flatMap((s) => [serviceObject(s), ...sliceObjects(s)]);
    for (const object of objects) west.apply(object);
    try {
      const report = await check();
      const noAddress = byCode(report, "lb-without-address");
      expect(noAddress.map((f) => [f.subject, f.severity, f.details?.service])).to.deep.equal([
        ["cluster west", "warn", "default/pending"],
      ]);
      const noEndpoints = byCode(report, "lb-without-ready-endpoints");
      expect(noEndpoints.map((f) => [f.subject, f.severity, f.details?.service])).to.deep.equal([
        ["cluster west", "warn", "default/unready"],
      ]);
      expect(byCode(report, "lb-hostname-unresolved").map((f) => f.details?.hostnames)).to.deep.equal([
        ["lb.example.test"],
      ]);
      expect(byCode(report, "service-unhealthy-everywhere").map((f) => f.subject)).to.deep.equal([
        "service default/cloud",
        "service default/pending",
        "service default/unready",
      ]);

      // Once the hostname resolves, the check counts the shard as the controller does.
      lbHostnames.set("lb.example.test", ["203.0.113.50"]);
      const resolved = await check();
      expect(byCode(resolved, "lb-hostname-unresolved")).to.deep.equal([]);
      expect(byCode(resolved, "service-unhealthy-everywhere").map((f) => f.subject)).to.not.include(
        "service default/cloud",
      );
    } finally {
      lbHostnames.delete("lb.example.test");
      for (const object of objects) west.delete(object.kind, object.metadata.namespace, object.metadata.name);
    }
  });

  it("reports a record deleted from etcd as missing, with its key, and exits 1", async () => {
    const name = "web.default.myfed.svc.us-west-2a.us-west-2.example.com";
    const path = `/skydns/${name.split(".").reverse().join("/")}/`;
    const kv = (await reader.range(path)).kvs.find((entry) => !entry.key.slice(path.length).includes("/"));
    expect(kv, `a record under ${path}`).to.not.equal(undefined);
    await withControllerStopped(async () => {
      await etcd.etcdctl(["del", kv!.key]);
      const report = await check();
      const missing = byCode(report, "records-missing");
      expect(missing).to.have.length(1);
      expect(missing[0]!.severity).to.equal("error");
      expect(missing[0]!.subject).to.equal("records default/web");
      expect(missing[0]!.details?.keys).to.deep.equal([kv!.key]);
      expect(missing[0]!.message).to.contain(`${name} A 198.51.100.2`);
      expect(report.exitCode).to.equal(1);
    });
    // Restarted, the controller put the deleted key back by itself.
    expect((await reader.range(kv!.key)).kvs.map((entry) => entry.value)).to.deep.equal([kv!.value]);
  });

  it("reports a record changed in etcd as differing and one added as extra", async () => {
    const name = "api.default.myfed.svc.us-east-1.example.com";
    const key = `/skydns/${name.split(".").reverse().join("/")}/cname`;
    const original = (await reader.range(key)).kvs.find((entry) => entry.key === key);
    expect(original, key).to.not.equal(undefined);
    const extraKey = `/skydns/com/example/svc/myfed/default/api/stray-00000000`;
    const changed = JSON.stringify({ ...JSON.parse(original!.value), host: "web.default.myfed.svc.example.com" });
    await withControllerStopped(async () => {
      await etcd.etcdctl(["put", key, changed]);
      await etcd.etcdctl(["put", extraKey, JSON.stringify({ host: "192.0.2.1", owner: "fedns/myfed" })]);
      const report = await check();
      expect(byCode(report, "records-differ").map((f) => f.details?.keys)).to.deep.equal([[key]]);
      expect(byCode(report, "records-extra").map((f) => f.details?.keys)).to.deep.equal([[extraKey]]);
      expect(report.exitCode).to.equal(1);
    });
    // Restarted, the controller restored the edited key and removed the stray one of its owner.
    expect((await reader.range(key)).kvs.map((entry) => entry.value)).to.deep.equal([original!.value]);
    expect((await reader.range(extraKey)).kvs).to.deep.equal([]);
  });

  it("the running controller repairs owned keys deleted or edited with etcdctl, and leaves others' keys alone", async () => {
    const name = "web.default.myfed.svc.us-west-2a.us-west-2.example.com";
    const path = `/skydns/${name.split(".").reverse().join("/")}/`;
    const kv = (await reader.range(path)).kvs.find((entry) => !entry.key.slice(path.length).includes("/"));
    expect(kv, `a record under ${path}`).to.not.equal(undefined);
    const valueAt = async (key: string): Promise<string | undefined> =>
      (await reader.range(key)).kvs.find((entry) => entry.key === key)?.value;
    await etcd.etcdctl(["del", kv!.key]);
    await waitFor("the deleted key to be restored", async () => (await valueAt(kv!.key)) === kv!.value, 10_000);
    await etcd.etcdctl(["put", kv!.key, JSON.stringify({ ...JSON.parse(kv!.value), host: "192.0.2.99" })]);
    await waitFor("the edited key to be restored", async () => (await valueAt(kv!.key)) === kv!.value, 10_000);
    const foreign = `${path}someone-else`;
    const foreignValue = JSON.stringify({ host: "192.0.2.7", owner: "other/tool" });
    await etcd.etcdctl(["put", foreign, foreignValue]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await valueAt(foreign)).to.equal(foreignValue);
    } finally {
      await etcd.etcdctl(["del", foreign]);
    }
  });

  it("reports a DNS server that does not answer, and one whose answers disagree with etcd", async () => {
    const silent = await runCheck(config, { timeoutMs: 1000, dns: `127.0.0.1:${await freePort()}` });
    expect(byCode(silent, "dns-unreachable").map((f) => f.severity)).to.deep.equal(["error"]);
    expect(silent.exitCode).to.equal(1);

    // A server reading another prefix: authoritative for the zone, but every federated name is NXDOMAIN.
    const other = parseConfig({
      ...config,
      etcd: { ...config.etcd, prefix: "/elsewhere" },
      dns: { ...config.dns, listen: `127.0.0.1:${await freePort()}` },
      metrics: { listen: `127.0.0.1:${await freePort()}` },
    });
    const wrong = await startServing(other, backend());
    try {
      await waitFor("the second server to answer", async () => {
        const report = await runCheck(config, { timeoutMs: 1000, dns: other.dns.listen });
        return byCode(report, "dns-mismatch").length > 0;
      });
      const report = await runCheck(config, { timeoutMs: 1000, dns: other.dns.listen });
      const mismatches = byCode(report, "dns-mismatch");
      expect(mismatches.map((f) => f.subject)).to.include("web.default.myfed.svc.example.com");
      const global = mismatches.find((f) => f.subject === "web.default.myfed.svc.example.com");
      expect(global?.message).to.equal("A answers NXDOMAIN, but etcd holds 198.51.100.1, 198.51.100.2");
      expect(report.exitCode).to.equal(1);
    } finally {
      await wrong.stop();
    }
  });

  it("reports credentials the API server rejects, and exits 1", async () => {
    const text = await readFile(sim.kubeconfigPath, "utf8");
    const token = sim.cluster("west").token;
    expect(text).to.contain(token);
    const bad = join(dir, "bad-token.kubeconfig");
    await writeFile(bad, text.replace(token, "not-the-token"));
    const report = await check({ kubeconfig: bad });
    const [finding] = byCode(report, "cluster-unauthorized");
    expect(finding?.subject).to.equal("cluster west");
    expect(finding?.severity).to.equal("error");
    expect(finding?.message).to.contain("401");
    expect(byCode(report, "cluster-ok").map((f) => f.subject)).to.deep.equal(["cluster east"]);
    expect(byCode(report, "records-not-compared")).to.have.length(1);
    expect(report.exitCode).to.equal(1);
  });

  it("reports an unreachable cluster, and exits 1", async () => {
    const east = sim.cluster("east");
    await east.setReachable(false);
    try {
      const report = await check();
      const [finding] = byCode(report, "cluster-unreachable");
      expect(finding?.subject).to.equal("cluster east");
      expect(finding?.message).to.contain("ECONNREFUSED");
      // What the controller leaves as etcd holds it meanwhile: east's only service, web (plan.held).
      const [held] = byCode(report, "records-held");
      expect(held?.severity).to.equal("warn");
      expect(held?.message).to.contain("1 service with records of east");
      expect(held?.message).to.contain("default/web");
      expect(held?.message).to.not.contain("default/api");
      expect(report.exitCode).to.equal(1);
    } finally {
      await east.setReachable(true);
    }
  });

  it("exits 2 on an invalid config and names the field", async () => {
    const file = join(dir, "invalid.yaml");
    await writeFile(file, stringify({ federation: "myfed", domain: "example.com", dns: { listen: "nowhere" } }));
    const outcome = await runCheckCommand({ config: file });
    expect(outcome.exitCode).to.equal(2);
    expect(outcome.output).to.contain("dns.listen");
  });

  describe("as a command (child process)", () => {
    const configFile = async (name: string, content: Record<string, unknown>): Promise<string> => {
      const file = join(dir, name);
      await writeFile(file, stringify(content));
      return file;
    };

    const cli = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
      try {
        const { stdout, stderr } = await run(process.execPath, [CLI, "check", ...args], { timeout: 30_000 });
        return { code: 0, stdout, stderr };
      } catch (err) {
        const failed = err as { code?: number; stdout?: string; stderr?: string };
        return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
      }
    };

    it("prints one line per finding and exits 0 on the healthy setup; --json for scripts", async () => {
      const file = await configFile("fedns.yaml", {
        federation: "myfed",
        domain: "example.com",
        etcd: { endpoints: [etcd.endpoint] },
        dns: { listen: config.dns.listen },
        kubeconfig: sim.kubeconfigPath,
      });
      const text = await cli(["--config", file]);
      expect(text.code, text.stdout + text.stderr).to.equal(0);
      expect(text.stdout).to.match(/^\[ok\] cluster east: /m);
      expect(text.stdout).to.match(/^\[ok\] records: /m);
      // Only the warning that this unauthenticated etcd lets the DNS servers write.
      const flagged = text.stdout.split("\n").filter((line) => /^\[(warn|error)\]/.test(line));
      expect(flagged).to.have.length(1);
      expect(flagged[0]).to.match(
        /^\[warn\] etcd: fedns serve's etcd identity .* can write under \/skydns\/: .* -> set dns\.etcd/,
      );

      const json = await cli(["--config", file, "--json"]);
      expect(json.code).to.equal(0);
      const parsed = JSON.parse(json.stdout) as { exitCode: number; findings: Finding[] };
      expect(parsed.exitCode).to.equal(0);
      expect(parsed.findings.map((f) => f.code)).to.include("dns-ok");
    });

    it("exits 1 with the error line when a cluster is unreachable, and 2 on an invalid config", async () => {
      const file = await configFile("fedns-flags.yaml", {
        federation: "myfed",
        domain: "example.com",
        kubeconfig: sim.kubeconfigPath,
      });
      const west = sim.cluster("west");
      await west.setReachable(false);
      try {
        const result = await cli(["--config", file, "--etcd", etcd.endpoint, "--dns", config.dns.listen]);
        expect(result.code, result.stdout + result.stderr).to.equal(1);
        expect(result.stdout).to.match(/^\[error\] cluster west: cannot reach the API server .* -> /m);
      } finally {
        await west.setReachable(true);
      }
      const invalid = await configFile("invalid-cli.yaml", { federation: "My_Fed", domain: "example.com" });
      const result = await cli(["--config", invalid]);
      expect(result.code).to.equal(2);
      expect(result.stdout).to.contain("federation");
    });
  });
});
