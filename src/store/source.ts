// startRecordSource(options): keeps a RecordIndex equal to what the store holds under the prefix (range read,
// then a watch from the next revision; reload after compaction; retries with backoff), and reports readiness.

import { logger } from "../obs/log.ts";
import { Counter, Gauge, type Registry } from "../obs/metrics.ts";
import type { IndexChange, RecordIndex, RejectedKey } from "../records/index.ts";
import { normalizePrefix } from "../records/name.ts";
import type { KeyValue, KvBackend, WatchEvent, WatchHandle } from "./kv.ts";

export interface RetryOptions {
  initialMs?: number;
  maxMs?: number;
}

export interface RecordSourceOptions {
  backend: KvBackend;
  /** Key prefix, e.g. `/skydns`; only keys below `<prefix>/` are read. */
  prefix: string;
  index: RecordIndex;
  registry?: Registry;
  retry?: RetryOptions;
}

export interface RecordSourceStatus {
  /** True while the index follows a live watch. While false, answers come from the last state loaded. */
  ready: boolean;
  reason?: string;
  /** The store revision the index reflects. */
  revision: number;
  /** Date.now() of the last watch message (events or progress). */
  lastEventAt?: number;
}

export interface RecordSource {
  status(): RecordSourceStatus;
  /** Resolves once the first full load has succeeded (the source keeps retrying until then). */
  readonly loaded: Promise<void>;
  stop(): Promise<void>;
}

interface SourceMetrics {
  revision: Gauge;
  records: Gauge;
  ready: Gauge;
  lastEventAge: Gauge;
  reloads: Counter;
  badRecords: Counter;
  badKeys: Gauge;
  events: Counter;
  disconnects: Counter;
}

export function startRecordSource(options: RecordSourceOptions): RecordSource {
  return new WatchedSource(options);
}

class WatchedSource implements RecordSource {
  readonly loaded: Promise<void>;
  private readonly backend: KvBackend;
  private readonly keyPrefix: string;
  private readonly index: RecordIndex;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly log = logger("store.source");
  private readonly metrics: SourceMetrics;
  private ready = false;
  private reason: string | undefined = "loading";
  private revision = 0;
  private lastEventAt: number | undefined;
  private stopped = false;
  /** Each load starts a new session; callbacks of older watches are ignored. */
  private session = 0;
  private watchHandle: WatchHandle | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  /** key -> the bad value already reported, so each distinct bad value is logged and counted once. */
  private readonly badValues = new Map<string, string>();
  private resolveLoaded: () => void = () => {};

  constructor(options: RecordSourceOptions) {
    this.backend = options.backend;
    this.keyPrefix = `${normalizePrefix(options.prefix)}/`;
    this.index = options.index;
    this.retryInitialMs = options.retry?.initialMs ?? 100;
    this.retryMaxMs = options.retry?.maxMs ?? 5000;
    this.metrics = createMetrics(options.registry, this);
    this.loaded = new Promise((resolve) => {
      this.resolveLoaded = resolve;
    });
    void this.load();
  }

  status(): RecordSourceStatus {
    const status: RecordSourceStatus = { ready: this.ready, revision: this.revision };
    if (!this.ready && this.reason !== undefined) status.reason = this.reason;
    if (this.lastEventAt !== undefined) status.lastEventAt = this.lastEventAt;
    return status;
  }

  get indexSize(): number {
    return this.index.size;
  }

  get secondsSinceLastEvent(): number | undefined {
    return this.lastEventAt === undefined ? undefined : (Date.now() - this.lastEventAt) / 1000;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.session++;
    clearTimeout(this.retryTimer);
    await this.closeWatch();
    this.setReady(false, "stopped");
  }

  /** Full read, then a watch from the revision after it. Answers keep coming from the old index meanwhile. */
  private async load(): Promise<void> {
    if (this.stopped) return;
    const session = ++this.session;
    await this.closeWatch();
    try {
      const result = await this.backend.range(this.keyPrefix);
      if (session !== this.session) return;
      const applied = this.index.replaceAll(result.kvs, result.revision);
      this.reportBadValues(applied.rejected, new Map(result.kvs.map((kv: KeyValue) => [kv.key, kv.value])), true);
      this.setRevision(result.revision);
      this.log.info(
        { backend: this.backend.description, revision: result.revision, keys: result.kvs.length },
        "loaded records",
      );
      this.watchHandle = await this.backend.watch(this.keyPrefix, result.revision + 1, {
        onEvents: (events, revision) => {
          if (session === this.session) this.applyEvents(events, revision);
        },
        onCompacted: (compactRevision) => {
          if (session !== this.session) return;
          this.log.warn({ compactRevision, revision: this.revision }, "watch compacted away: reloading");
          this.metrics.reloads.inc();
          void this.load();
        },
        onDisconnected: (error) => {
          if (session !== this.session) return;
          if (this.ready) this.log.warn({ err: error, backend: this.backend.description }, "store disconnected");
          this.metrics.disconnects.inc();
          this.setReady(false, `store disconnected: ${error.message}`);
        },
        onConnected: () => {
          if (session !== this.session) return;
          if (!this.ready) this.log.info({ backend: this.backend.description }, "store connected");
          this.setReady(true);
        },
      });
      if (session !== this.session) {
        await this.closeWatch();
        return;
      }
      this.attempts = 0;
      this.setReady(true);
      this.resolveLoaded();
    } catch (err) {
      if (session !== this.session || this.stopped) return;
      const error = err as Error;
      const delay = Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** this.attempts++);
      const jittered = delay / 2 + Math.random() * (delay / 2);
      this.log.warn({ err: error, retryInMs: Math.round(jittered) }, "loading records failed");
      this.setReady(false, `loading records failed: ${error.message}`);
      this.retryTimer = setTimeout(() => void this.load(), jittered);
    }
  }

  private applyEvents(events: WatchEvent[], revision: number): void {
    this.lastEventAt = Date.now();
    for (const event of events) {
      // One change at a time so a bad value is attributed to the exact event that carried it. JavaScript
      // runs no answer in between, so a txn's events still become visible together.
      const change: IndexChange =
        event.type === "put"
          ? { type: "put", key: event.key, value: event.value, revision: event.modRevision }
          : { type: "delete", key: event.key, revision: event.modRevision };
      const applied = this.index.apply([change]);
      if (event.type === "put" && applied.rejected.length > 0) {
        this.reportBadValues(applied.rejected, new Map([[event.key, event.value]]), false);
      } else if (this.badValues.delete(event.key)) {
        this.metrics.badKeys.set(this.badValues.size);
      }
    }
    this.metrics.events.inc(events.length);
    this.setRevision(Math.max(revision, this.index.revision));
  }

  private reportBadValues(rejected: RejectedKey[], values: Map<string, string>, fullLoad: boolean): void {
    if (fullLoad) {
      const stillBad = new Set(rejected.map((entry) => entry.key));
      for (const key of this.badValues.keys()) if (!stillBad.has(key)) this.badValues.delete(key);
    }
    for (const { key, error } of rejected) {
      const value = values.get(key) ?? "";
      if (this.badValues.get(key) === value) continue;
      this.badValues.set(key, value);
      this.metrics.badRecords.inc();
      this.log.warn({ key, error, value: value.slice(0, 200) }, "skipping bad record");
    }
    this.metrics.badKeys.set(this.badValues.size);
  }

  private setRevision(revision: number): void {
    this.revision = Math.max(this.revision, revision);
    this.metrics.revision.set(this.revision);
  }

  private setReady(ready: boolean, reason?: string): void {
    this.ready = ready;
    this.reason = ready ? undefined : reason;
    this.metrics.ready.set(ready ? 1 : 0);
  }

  private async closeWatch(): Promise<void> {
    const handle = this.watchHandle;
    this.watchHandle = undefined;
    if (handle !== undefined) await handle.close().catch(() => undefined);
  }
}

function createMetrics(registry: Registry | undefined, source: WatchedSource): SourceMetrics {
  const registers = registry === undefined ? [] : [registry];
  return {
    revision: new Gauge({ name: "fedns_store_revision", help: "Store revision the record index reflects", registers }),
    records: new Gauge({
      name: "fedns_store_records",
      help: "Records in the in-memory index",
      registers,
      collect() {
        this.set(source.indexSize);
      },
    }),
    ready: new Gauge({ name: "fedns_store_ready", help: "1 while the index follows a live watch", registers }),
    lastEventAge: new Gauge({
      name: "fedns_store_last_event_age_seconds",
      help: "Seconds since the last watch message (events or progress notification)",
      registers,
      collect() {
        const age = source.secondsSinceLastEvent;
        if (age !== undefined) this.set(age);
      },
    }),
    reloads: new Counter({
      name: "fedns_store_reloads_total",
      help: "Full reloads after the watch was compacted away",
      registers,
    }),
    badRecords: new Counter({
      name: "fedns_store_bad_records_total",
      help: "Distinct bad values seen (invalid JSON, wrong field types, invalid addresses); skipped",
      registers,
    }),
    badKeys: new Gauge({ name: "fedns_store_bad_keys", help: "Keys currently holding a bad value", registers }),
    events: new Counter({ name: "fedns_store_watch_events_total", help: "Watch events applied", registers }),
    disconnects: new Counter({
      name: "fedns_store_disconnects_total",
      help: "Times the store connection was lost",
      registers,
    }),
  };
}
