// Load balancer ingress hostnames resolved to addresses (SPEC §2: flattened, as Federation v1 did), under the
// trust rules of docs/trust.md: only names federation/hostnames.ts accepts are looked up, as absolute names
// (trailing dot), over DNS through an explicitly configured resolver (Node's c-ares Resolver: never search
// domains, never /etc/hosts), at most `concurrency` at a time, each bounded by a timeout. An answer is
// looked up again when its record TTL runs out (clamped to [minRefreshMs, maxRefreshMs]); a failure is
// retried with backoff and keeps the last good answer for `keepFailedMs` (the grace period), then drops
// it. A change calls onChange so the reconciler rewrites. The addresses themselves are checked by plan()
// like any load-balancer IP, with the rules of the cluster that published the hostname (trust.ts).
import { Resolver } from "node:dns/promises";
import { hostnameKey, hostnameProblem } from "../federation/hostnames.ts";
import { realTimers, type Timers } from "../obs/clock.ts";
import { type Logger, logger } from "../obs/log.ts";
import type { ControllerMetrics } from "./metrics.ts";

/** What one lookup found: the addresses and the smallest TTL of their records (seconds), when known. */
export interface HostnameAnswer {
  addresses: string[];
  ttl?: number;
}

/** Resolves one hostname (given in hostnameKey form); throws when it cannot (an `code` tells why). */
export type HostnameLookup = (hostname: string) => Promise<HostnameAnswer>;

export interface DnsLookupOptions {
  /** Name servers, `ip` or `ip:port` (`[v6]:port`); empty or absent: the system's (/etc/resolv.conf). */
  servers?: readonly string[];
  /** Per try (c-ares `timeout`). */
  timeoutMs?: number;
  /** Tries per server (c-ares `tries`). */
  tries?: number;
}

/** Answers that mean "this name has no such address", not "the lookup failed". */
const NO_ADDRESS = new Set(["ENODATA", "ENOTFOUND"]);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Lookups over DNS with Node's c-ares Resolver: A and AAAA of the absolute name. A name with neither
 * record throws ENODATA/ENOTFOUND; a failure of either family (timeout, SERVFAIL, refused) fails the
 * whole lookup, so a half answer never replaces a complete one.
 */
export function dnsLookup(options: DnsLookupOptions = {}): { lookup: HostnameLookup; cancel(): void } {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: options.tries ?? 2 });
  if (options.servers !== undefined && options.servers.length > 0) resolver.setServers([...options.servers]);
  const lookup: HostnameLookup = async (hostname) => {
    const name = `${hostnameKey(hostname)}.`;
    const families = await Promise.allSettled([
      resolver.resolve4(name, { ttl: true }),
      resolver.resolve6(name, { ttl: true }),
    ]);
    const addresses: string[] = [];
    let ttl: number | undefined;
    for (const family of families) {
      if (family.status === "rejected") {
        if (NO_ADDRESS.has(codeOf(family.reason) ?? "")) continue;
        throw family.reason;
      }
      for (const record of family.value) {
        addresses.push(record.address);
        ttl = ttl === undefined ? record.ttl : Math.min(ttl, record.ttl);
      }
    }
    if (addresses.length === 0) {
      const notFound = families.some((family) => family.status === "rejected" && codeOf(family.reason) === "ENOTFOUND");
      throw Object.assign(new Error(`${name} has no A or AAAA record`), { code: notFound ? "ENOTFOUND" : "ENODATA" });
    }
    return ttl === undefined ? { addresses } : { addresses, ttl };
  };
  return { lookup, cancel: () => resolver.cancel() };
}

export interface HostnameResolverOptions {
  /** Default: dnsLookup() with the system's name servers. */
  lookup?: HostnameLookup;
  /** Lookups in flight at most (default 8). */
  concurrency?: number;
  /** A lookup without an answer in this time has failed (default 10 s; the Resolver's own timeout is shorter). */
  lookupTimeoutMs?: number;
  /** Floor of the refresh interval (record TTL) and first retry delay after a failure (default 5 s). */
  minRefreshMs?: number;
  /** Ceiling of the refresh interval and of the retry backoff (default 60 s). */
  maxRefreshMs?: number;
  /** How long a result survives failed lookups (the grace period; default 60 s). */
  keepFailedMs?: number;
  timers?: Timers;
  metrics?: ControllerMetrics;
  onChange(): void;
}

type LookupResult = "ok" | "empty" | "error" | "timeout";

interface Entry {
  readonly key: string;
  state: "idle" | "queued" | "running";
  goodAt: number | undefined;
  failures: number;
  timer: { cancel(): void } | undefined;
  /** Resolves after the first lookup (answer or failure). */
  readonly first: Promise<void>;
  firstDone: () => void;
}

export class HostnameResolver {
  private readonly entries = new Map<string, Entry>();
  /** What plan() reads: hostname (hostnameKey form) -> sorted addresses (absent while unresolved). */
  readonly resolved = new Map<string, string[]>();
  private readonly lookup: HostnameLookup;
  private readonly cancelLookups: (() => void) | undefined;
  private readonly concurrency: number;
  private readonly lookupTimeoutMs: number;
  private readonly minRefreshMs: number;
  private readonly maxRefreshMs: number;
  private readonly keepFailedMs: number;
  private readonly timers: Timers;
  private readonly options: HostnameResolverOptions;
  private readonly log: Logger;
  /** Keys waiting for a lookup slot, in order; each entry is queued at most once. */
  private queue: string[] = [];
  private running = 0;
  private stopped = false;

  constructor(options: HostnameResolverOptions) {
    this.options = options;
    if (options.lookup === undefined) {
      const system = dnsLookup();
      this.lookup = system.lookup;
      this.cancelLookups = system.cancel;
    } else {
      this.lookup = options.lookup;
      this.cancelLookups = undefined;
    }
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    this.lookupTimeoutMs = options.lookupTimeoutMs ?? 10_000;
    this.maxRefreshMs = options.maxRefreshMs ?? 60_000;
    this.minRefreshMs = Math.min(options.minRefreshMs ?? 5000, this.maxRefreshMs);
    this.keepFailedMs = options.keepFailedMs ?? 60_000;
    this.timers = options.timers ?? realTimers;
    this.log = logger("hostnames");
  }

  /** The hostnames currently referenced by some ingress: new ones are resolved, unused ones dropped. */
  want(hostnames: Iterable<string>): void {
    const wanted = new Set<string>();
    for (const hostname of hostnames) wanted.add(hostnameKey(hostname));
    for (const [key, entry] of this.entries) {
      if (wanted.has(key)) continue;
      entry.timer?.cancel();
      entry.firstDone();
      this.entries.delete(key);
      this.resolved.delete(key);
    }
    this.add(wanted);
  }

  /** Adds hostnames without dropping any (incremental reconciles see only some services). */
  add(hostnames: Iterable<string>): void {
    if (this.stopped) return;
    for (const hostname of hostnames) {
      const key = hostnameKey(hostname);
      // Refused names are never looked up; plan() reports them (hostname-refused).
      if (this.entries.has(key) || hostnameProblem(key) !== undefined) continue;
      let firstDone = (): void => {};
      const first = new Promise<void>((resolve) => {
        firstDone = resolve;
      });
      const entry: Entry = {
        key,
        state: "idle",
        goodAt: undefined,
        failures: 0,
        timer: undefined,
        first,
        firstDone,
      };
      this.entries.set(key, entry);
      this.enqueue(entry);
    }
  }

  /**
   * Adds the hostnames and waits until each has had a first answer (or failure), at most
   * `timeoutMs`: the first write after start-up must not drop addresses merely not looked up yet.
   */
  async settle(hostnames: Iterable<string>, timeoutMs = 5000): Promise<void> {
    const keys = [...hostnames].map(hostnameKey);
    this.add(keys);
    const pending = keys.flatMap((key) => {
      const entry = this.entries.get(key);
      return entry === undefined ? [] : [entry.first];
    });
    if (pending.length === 0) return;
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = this.timers.setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all(pending), timeout]);
    timer?.cancel();
  }

  /** Looks every wanted hostname up again now (through the queue). */
  refresh(): void {
    for (const entry of this.entries.values()) this.enqueue(entry);
  }

  /** Lookups waiting for a slot (tests, metrics). */
  get queued(): number {
    return this.queue.length;
  }

  stop(): void {
    this.stopped = true;
    for (const entry of this.entries.values()) {
      entry.timer?.cancel();
      entry.firstDone();
    }
    this.queue = [];
    this.cancelLookups?.();
  }

  private enqueue(entry: Entry): void {
    if (this.stopped || entry.state !== "idle") return;
    entry.timer?.cancel();
    entry.timer = undefined;
    entry.state = "queued";
    this.queue.push(entry.key);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.running < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift()!;
      const entry = this.entries.get(key);
      if (entry === undefined || entry.state !== "queued") continue;
      entry.state = "running";
      this.running += 1;
      void this.run(entry).finally(() => {
        this.running -= 1;
        entry.state = "idle";
        this.pump();
      });
    }
    this.options.metrics?.hostnameQueue.set(this.queue.length);
  }

  private async run(entry: Entry): Promise<void> {
    let answer: HostnameAnswer | undefined;
    let result: LookupResult = "ok";
    let failure: unknown;
    let timer: { cancel(): void } | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = this.timers.setTimeout(
          () => reject(Object.assign(new Error(`no answer in ${this.lookupTimeoutMs} ms`), { code: "ETIMEOUT" })),
          this.lookupTimeoutMs,
        );
      });
      answer = await Promise.race([this.lookup(entry.key), timeout]);
    } catch (err) {
      failure = err;
      const code = codeOf(err);
      result = NO_ADDRESS.has(code ?? "") ? "empty" : code === "ETIMEOUT" ? "timeout" : "error";
    } finally {
      timer?.cancel();
    }
    this.options.metrics?.hostnameLookups.inc({ result });
    if (this.stopped || this.entries.get(entry.key) !== entry) {
      entry.firstDone();
      return;
    }
    const now = this.timers.now();
    let delay: number;
    if (answer !== undefined) {
      entry.failures = 0;
      entry.goodAt = now;
      const ttlMs = answer.ttl === undefined ? this.maxRefreshMs : answer.ttl * 1000;
      delay = clamp(ttlMs, this.minRefreshMs, this.maxRefreshMs);
      this.publish(entry, [...new Set(answer.addresses)].sort());
    } else {
      entry.failures += 1;
      const fields = { hostname: entry.key, result, err: (failure as Error | undefined)?.message };
      if (entry.failures === 1) this.log.warn(fields, "load balancer hostname did not resolve; retrying with backoff");
      else this.log.debug(fields, "load balancer hostname still does not resolve");
      delay = clamp(this.minRefreshMs * 2 ** Math.min(entry.failures - 1, 20), this.minRefreshMs, this.maxRefreshMs);
      const keptUntil = entry.goodAt === undefined ? undefined : entry.goodAt + this.keepFailedMs;
      if (keptUntil !== undefined && now >= keptUntil) {
        // The last good answer has outlived the grace period: the hostname stops contributing.
        entry.goodAt = undefined;
        this.log.info(
          { hostname: entry.key },
          "load balancer hostname failing past the grace period; addresses dropped",
        );
        this.publish(entry, undefined);
      } else if (keptUntil !== undefined) {
        // Retry no later than the end of the grace period, so a dead name is dropped on time.
        delay = Math.max(1, Math.min(delay, keptUntil - now));
      }
    }
    entry.firstDone();
    entry.timer = this.timers.setTimeout(() => {
      entry.timer = undefined;
      if (this.entries.get(entry.key) === entry) this.enqueue(entry);
    }, delay);
  }

  private publish(entry: Entry, addresses: string[] | undefined): void {
    const before = this.resolved.get(entry.key);
    const next = addresses === undefined || addresses.length === 0 ? undefined : addresses;
    if (before === undefined && next === undefined) return;
    if (before !== undefined && next !== undefined && sameList(before, next)) return;
    if (next === undefined) this.resolved.delete(entry.key);
    else this.resolved.set(entry.key, next);
    if (next !== undefined) this.log.info({ hostname: entry.key, addresses: next }, "load balancer hostname resolved");
    this.options.onChange();
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
