// Load balancer ingress hostnames resolved to addresses (SPEC §2: flattened, as Federation v1 did).
// Each wanted hostname is resolved when first seen and again every refresh interval; a change
// calls onChange so the reconciler rewrites. A failed lookup keeps the previous result for a
// while (better a stale address than none), then drops it.
import { lookup as dnsLookup } from "node:dns/promises";
import { type Logger, logger } from "../obs/log.ts";
import { realTimers, type Timers } from "./lifecycle.ts";
import type { ControllerMetrics } from "./metrics.ts";

export type HostnameLookup = (hostname: string) => Promise<string[]>;

export const systemLookup: HostnameLookup = async (hostname) => {
  const results = await dnsLookup(hostname, { all: true, verbatim: true });
  return results.map((result) => result.address);
};

export interface HostnameResolverOptions {
  lookup?: HostnameLookup;
  refreshMs?: number;
  /** How long a result survives failed refreshes; default 5 refresh intervals. */
  keepFailedMs?: number;
  timers?: Timers;
  metrics?: ControllerMetrics;
  onChange(): void;
}

interface Entry {
  addresses: string[];
  resolvedAt: number | undefined;
  inFlight: boolean;
}

export class HostnameResolver {
  private readonly entries = new Map<string, Entry>();
  /** What plan() reads: hostname -> sorted addresses (absent while unresolved). */
  readonly resolved = new Map<string, string[]>();
  private readonly lookup: HostnameLookup;
  private readonly refreshMs: number;
  private readonly keepFailedMs: number;
  private readonly timers: Timers;
  private readonly options: HostnameResolverOptions;
  private readonly log: Logger;
  private refreshTimer: { cancel(): void } | undefined;
  private stopped = false;
  /** Lookups in flight, by hostname. */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(options: HostnameResolverOptions) {
    this.options = options;
    this.lookup = options.lookup ?? systemLookup;
    this.refreshMs = options.refreshMs ?? 60_000;
    this.keepFailedMs = options.keepFailedMs ?? this.refreshMs * 5;
    this.timers = options.timers ?? realTimers;
    this.log = logger("hostnames");
    this.scheduleRefresh();
  }

  /** The hostnames currently referenced by some ingress: new ones are resolved now, unused ones dropped. */
  want(hostnames: Iterable<string>): void {
    const wanted = new Set<string>();
    for (const hostname of hostnames) wanted.add(hostname.toLowerCase());
    for (const hostname of [...this.entries.keys()]) {
      if (!wanted.has(hostname)) {
        this.entries.delete(hostname);
        this.resolved.delete(hostname);
      }
    }
    this.add(wanted);
  }

  /** Adds hostnames without dropping any (incremental reconciles see only some services). */
  add(hostnames: Iterable<string>): void {
    for (const name of hostnames) {
      const hostname = name.toLowerCase();
      if (this.entries.has(hostname)) continue;
      this.entries.set(hostname, { addresses: [], resolvedAt: undefined, inFlight: false });
      const lookup = this.resolve(hostname).finally(() => this.pending.delete(hostname));
      this.pending.set(hostname, lookup);
    }
  }

  /**
   * Adds the hostnames and waits until each has had a first answer (or failure), at most
   * `timeoutMs`: the first write after start-up must not drop addresses merely not looked up yet.
   */
  async settle(hostnames: Iterable<string>, timeoutMs = 5000): Promise<void> {
    this.add(hostnames);
    const pending = [...this.pending.values()];
    if (pending.length === 0) return;
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = this.timers.setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all(pending), timeout]);
    timer?.cancel();
  }

  /** Resolves every wanted hostname again (also runs every refresh interval). */
  async refresh(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((hostname) => this.resolve(hostname)));
  }

  stop(): void {
    this.stopped = true;
    this.refreshTimer?.cancel();
  }

  private scheduleRefresh(): void {
    if (this.stopped) return;
    this.refreshTimer = this.timers.setTimeout(() => {
      void this.refresh().finally(() => this.scheduleRefresh());
    }, this.refreshMs);
  }

  private async resolve(hostname: string): Promise<void> {
    const entry = this.entries.get(hostname);
    if (entry === undefined || entry.inFlight) return;
    entry.inFlight = true;
    let addresses: string[] | undefined;
    try {
      addresses = [...new Set(await this.lookup(hostname))].sort();
      this.options.metrics?.hostnameLookups.inc({ result: "ok" });
    } catch (err) {
      this.options.metrics?.hostnameLookups.inc({ result: "error" });
      this.log.warn({ hostname, err: (err as Error).message }, "load balancer hostname did not resolve");
    } finally {
      entry.inFlight = false;
    }
    if (this.stopped || this.entries.get(hostname) !== entry) return;
    const now = this.timers.now();
    if (addresses === undefined) {
      // Keep the last good answer for a while; past that the hostname stops contributing.
      if (entry.resolvedAt === undefined || now - entry.resolvedAt < this.keepFailedMs) return;
      addresses = [];
    } else {
      entry.resolvedAt = now;
    }
    const before = this.resolved.get(hostname);
    if (before !== undefined && sameList(before, addresses)) return;
    if (before === undefined && addresses.length === 0) return;
    entry.addresses = addresses;
    if (addresses.length === 0) this.resolved.delete(hostname);
    else this.resolved.set(hostname, addresses);
    this.log.info({ hostname, addresses }, "load balancer hostname resolved");
    this.options.onChange();
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
