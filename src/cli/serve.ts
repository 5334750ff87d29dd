// `fedns serve`: the authoritative DNS server over the skydns records in etcd.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Command } from "commander";
import { ConfigError } from "../config/load.ts";
import type { DnsConfig, FednsConfig } from "../config/schema.ts";
import { parseNetwork } from "../dns/client-address.ts";
import { parseCookieSecret, SECRET_SIZE } from "../dns/cookies.ts";
import { type DnsServer, startDnsServer, type TransferSettings } from "../dns/server.ts";
import { loadKey, TsigKeyring } from "../dns/tsig.ts";
import { compactHeap } from "../obs/heap.ts";
import { formatHostPort, parseHostPort, startOpsServer } from "../obs/http.ts";
import { logger } from "../obs/log.ts";
import { newRegistry } from "../obs/metrics.ts";
import type { IndexChange } from "../records/index.ts";
import { LiveIndex } from "../records/live-index.ts";
import type { KvBackend } from "../store/kv.ts";
import { startRecordSource } from "../store/source.ts";
import { type PreparedLoader, workerLoader } from "../store/worker-loader.ts";
import { dnsEtcdBackend, dnsEtcdOptions } from "./backend.ts";
import { collect, commandConfig, runCommand, untilSignal } from "./settings.ts";
import { startShortServing } from "./short-serving.ts";

interface ServeFlags {
  zone?: string[];
  etcd?: string;
  prefix?: string;
  listen?: string;
  metrics?: string;
  config?: string;
  udpTransport?: string;
}

export const DEFAULT_SERVE_METRICS = "127.0.0.1:9153";

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve the federation zone(s) authoritatively over UDP and TCP from the records in etcd")
    .option("--zone <zone>", "zone to be authoritative for (repeatable)", collect)
    .option("--etcd <url>", "etcd endpoint, e.g. http://127.0.0.1:2379")
    .option("--prefix <prefix>", "skydns key prefix (default /skydns)")
    .option("--listen <host:port>", "DNS address for UDP and TCP (default 127.0.0.1:5353)")
    .option("--metrics <host:port>", `address of /metrics, /healthz, /readyz (default ${DEFAULT_SERVE_METRICS})`)
    .option("--config <file>", "fedns YAML config; flags override it")
    .option("--udp-transport <auto|native|dgram>", "UDP transport (dns.udpTransport; default auto)")
    .action((flags: ServeFlags) =>
      runCommand(async () => {
        const config = await commandConfig(flags.config, {
          zones: flags.zone,
          "etcd.endpoints": flags.etcd === undefined ? undefined : [flags.etcd],
          "etcd.prefix": flags.prefix,
          "dns.listen": flags.listen,
          "metrics.listen": flags.metrics,
          "dns.udpTransport": flags.udpTransport,
        });
        // dns.etcd: the DNS servers' own (read-only) identity, when configured; full loads run in a worker
        // thread with its own client of the same identity.
        const loader = workerLoader({ etcd: dnsEtcdOptions(config) });
        const service = await startServing(config, dnsEtcdBackend(config), { loader });
        await untilSignal();
        await service.stop();
      }),
    );
}

export interface Serving {
  dnsAddress: { host: string; port: number };
  /** The store revision the served index reflects. */
  revision(): number;
  /** The store revision the short-name data reflects (undefined: short names off). */
  shortRevision(): number | undefined;
  opsAddress: { host: string; port: number };
  stop(): Promise<void>;
}

export interface ServingOptions {
  /** Full loads of the records through this loader (serve: the loader worker) instead of on the main thread. */
  loader?: PreparedLoader;
}

/** Wires index, source, DNS server and ops endpoint; shared by `serve` and `dev`. */
export async function startServing(
  config: FednsConfig,
  backend: KvBackend,
  options: ServingOptions = {},
): Promise<Serving> {
  const log = logger("serve");
  const zoneNames = config.zones ?? (config.domain !== undefined ? [config.domain] : []);
  if (zoneNames.length === 0) throw new Error("no zone to serve: give --zone, or zones/domain in the config");
  const registry = newRegistry({ defaultMetrics: true });
  // Until the first complete load the server answers SERVFAIL in its zones and is not ready.
  const index = new LiveIndex({ prefix: config.etcd.prefix, defaultTtl: config.dns.defaultTtl });
  const listen = parseHostPort(config.dns.listen);
  const opsListen = parseHostPort(config.metrics.listen ?? DEFAULT_SERVE_METRICS);
  const keyring = tsigKeyring(config.dns);
  const transfers = transferSettings(config.dns, keyring);
  let indexChanged = (_changes: readonly IndexChange[] | undefined): void => {};
  const source = startRecordSource({
    backend,
    prefix: config.etcd.prefix,
    index,
    registry,
    ...(options.loader === undefined ? {} : { loader: options.loader }),
    onChange: (changes) => indexChanged(changes),
    // The first load's garbage made the heap grow to about twice what the index keeps: give it back now.
    beforeFirstSwap: () => {
      const heap = compactHeap();
      log.info(
        {
          heapUsedMiB: Math.round(heap.usedAfter / 2 ** 20),
          heapTotalMiB: Math.round(heap.totalAfter / 2 ** 20),
          freedMiB: Math.round((heap.totalBefore - heap.totalAfter) / 2 ** 20),
          pauseMs: Math.round(heap.pauseMs),
        },
        "compacted the heap after the first load",
      );
    },
  });
  const short = startShortServing(config, backend, registry, log);
  // A failed start (a port taken) leaves nothing running: the caller gets no handle to stop it with.
  const abandon = async (err: unknown, dnsStarted?: DnsServer): Promise<never> => {
    await settleAll(
      [() => dnsStarted?.close(), () => source.stop(), () => short?.source.stop(), () => backend.close()],
      log,
    );
    throw err;
  };
  const dns = await startDnsServer({
    index,
    zones: zoneNames,
    soa: config.dns.soa,
    nameservers: config.dns.nameservers,
    listen,
    udpPayloadSize: config.dns.udpPayloadSize,
    udpTransport: config.dns.udpTransport,
    queryWildcards: config.dns.queryWildcards,
    cacheEntries: config.dns.cache.entries,
    cacheBytes: config.dns.cache.bytes,
    tcp: config.dns.tcp,
    nsid: config.dns.nsid ?? hostname(),
    cookieSecret: cookieSecretFromConfig(config.dns.cookies, log),
    ...(short === undefined ? {} : { short: short.answerer }),
    rrl: config.dns.rrl.enabled ? { ...config.dns.rrl, exempt: config.dns.rrl.exempt.map(parseNetwork) } : undefined,
    tsig: keyring,
    transfers,
    registry,
  }).catch((err: unknown) => {
    const reason = err instanceof Error ? err.message : String(err);
    return abandon(new Error(`cannot listen on ${formatHostPort(listen)} for DNS: ${reason}`, { cause: err }));
  });
  indexChanged = (changes) => dns.indexChanged(changes);
  if (index.loaded) dns.indexChanged(undefined);
  const ops = await startOpsServer({
    ...opsListen,
    registry,
    readiness: () => {
      const status = source.status();
      const records = index.current.size;
      if (status.ready) return { ready: true, reasons: [`etcd revision ${status.revision}, ${records} records`] };
      return { ready: false, reasons: [status.reason ?? "records not loaded yet"], degraded: index.loaded };
    },
  }).catch((err: unknown) => abandon(err, dns));
  log.info(
    {
      zones: dns.zones.map((zone) => zone.name),
      dns: dns.address,
      etcd: backend.description,
      prefix: config.etcd.prefix,
      shortNames: short?.answerer.settings.zone.name ?? "off",
    },
    "fedns serve started",
  );
  return {
    dnsAddress: dns.address,
    opsAddress: ops.address,
    revision: () => source.status().revision,
    shortRevision: () => short?.source.revision(),
    stop: async () => {
      await dns.close();
      await ops.close();
      await source.stop();
      await short?.source.stop();
      await backend.close();
      log.info("fedns serve stopped");
    },
  };
}

/** The TSIG keys of `dns.tsig.keys`, their secrets read from their files (never logged). */
function tsigKeyring(dns: DnsConfig): TsigKeyring {
  try {
    return new TsigKeyring(dns.tsig.keys.map((key) => loadKey(key.name, key.algorithm, key.secretFile)));
  } catch (err) {
    throw new ConfigError(`dns.tsig.keys: ${(err as Error).message}`);
  }
}

/** `dns.transfers` with key names resolved; undefined when no zone is configured for transfers. */
function transferSettings(dns: DnsConfig, keyring: TsigKeyring): TransferSettings | undefined {
  const config = dns.transfers;
  if (config.zones.length === 0) return undefined;
  return {
    zones: config.zones.map((zone) => ({
      zone: zone.zone,
      allow: zone.allow,
      notify: zone.notify.map((target) => ({
        ...parseHostPort(target.address),
        key: target.key === undefined ? undefined : keyring.get(target.key),
      })),
    })),
    journalRecords: config.journalRecords,
    maxConcurrent: config.maxConcurrent,
    maxConcurrentPerSource: config.maxConcurrentPerSource,
    notifyDebounceMs: config.notifyDebounceMs,
    notifyRetryMaxMs: config.notifyRetryMaxMs,
  };
}

/**
 * The cookie secret from `dns.cookies` (inline or from a file; never logged), or a random one for this
 * process when none is configured: then replicas disagree and a client moving between them is sent a
 * new server cookie each time (still answered, but not exempt from rate limiting).
 */
function cookieSecretFromConfig(cookies: DnsConfig["cookies"], log: ReturnType<typeof logger>): Buffer {
  let text = cookies.secret;
  if (cookies.secretFile !== undefined) {
    try {
      text = readFileSync(cookies.secretFile, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "read error";
      throw new ConfigError(`dns.cookies.secretFile: the file cannot be read (${code})`);
    }
  }
  if (text === undefined) {
    log.warn(
      "dns.cookies.secret not set: using a random cookie secret for this process; replicas will not recognise each other's cookies",
    );
    return randomBytes(SECRET_SIZE);
  }
  const secret = parseCookieSecret(text);
  if (secret === undefined) throw new ConfigError("dns.cookies.secretFile: must hold 32 hex digits (16 bytes)");
  return secret;
}

/** Runs each cleanup step in turn, logging (not throwing) a failure so the remaining steps still run. */
async function settleAll(steps: (() => Promise<void> | undefined)[], log: ReturnType<typeof logger>): Promise<void> {
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      log.warn({ err }, "cleanup after a failed start failed");
    }
  }
}
