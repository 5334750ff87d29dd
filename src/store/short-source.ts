// startShortSource(): keeps the DNS server's ShortData (federation/short-names.ts) equal to what the controller
// publishes under `<prefix>/<F>/`: one range read, then a watch from the next revision (reloaded after
// compaction, retried with backoff). Nothing is read from etcd per query, and while etcd is away the last
// state keeps answering. Every change is applied in place (a shard; a client network, re-deciding its best
// claim in the prefix trie). Bad values are logged once, counted, skipped.

import { decodeShortValue, parseShortKey, type ShortValue, shortBase } from "../federation/short-keys.ts";
import { ShortData } from "../federation/short-names.ts";
import { realTimers, type Timers } from "../obs/clock.ts";
import { logger } from "../obs/log.ts";
import { LoopBudget, SERVING_TURN_BUDGET_MS } from "../obs/loop-budget.ts";
import { Counter, Gauge, type Registry } from "../obs/metrics.ts";
import { type KvBackend, rangePages, type WatchEvent, type WatchHandle } from "./kv.ts";
import { retryDelayMs } from "./retry.ts";

export interface ShortSourceOptions {
  backend: KvBackend;
  /** The short-name prefix (default `/fedns-short` in the config). */
  prefix: string;
  federation: string;
  registry?: Registry;
  /** Networks kept in the trie, at most (default 1 000 000). */
  maxNetworks?: number;
  /** Keys of the prefix kept, at most (default 2 000 000): a flood of keys must not grow memory without bound. */
  maxKeys?: number;
  /** The clock of the retry timer (tests). */
  timers?: Timers;
  /** The work clock of the load's turn budget, in ms (tests pass a fake one; default performance.now). */
  workClock?: () => number;
}

export interface ShortSource {
  /** What answers use; undefined until the first complete read. */
  data(): ShortData | undefined;
  /** True while following a live watch. */
  ready(): boolean;
  revision(): number;
  readonly loaded: Promise<void>;
  stop(): Promise<void>;
}

const PAGE_SIZE = 5000;
const DEFAULT_MAX_KEYS = 2_000_000;

export function startShortSource(options: ShortSourceOptions): ShortSource {
  return new WatchedShortSource(options);
}

class WatchedShortSource implements ShortSource {
  readonly loaded: Promise<void>;
  private readonly options: ShortSourceOptions;
  private readonly base: string;
  private readonly maxKeys: number;
  private readonly log = logger("store.short");
  private entries = new Map<string, ShortValue>();
  private current: ShortData | undefined;
  private live = false;
  private rev = 0;
  private stopped = false;
  private session = 0;
  private attempts = 0;
  private handle: WatchHandle | undefined;
  private retryTimer: { cancel(): void } | undefined;
  private readonly timers: Timers;
  private readonly badKeys = new Map<string, string>();
  private resolveLoaded: () => void = () => {};
  private readonly metrics: { bad: Counter; networks: Gauge; ready: Gauge };

  constructor(options: ShortSourceOptions) {
    this.options = options;
    this.base = shortBase(options.prefix, options.federation);
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    this.timers = options.timers ?? realTimers;
    const registers = options.registry === undefined ? [] : [options.registry];
    const source = this;
    this.metrics = {
      bad: new Counter({
        name: "fedns_short_bad_values_total",
        help: "Distinct bad values seen under the short-name prefix; skipped",
        registers,
      }),
      networks: new Gauge({
        name: "fedns_short_client_networks",
        help: "Client networks the DNS server maps askers with (short names)",
        registers,
        collect() {
          this.set(source.current?.networks ?? 0);
        },
      }),
      ready: new Gauge({ name: "fedns_short_ready", help: "1 while short-name data follows a live watch", registers }),
    };
    this.loaded = new Promise((resolve) => {
      this.resolveLoaded = resolve;
    });
    void this.load();
  }

  data(): ShortData | undefined {
    return this.current;
  }

  ready(): boolean {
    return this.live;
  }

  revision(): number {
    return this.rev;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.session++;
    this.retryTimer?.cancel();
    await this.closeWatch();
    this.setLive(false);
  }

  private async load(): Promise<void> {
    if (this.stopped) return;
    const session = ++this.session;
    await this.closeWatch();
    try {
      // Built next to the state that keeps answering, in turns of the serving budget (a federation's short
      // data is one key per service shard: 100k keys at 100 clusters x 1,000 services), then swapped in.
      const budget = new LoopBudget(SERVING_TURN_BUDGET_MS, this.options.workClock);
      const fresh = new Map<string, ShortValue>();
      let revision = 0;
      for await (const page of rangePages(this.options.backend, this.base, PAGE_SIZE)) {
        if (session !== this.session) return;
        revision = page.revision;
        for (const kv of page.kvs) {
          const value = this.decode(kv.key, kv.value);
          if (value !== undefined && fresh.size < this.maxKeys) fresh.set(kv.key, value);
          await budget.spend();
        }
      }
      const data = new ShortData([], this.base, this.options.maxNetworks);
      for (const [key, value] of fresh) {
        data.put(key, value);
        await budget.spend();
        if (session !== this.session) return;
      }
      if (data.refused > 0)
        this.log.warn({ refused: data.refused }, "client networks past the limit or invalid: skipped");
      this.entries = fresh;
      this.current = data;
      this.rev = revision;
      this.log.info({ revision, keys: fresh.size, networks: this.current?.networks }, "loaded short-name data");
      this.handle = await this.options.backend.watch(this.base, revision + 1, {
        onEvents: (events, at) => {
          if (session === this.session) this.apply(events, at);
        },
        onCompacted: () => {
          if (session === this.session) void this.load();
        },
        onDisconnected: (error) => {
          if (session !== this.session) return;
          if (this.live) this.log.warn({ err: error.message }, "store disconnected: answering short names from memory");
          this.setLive(false);
        },
        onConnected: () => {
          if (session === this.session) this.setLive(true);
        },
      });
      if (session !== this.session) {
        await this.closeWatch();
        return;
      }
      this.attempts = 0;
      this.setLive(true);
      this.resolveLoaded();
    } catch (err) {
      if (session !== this.session || this.stopped) return;
      const jittered = retryDelayMs(this.attempts++);
      this.log.warn({ err: (err as Error).message, retryInMs: Math.round(jittered) }, "loading short-name data failed");
      this.setLive(false);
      this.retryTimer = this.timers.setTimeout(() => void this.load(), jittered);
    }
  }

  private apply(events: WatchEvent[], revision: number): void {
    for (const event of events) {
      const decoded = event.type === "put" ? this.decode(event.key, event.value) : undefined;
      const before = this.entries.get(event.key);
      // Past the key limit a new key is not kept (and not answered from); a known one still changes.
      const value =
        decoded !== undefined && (before !== undefined || this.entries.size < this.maxKeys) ? decoded : undefined;
      if (value === undefined) this.entries.delete(event.key);
      else this.entries.set(event.key, value);
      this.current?.put(event.key, value);
    }
    this.rev = Math.max(this.rev, revision);
  }

  /** The value, or undefined (logged once per distinct bad value, counted) when it does not decode. */
  private decode(key: string, raw: string): ShortValue | undefined {
    if (parseShortKey(this.base, key) === undefined) return undefined;
    const decoded = decodeShortValue(raw);
    if (decoded.ok) {
      this.badKeys.delete(key);
      return decoded.value;
    }
    if (this.badKeys.get(key) !== raw) {
      if (this.badKeys.size < 10_000) this.badKeys.set(key, raw);
      this.metrics.bad.inc();
      this.log.warn({ key, error: decoded.error }, "skipping bad short-name value");
    }
    return undefined;
  }

  private setLive(live: boolean): void {
    this.live = live;
    this.metrics.ready.set(live ? 1 : 0);
  }

  private async closeWatch(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle !== undefined) await handle.close().catch(() => undefined);
  }
}
