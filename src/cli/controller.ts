// `fedns controller`: watches the member clusters and writes the federation's records to etcd.
import type { Command } from "commander";
import { ConfigError } from "../config/load.ts";
import { memberClusters } from "../config/members.ts";
import { planSettings } from "../config/policy.ts";
import { reloadOnChange, restartOnlyChanges } from "../config/reload.ts";
import type { FednsConfig } from "../config/schema.ts";
import { type Controller, startController } from "../controller/controller.ts";
import { dnsLookup } from "../controller/hostnames.ts";
import { parseHostPort, startOpsServer } from "../obs/http.ts";
import { logger } from "../obs/log.ts";
import { newRegistry } from "../obs/metrics.ts";
import type { KvBackend } from "../store/kv.ts";
import { etcdBackendFromConfig } from "./backend.ts";
import { collect, commandConfig, runCommand, stopWithin, untilSignal } from "./settings.ts";

interface ControllerFlags {
  federation?: string;
  domain?: string;
  etcd?: string;
  prefix?: string;
  kubeconfig?: string;
  context?: string[];
  config?: string;
  metrics?: string;
}

export const DEFAULT_CONTROLLER_METRICS = "127.0.0.1:9154";

export function registerControllerCommand(program: Command): void {
  program
    .command("controller")
    .description("watch the member clusters and write the federation's service records to etcd")
    .option("--federation <name>", "federation name (the F in S.N.F.svc.D)")
    .option("--domain <zone>", "DNS zone the records are written under, e.g. example.com")
    .option("--etcd <url>", "etcd endpoint, e.g. http://127.0.0.1:2379")
    .option("--prefix <prefix>", "skydns key prefix (default /skydns)")
    .option("--kubeconfig <file>", "kubeconfig whose contexts are the member clusters")
    .option("--context <name>", "only this context of --kubeconfig (repeatable)", collect)
    .option("--config <file>", "fedns YAML config; flags override it; re-read on change and on SIGHUP")
    .option("--metrics <host:port>", `address of /metrics, /healthz, /readyz (default ${DEFAULT_CONTROLLER_METRICS})`)
    .action((flags: ControllerFlags) =>
      runCommand(async () => {
        const overrides = {
          federation: flags.federation,
          domain: flags.domain,
          "etcd.endpoints": flags.etcd === undefined ? undefined : [flags.etcd],
          "etcd.prefix": flags.prefix,
          kubeconfig: flags.kubeconfig,
          "metrics.listen": flags.metrics,
        };
        const config = await commandConfig(flags.config, overrides);
        const contexts = flags.context ?? [];
        const running = await startControlling(config, etcdBackendFromConfig(config.etcd), contexts);
        const stopReloading =
          flags.config === undefined
            ? () => {}
            : reloadOnChange(flags.config, async () => {
                const next = await commandConfig(flags.config, overrides);
                const needRestart = restartOnlyChanges(config, next);
                if (needRestart.length > 0) {
                  logger("config").warn(
                    { fields: needRestart },
                    "these settings changed but take effect only after a restart; member clusters were reloaded",
                  );
                }
                await running.controller.updateClusters(memberClusters(next, contexts));
              });
        await untilSignal();
        stopReloading();
        await shutdown(running);
      }),
    );
}

export interface Controlling {
  controller: Controller;
  opsAddress: { host: string; port: number };
  stop(): Promise<void>;
}

/** Starts the controller with its ops endpoint; shared by `controller` and `dev`. */
export async function startControlling(
  config: FednsConfig,
  backend: KvBackend,
  contexts: string[] = [],
  overrides: {
    clusters?: Parameters<typeof startController>[0]["clusters"];
    /** Replaces the store's writer (tests: a slow writer). */
    writer?: Parameters<typeof startController>[0]["writer"];
  } = {},
): Promise<Controlling> {
  if (config.federation === undefined) throw new ConfigError("federation: required (--federation or federation:)");
  if (config.domain === undefined) throw new ConfigError("domain: required (--domain or domain:)");
  const clusters = overrides.clusters ?? memberClusters(config, contexts);
  if (clusters.length === 0) throw new ConfigError("no member clusters: give --kubeconfig, or clusters: in the config");
  const registry = newRegistry({ defaultMetrics: true });
  const c = config.controller;
  const lookup = dnsLookup(c.resolver);
  const controller = await startController({
    federation: config.federation,
    domain: config.domain,
    prefix: config.etcd.prefix,
    backend,
    clusters,
    ...planSettings(config),
    serviceLabelSelector: c.labelSelector,
    startupSyncTimeoutMs: c.startupSyncTimeoutSeconds * 1000,
    batchMs: c.batchMs,
    hostnameRefreshMs: c.hostnameRefreshSeconds * 1000,
    hostnameMinRefreshMs: c.resolver.minRefreshSeconds * 1000,
    hostnameConcurrency: c.resolver.concurrency,
    lookup: lookup.lookup,
    clusterCaps: c.clusterCaps,
    leaderElection: c.leaderElection,
    ...(config.shortNames.enabled
      ? {
          shortNames: {
            prefix: config.shortNames.prefix,
            maxNetworksPerCluster: config.shortNames.maxNetworksPerCluster,
          },
        }
      : {}),
    registry,
    ...(overrides.writer === undefined ? {} : { writer: overrides.writer }),
  });
  const ops = await startOpsServer({
    ...parseHostPort(config.metrics.listen ?? DEFAULT_CONTROLLER_METRICS),
    registry,
    readiness: () => {
      const status = controller.status();
      const reasons = [
        status.leader ? "leader" : "standby (not leader)",
        ...status.clusters.map((cluster) => `cluster ${cluster.name}: ${cluster.phase}`),
      ];
      return { ready: status.ready, reasons: status.ready ? reasons : ["start-up sync not finished", ...reasons] };
    },
  });
  return {
    controller,
    opsAddress: ops.address,
    stop: async () => {
      await controller.stop();
      lookup.cancel();
      await ops.close();
      await backend.close();
    },
  };
}

/** How long a stopping controller may take before it exits anyway (SIGTERM is honoured within 2 s, issue 8). */
export const SHUTDOWN_MS = 1500;

/** Stops the controller (resigning leadership first); past SHUTDOWN_MS, exits with whatever is still in flight. */
export async function shutdown(running: Controlling, ms = SHUTDOWN_MS): Promise<void> {
  if (await stopWithin(() => running.stop(), ms)) return;
  logger("controller").warn({ ms }, "stopping took too long: exiting with work in flight (writes are fenced)");
  process.exit(0);
}
