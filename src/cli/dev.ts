// `fedns dev`: the whole stack on one machine on embedded defaults, for a first try:
// simulated member clusters, a local etcd (or the in-memory store), the controller, the DNS server.
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { parseConfig } from "../config/load.ts";
import type { FednsConfig } from "../config/schema.ts";
import type { Controller } from "../controller/controller.ts";
import { shortBase } from "../federation/short-keys.ts";
import { formatHostPort, parseHostPort } from "../obs/http.ts";
import { configureLogging, type LogLevel, logger } from "../obs/log.ts";
import { loadScenario, type Simulation, startSimulation } from "../sim/index.ts";
import { createEtcdBackend } from "../store/etcd-kv.ts";
import type { KvBackend } from "../store/kv.ts";
import { findEtcdBinary, type LocalEtcd, startLocalEtcd } from "../store/local-etcd.ts";
import { createMemoryBackend } from "../store/memory-kv.ts";
import { startControlling } from "./controller.ts";
import { type Serving, startServing } from "./serve.ts";
import { runCommand, untilSignal } from "./settings.ts";

const DEFAULT_SCENARIO = fileURLToPath(new URL("../../config/dev-scenario.yaml", import.meta.url));

interface DevFlags {
  scenario: string;
  listen: string;
  metrics: string;
  memory?: boolean;
  logLevel: string;
}

export function registerDevCommand(program: Command): void {
  program
    .command("dev")
    .description("run the whole stack locally: simulated clusters, etcd, controller and DNS server")
    .option("--scenario <file>", "simulated clusters (config/scenario.md)", DEFAULT_SCENARIO)
    .option("--listen <host:port>", "DNS address", "127.0.0.1:5353")
    .option(
      "--metrics <host:port>",
      "DNS server's /metrics address; the controller's is the next port",
      "127.0.0.1:9153",
    )
    .option("--memory", "use the in-memory store even when an etcd binary is available")
    .option("--log-level <level>", "log level of the components", "warn")
    .action((flags: DevFlags) => runCommand(() => runDev(flags)));
}

async function runDev(flags: DevFlags): Promise<void> {
  configureLogging(flags.logLevel as LogLevel);
  const log = logger("dev");
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.reverse()) {
      await step().catch((err: Error) => log.error({ error: err.message }, "cleanup step failed"));
    }
  };
  try {
    const scenario = await loadScenario(flags.scenario);
    const sim: Simulation = await startSimulation({ scenario, tls: true, control: true });
    cleanups.push(() => sim.stop());

    const etcdBinary = flags.memory === true ? undefined : findEtcdBinary();
    let etcd: LocalEtcd | undefined;
    if (etcdBinary !== undefined) {
      etcd = await startLocalEtcd(etcdBinary);
      cleanups.push(() => etcd!.stop());
    }
    const config: FednsConfig = parseConfig(
      {
        federation: "myfed",
        domain: "example.com",
        log: { level: flags.logLevel },
        etcd: { endpoints: [etcd?.endpoint ?? "http://127.0.0.1:2379"] },
        dns: { listen: flags.listen },
        metrics: { listen: flags.metrics },
        kubeconfig: sim.kubeconfigPath,
        // Short names: each simulated cluster's pods "ask" from a loopback network (dig -b picks one).
        clusters: Object.entries(DEV_CLIENT_NETWORKS).map(([name, network]) => ({ name, clientNetworks: [network] })),
        controller: { gracePeriodSeconds: 20, leaderElection: { enabled: false } },
      },
      "fedns dev defaults",
    );
    // One store for both halves: they meet only there, as in production.
    const shared: KvBackend =
      etcd !== undefined ? createEtcdBackend({ endpoints: [etcd.endpoint] }) : createMemoryBackend();
    const forServe: KvBackend = etcd !== undefined ? createEtcdBackend({ endpoints: [etcd.endpoint] }) : shared;
    const metrics = parseHostPort(flags.metrics);
    const controlling = await startControlling(
      { ...config, metrics: { listen: formatHostPort({ ...metrics, port: metrics.port + 1 }) } },
      shared,
    );
    cleanups.push(() => controlling.stop());
    const serving = await startServing(config, etcd !== undefined ? forServe : unclosable(shared));
    cleanups.push(() => serving.stop());

    await firstRecordsServed(
      controlling.controller,
      serving,
      shared,
      config.etcd.prefix,
      config.shortNames.prefix,
      config.federation ?? "myfed",
    );
    process.stdout.write(
      instructions({
        dns: serving.dnsAddress,
        kubeconfig: sim.kubeconfigPath,
        simDir: sim.dir,
        etcd: etcd?.endpoint,
        metrics: [serving.opsAddress, controlling.opsAddress],
      }),
    );
    await untilSignal();
    process.stdout.write("\nstopping…\n");
  } finally {
    await cleanup();
  }
}

/** Waits until the controller has written what the clusters imply and the DNS server serves it, so the printed digs answer. */
async function firstRecordsServed(
  controller: Controller,
  serving: Serving,
  store: KvBackend,
  prefix: string,
  shortPrefix: string,
  federation: string,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!controller.status().writing) {
    if (Date.now() > deadline) throw new Error("the controller did not sync the simulated clusters within 60 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await controller.whenIdle();
  // The last change under each prefix: a source sees no events of the other, so the store's own revision
  // (moved by both) may stay ahead of it.
  const lastChange = async (key: string) => Math.max(0, ...(await store.range(key)).kvs.map((kv) => kv.modRevision));
  const revision = await lastChange(`${prefix}/`);
  const shortRevision = await lastChange(shortBase(shortPrefix, federation));
  while (serving.revision() < revision || (serving.shortRevision() ?? shortRevision) < shortRevision) {
    if (Date.now() > deadline)
      throw new Error(
        `the DNS server did not load the records within 60 s (${serving.revision()}/${revision}, ${serving.shortRevision()}/${shortRevision})`,
      );
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** In memory mode both halves share one backend; only the controller's stop() may close it. */
function unclosable(backend: KvBackend): KvBackend {
  return new Proxy(backend, {
    get(target, property, receiver) {
      if (property === "close") return async () => {};
      return Reflect.get(target, property, receiver);
    },
  });
}

/** The loopback networks `fedns dev` maps to each simulated cluster's pods (short names). */
export const DEV_CLIENT_NETWORKS: Record<string, string> = {
  "east-a": "127.0.1.0/24",
  "east-b": "127.0.2.0/24",
  "west-a": "127.0.3.0/24",
};

/** An address of a cluster's pod network for `dig -b`. */
function pod(cluster: string): string {
  return (DEV_CLIENT_NETWORKS[cluster] ?? "127.0.9.0/24").replace(/0\/\d+$/, "1");
}

interface Where {
  dns: { host: string; port: number };
  kubeconfig: string;
  simDir: string;
  etcd: string | undefined;
  metrics: Array<{ host: string; port: number }>;
}

function instructions(where: Where): string {
  const at = `@${where.dns.host} -p ${where.dns.port}`;
  const k = `kubectl --kubeconfig ${where.kubeconfig}`;
  const lines = [
    "",
    "fedns dev is running: 3 simulated clusters (east-a us-east-1a, east-b us-east-1b, west-a us-west-2a),",
    `${where.etcd !== undefined ? `etcd at ${where.etcd}` : "the in-memory store (--memory, or no etcd binary on PATH)"}, the controller and the DNS server on ${where.dns.host}:${where.dns.port}.`,
    "",
    "Ask for a service at each level (nearest first):",
    `  dig ${at} +short web.default.myfed.svc.us-east-1a.us-east-1.example.com   # zone`,
    `  dig ${at} +short web.default.myfed.svc.us-east-1.example.com              # region`,
    `  dig ${at} +short web.default.myfed.svc.example.com                        # global (IPv4)`,
    `  dig ${at} +short web.default.myfed.svc.example.com AAAA                   # global (IPv6, dual-stack in east-a)`,
    `  dig ${at} _http._tcp.web.default.myfed.svc.us-west-2a.us-west-2.example.com SRV`,
    `  dig ${at} cart.shop.myfed.svc.us-east-1a.us-east-1.example.com            # unhealthy in east-a: CNAME to the region`,
    "",
    "Short names, as pods ask (their cluster's CoreDNS forwards myfed.svc.cluster.local to fedns); here",
    `${Object.entries(DEV_CLIENT_NETWORKS)
      .map(([cluster, network]) => `${network} stands for ${cluster}'s pods`)
      .join(", ")}, anything else is unknown:`,
    `  dig ${at} -b ${pod("east-a")} +short web.default.myfed.svc.cluster.local   # a pod in east-a: east-a's own ClusterIP`,
    `  dig ${at} -b ${pod("east-a")} +short cart.shop.myfed.svc.cluster.local     # unhealthy in east-a: CNAME to us-east-1a, chain`,
    `  dig ${at} -b ${pod("east-b")} +short cart.shop.myfed.svc.cluster.local     # a pod in east-b: east-b's own ClusterIP`,
    `  dig ${at} -b 127.0.9.1 +short web.default.myfed.svc.cluster.local    # an unknown asker: CNAME to the global name`,
    `  dig ${at} +subnet=${pod("east-b")}/32 +short cart.shop.myfed.svc.cluster.local  # EDNS Client Subnet (east-b) wins over the source`,
    "",
    "Make web unhealthy in east-a and watch us-east-1a fall back to the region (and global lose 198.51.100.10),",
    "and the east-a pod's short name move from its own ClusterIP to a CNAME to the zone:",
    `  ${k} --context east-a -n default patch endpointslice web-ipv4 --type=json \\`,
    `    -p '[{"op":"replace","path":"/endpoints/0/conditions/ready","value":false},{"op":"replace","path":"/endpoints/1/conditions/ready","value":false}]'`,
    `  dig ${at} web.default.myfed.svc.us-east-1a.us-east-1.example.com`,
    `  dig ${at} -b ${pod("east-a")} web.default.myfed.svc.cluster.local`,
    "",
    "See the records:",
    where.etcd !== undefined
      ? `  ETCDCTL_API=3 etcdctl --endpoints ${where.etcd} get --prefix /skydns/com/example/ | head -20\n  npx fedns records web.default.myfed.svc.example.com --etcd ${where.etcd}`
      : "  (in-memory store: install etcd-server to look at them with etcdctl)",
    "",
    "Clusters:",
    `  ${k} get services -A --context west-a`,
    `  npx fedns sim fault --dir ${where.simDir} --cluster east-b down     # unreachable; records withdrawn after 20 s grace`,
    "",
    `Metrics: ${where.metrics.map((m) => `http://${m.host}:${m.port}/metrics`).join("  ")}`,
    "Ctrl-C stops everything.",
    "",
  ];
  return `${lines.join("\n")}\n`;
}
