// The controller under measurement, in its own process so that its RSS is its own.
// argv[2]: JSON { etcd, kubeconfig, clusters }. Prints a JSON status line (phase summary, RSS) every 500 ms.
import { startController } from "../../src/controller/controller.ts";
import { parseNetwork } from "../../src/federation/addresses.ts";
import { DEFAULT_LIMITS } from "../../src/federation/limits.ts";
import { createEtcdBackend } from "../../src/store/etcd-kv.ts";

interface Args {
  etcd: string;
  kubeconfig: string;
  clusters: string[];
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const controller = await startController({
  federation: "myfed",
  domain: "example.com",
  backend: createEtcdBackend({ endpoints: [args.etcd] }),
  // Short names: cluster i's pods ask from 127.0.<i+1>.0/24 (the bench's resolvers bind there).
  clusters: args.clusters.map((name, i) => ({
    name,
    kubeconfig: args.kubeconfig,
    context: name,
    clientNetworks: [`127.0.${i + 1}.0/24`],
  })),
  shortNames: { prefix: "/fedns-short" },
  leaderElection: { enabled: false, leaseSeconds: 10 },
  // The simulated load balancers have private addresses (10.0.0.0/8): allow-listed, as an operator would.
  policy: {
    clusters: new Map(args.clusters.map((name) => [name, { allowedNetworks: [parseNetwork("10.0.0.0/8")!] }])),
    limits: DEFAULT_LIMITS,
  },
});
const report = (): void => {
  const status = controller.status();
  const line = {
    ready: status.ready && status.clusters.every((cluster) => cluster.phase === "active"),
    rss: process.memoryUsage().rss,
    heapUsed: process.memoryUsage().heapUsed,
  };
  process.stdout.write(`STATUS ${JSON.stringify(line)}\n`);
};
setInterval(report, 500);
// SIGUSR2: collect garbage first (run with --expose-gc), so heapUsed is what the controller retains.
process.on("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  report();
});
process.on("SIGTERM", () => {
  void controller.stop().then(() => process.exit(0));
});
