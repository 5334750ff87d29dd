// startRecordSource(options): keeps a LiveIndex equal to what the store holds under the prefix, and reports
// readiness. Each (re)load reads the prefix in pages at one revision and indexes each page as it arrives, in
// slices that yield the event loop, into a new index off to the side; the previous one keeps answering until
// the new one is complete and swapped in. Then a watch from the next revision patches it; reload after
// compaction; retries with backoff.
import { performance } from "node:perf_hooks";

import { parseSerialMarker, SERIAL_MARKER_PREFIX } from "../federation/keys.ts";
import { realTimers, type Timers } from "../obs/clock.ts";
import { logger } from "../obs/log.ts";
import { SERVING_TURN_BUDGET_MS } from "../obs/loop-budget.ts";
import { Counter, Gauge, type Registry } from "../obs/metrics.ts";
import type { IndexChange, RecordIndex, RejectedKey } from "../records/index.ts";
import type { LiveIndex } from "../records/live-index.ts";
import { normalizePrefix } from "../records/name.ts";
import { type PreparedKey, type PreparedPage, PreparedRecords } from "../records/prepared.ts";
import {
  isPermissionDenied,
  type KeyValue,
  type KvBackend,
  rangePages,
  type WatchEvent,
  type WatchHandle,
} from "./kv.ts";
import { type RetryOptions, retryDelayMs } from "./retry.ts";
import { LoaderWorkerFailure, type PreparedLoader } from "./worker-loader.ts";

/** Keys per range page: small enough that decoding one does not hold the event loop long (etcd 3.4 cost per page grows with the keys after it, so not too small either). */
export const DEFAULT_PAGE_SIZE = 5000;
/** Keys applied between two looks at the clock. */
const SLICE_KEYS = 200;
/** Serial markers read at most (one per federation domain is what the writers make); past it: skipped, counted. */
export const MAX_SERIAL_MARKERS = 1000;
/** A marker seen before the records watch has reached its revision waits this long at most for it. */
const MARKER_HOLD_MS = 2000;

export interface RecordSourceOptions {
  backend: KvBackend;
  /** Key prefix, e.g. `/skydns`; only keys below `<prefix>/` are read. */
  prefix: string;
  /** Swapped to a new index at each complete (re)load. */
  index: LiveIndex;
  registry?: Registry;
  retry?: RetryOptions;
  /** Keys per range request (default DEFAULT_PAGE_SIZE). */
  pageSize?: number;
  /** Called after each change to the index: with the changes applied, or undefined when a complete load was swapped in. */
  onChange?: (changes: readonly IndexChange[] | undefined) => void;
  /** The clock of retries and of the last event's time (tests pass a fake one). */
  timers?: Timers;
  /**
   * Called once, when the first complete load has been built and nothing is served yet (just before it is
   * swapped in): serve compacts the heap there, while a pause costs no answer.
   */
  beforeFirstSwap?: () => void;
  /**
   * Also load and watch the serial markers (federation/keys.ts SERIAL_MARKER_PREFIX) into the index, with the
   * records at the same revision (default true). Unreadable (permission denied): logged, serials as without.
   */
  serialMarkers?: boolean;
  /**
   * Full loads through this loader (serve: the loader worker, store/worker-loader.ts) instead of the backend's
   * range on this thread. When the loader itself fails (not the store), that is logged and counted, and this
   * load and all later ones are made on this thread.
   */
  loader?: PreparedLoader;
}

export interface RecordSourceStatus {
  /** True while the index follows a live watch. While false, answers come from the last state loaded. */
  ready: boolean;
  reason?: string;
  /** The store revision the index reflects. */
  revision: number;
  /** When the last watch message (events or progress) arrived, on the source's clock. */
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
  badMarkers: Counter;
  markers: Gauge;
  events: Counter;
  disconnects: Counter;
  loaderFailures: Counter;
}

export function startRecordSource(options: RecordSourceOptions): RecordSource {
  return new WatchedSource(options);
}

class WatchedSource implements RecordSource {
  readonly loaded: Promise<void>;
  private readonly backend: KvBackend;
  private readonly keyPrefix: string;
  private readonly live: LiveIndex;
  private readonly pageSize: number;
  private readonly retry: RetryOptions;
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
  private markerHandle: WatchHandle | undefined;
  private readonly serialMarkers: boolean;
  /** Markers seen on their watch before the records watch reached their revision (applied once it has). */
  private heldMarkers: { domain: string; revision: number }[] = [];
  private markerTimer: { cancel(): void } | undefined;
  private retryTimer: { cancel(): void } | undefined;
  private readonly timers: Timers;
  private attempts = 0;
  /** key -> the bad value already reported, so each distinct bad value is logged and counted once. */
  private readonly badValues = new Map<string, string>();
  private resolveLoaded: () => void = () => {};
  private readonly onChange: (changes: readonly IndexChange[] | undefined) => void;
  private readonly beforeFirstSwap: (() => void) | undefined;
  private loader: PreparedLoader | undefined;
  /** Aborted to stop a load in progress (stop, or a newer load). */
  private loadAbort = new AbortController();

  constructor(options: RecordSourceOptions) {
    this.backend = options.backend;
    this.timers = options.timers ?? realTimers;
    this.keyPrefix = `${normalizePrefix(options.prefix)}/`;
    this.live = options.index;
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    this.onChange = options.onChange ?? (() => {});
    this.beforeFirstSwap = options.beforeFirstSwap;
    this.serialMarkers = options.serialMarkers ?? true;
    this.loader = options.loader;
    this.retry = options.retry ?? {};
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
    return this.live.current.size;
  }

  get secondsSinceLastEvent(): number | undefined {
    return this.lastEventAt === undefined ? undefined : (this.timers.now() - this.lastEventAt) / 1000;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.session++;
    this.loadAbort.abort();
    this.retryTimer?.cancel();
    await this.closeWatch();
    this.setReady(false, "stopped");
  }

  /** Full read into a new index, swapped in when complete, then a watch from the revision after it. */
  private async load(): Promise<void> {
    if (this.stopped) return;
    const session = ++this.session;
    this.loadAbort.abort();
    const abort = new AbortController();
    this.loadAbort = abort;
    await this.closeWatch();
    if (this.live.loaded) this.setReady(false, "reloading records; answering from the previous complete load");
    try {
      const started = performance.now();
      let built: Built | undefined;
      const loader = this.loader;
      if (loader !== undefined) {
        try {
          built = await this.loadPrepared(loader, session, abort.signal);
        } catch (err) {
          if (!(err instanceof LoaderWorkerFailure)) throw err;
          this.metrics.loaderFailures.inc();
          this.log.error({ err }, "the loader worker failed: loading on the main thread from now on");
          this.loader = undefined;
        }
        if (session !== this.session) return;
      }
      built ??= await this.loadInThread(session);
      if (built === undefined || session !== this.session) return;
      const { index: fresh, bad, revision, keys } = built;
      const markers = this.serialMarkers ? await this.loadMarkers(fresh, revision) : false;
      if (session !== this.session) return;
      if (!this.live.loaded) this.beforeFirstSwap?.();
      this.live.swap(fresh);
      this.reportBadValues(bad, true);
      this.setRevision(revision);
      this.onChange(undefined);
      this.log.info(
        {
          backend: this.backend.description,
          revision,
          keys,
          records: fresh.size,
          ms: Math.round(performance.now() - started),
        },
        "loaded records",
      );
      this.watchHandle = await this.backend.watch(this.keyPrefix, revision + 1, {
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
      if (markers && session === this.session) await this.watchMarkers(session, revision + 1);
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
      const jittered = retryDelayMs(this.attempts++, this.retry);
      this.log.warn({ err: error, retryInMs: Math.round(jittered) }, "loading records failed");
      this.setReady(false, `loading records failed: ${error.message}`);
      this.retryTimer = this.timers.setTimeout(() => void this.load(), jittered);
    }
  }

  /** A full load on this thread: pages from the backend, indexed in slices; undefined when superseded. */
  private async loadInThread(session: number): Promise<Built | undefined> {
    const fresh = this.live.create();
    const bad: BadValue[] = [];
    let revision = 0;
    let keys = 0;
    for await (const page of rangePages(this.backend, this.keyPrefix, this.pageSize)) {
      if (session !== this.session) return undefined;
      revision = page.revision;
      keys += page.kvs.length;
      await indexInSlices(fresh, page.kvs, revision, bad);
      if (session !== this.session) return undefined;
    }
    return { index: fresh, bad, revision, keys };
  }

  /** A full load through the loader: its prepared pages put in slices; undefined when superseded. */
  private async loadPrepared(loader: PreparedLoader, session: number, signal: AbortSignal): Promise<Built | undefined> {
    const fresh = this.live.create();
    const bad: BadValue[] = [];
    let revision: number | undefined;
    let keys = 0;
    for await (const step of loader.load(this.keyPrefix, signal)) {
      if (session !== this.session) return undefined;
      // Every page is read at one revision: a worker that says otherwise is not to be believed.
      if (revision !== undefined && step.revision !== revision) {
        throw new LoaderWorkerFailure(`loader worker changed revision from ${revision} to ${step.revision}`);
      }
      revision = step.revision;
      if (step.type === "done") return { index: fresh, bad, revision, keys };
      keys += step.count + step.rejected.length;
      await putInSlices(fresh, step, bad);
      if (session !== this.session) return undefined;
    }
    if (session !== this.session) return undefined;
    throw new LoaderWorkerFailure("the loader ended without completing the load");
  }

  private applyEvents(events: WatchEvent[], revision: number): void {
    this.lastEventAt = this.timers.now();
    const applied: IndexChange[] = [];
    for (const event of events) {
      // One change at a time so a bad value is attributed to the exact event that carried it. JavaScript
      // runs no answer in between, so a txn's events still become visible together.
      const change: IndexChange =
        event.type === "put"
          ? { type: "put", key: event.key, value: event.value, revision: event.modRevision }
          : { type: "delete", key: event.key, revision: event.modRevision };
      const result = this.live.current.apply([change]);
      applied.push(change);
      if (event.type === "put" && result.rejected.length > 0) {
        this.reportBadValues(badValuesOf(result.rejected, [{ key: event.key, value: event.value }]), false);
      } else if (this.badValues.delete(event.key)) {
        this.metrics.badKeys.set(this.badValues.size);
      }
    }
    this.metrics.events.inc(events.length);
    this.setRevision(Math.max(revision, this.live.current.revision));
    this.onChange(applied);
    this.releaseMarkers(false);
  }

  private reportBadValues(rejected: BadValue[], fullLoad: boolean): void {
    if (fullLoad) {
      const stillBad = new Set(rejected.map((entry) => entry.key));
      for (const key of this.badValues.keys()) if (!stillBad.has(key)) this.badValues.delete(key);
    }
    for (const { key, error, value } of rejected) {
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
    const handles = [this.watchHandle, this.markerHandle];
    this.watchHandle = undefined;
    this.markerHandle = undefined;
    this.markerTimer?.cancel();
    this.markerTimer = undefined;
    this.heldMarkers = [];
    for (const handle of handles) if (handle !== undefined) await handle.close().catch(() => undefined);
  }

  /**
   * The serial markers at the records' revision, into the index being built. False when this identity may not
   * read them (logged: serials then ignore deletes across restarts, as without markers); other errors fail the load.
   */
  private async loadMarkers(index: RecordIndex, revision: number): Promise<boolean> {
    let kvs: KeyValue[];
    try {
      kvs = (await this.backend.range(SERIAL_MARKER_PREFIX, { revision, limit: MAX_SERIAL_MARKERS + 1 })).kvs;
    } catch (err) {
      if (!isPermissionDenied(err)) throw err;
      this.log.warn(
        { err, prefix: SERIAL_MARKER_PREFIX },
        "may not read the serial markers: after a restart a zone whose last change was a delete gets a lower serial (grant read on the prefix: docs/trust.md)",
      );
      return false;
    }
    if (kvs.length > MAX_SERIAL_MARKERS) {
      this.metrics.badMarkers.inc(kvs.length - MAX_SERIAL_MARKERS);
      this.log.warn(
        { prefix: SERIAL_MARKER_PREFIX, max: MAX_SERIAL_MARKERS },
        "too many serial markers: the rest skipped",
      );
      kvs = kvs.slice(0, MAX_SERIAL_MARKERS);
    }
    for (const kv of kvs) {
      const domain = this.markerDomain(kv.key, kv.value);
      if (domain !== undefined) index.setSerialMarker(domain, kv.modRevision || revision);
    }
    this.metrics.markers.set(index.serialMarkers);
    return true;
  }

  /** The domain of a valid marker; a bad one is logged, counted and skipped (undefined). */
  private markerDomain(key: string, value: string): string | undefined {
    const parsed = parseSerialMarker(key, value);
    if ("domain" in parsed) return parsed.domain;
    this.metrics.badMarkers.inc();
    this.log.warn({ key, error: parsed.error, value: value.slice(0, 200) }, "skipping bad serial marker");
    return undefined;
  }

  private async watchMarkers(session: number, fromRevision: number): Promise<void> {
    this.markerHandle = await this.backend.watch(SERIAL_MARKER_PREFIX, fromRevision, {
      onEvents: (events) => {
        if (session !== this.session) return;
        for (const event of events) {
          // A deleted marker leaves the serial where it was (it never goes down on a running server).
          if (event.type !== "put") continue;
          const domain = this.markerDomain(event.key, event.value);
          if (domain === undefined) continue;
          const index = this.live.current;
          if (index.serialMarkers >= MAX_SERIAL_MARKERS && !index.hasSerialMarker(domain)) {
            this.metrics.badMarkers.inc();
            continue;
          }
          this.heldMarkers.push({ domain, revision: event.modRevision });
        }
        this.releaseMarkers(this.heldMarkers.length > MAX_SERIAL_MARKERS);
      },
      onCompacted: () => {
        if (session !== this.session) return;
        this.metrics.reloads.inc();
        void this.load();
      },
      // The records watch decides readiness; this one resumes by itself.
      onDisconnected: () => {},
      onConnected: () => {},
    });
  }

  /**
   * Applies the held markers the records have caught up with (a marker moves with the deletes of its txn:
   * the serial must not move before the content does); `all` after MARKER_HOLD_MS, for a marker no records
   * event accompanies (somebody's etcdctl put). Each one that moves a serial is reported as a change.
   */
  private releaseMarkers(all: boolean): void {
    if (this.heldMarkers.length === 0) return;
    const waiting: { domain: string; revision: number }[] = [];
    let moved = false;
    for (const held of this.heldMarkers) {
      if (!all && held.revision > this.revision) waiting.push(held);
      else if (this.live.current.setSerialMarker(held.domain, held.revision)) moved = true;
    }
    this.heldMarkers = waiting;
    this.metrics.markers.set(this.live.current.serialMarkers);
    if (waiting.length === 0) {
      this.markerTimer?.cancel();
      this.markerTimer = undefined;
    } else if (this.markerTimer === undefined) {
      this.markerTimer = this.timers.setTimeout(() => {
        this.markerTimer = undefined;
        this.releaseMarkers(true);
      }, MARKER_HOLD_MS);
    }
    if (moved) this.onChange([]);
  }
}

interface BadValue extends RejectedKey {
  value: string;
}

/** A complete load, not yet swapped in. */
interface Built {
  index: RecordIndex;
  bad: BadValue[];
  revision: number;
  keys: number;
}

function badValuesOf(rejected: readonly RejectedKey[], kvs: readonly { key: string; value: string }[]): BadValue[] {
  if (rejected.length === 0) return [];
  const values = new Map(kvs.map((kv) => [kv.key, kv.value]));
  return rejected.map((entry) => ({ ...entry, value: values.get(entry.key) ?? "" }));
}

/**
 * Puts a page of keys into an index being built, SLICE_KEYS at a time, yielding the event loop whenever a
 * slice has run SERVING_TURN_BUDGET_MS, so that answers (from the previous index), keep-alives and probes go on meanwhile.
 */
async function indexInSlices(index: RecordIndex, kvs: readonly KeyValue[], revision: number, bad: BadValue[]) {
  let start = 0;
  let sliceStarted = performance.now();
  while (start < kvs.length) {
    const end = Math.min(kvs.length, start + SLICE_KEYS);
    const slice = kvs.slice(start, end);
    const changes: IndexChange[] = slice.map((kv) => ({
      type: "put",
      key: kv.key,
      value: kv.value,
      revision: kv.modRevision || revision,
    }));
    bad.push(...badValuesOf(index.apply(changes).rejected, slice));
    start = end;
    if (start < kvs.length && performance.now() - sliceStarted >= SERVING_TURN_BUDGET_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStarted = performance.now();
    }
  }
}

/** Puts a prepared page into an index being built in slices, as indexInSlices() does with raw keys. */
async function putInSlices(index: RecordIndex, page: PreparedPage, bad: BadValue[]): Promise<void> {
  for (const rejected of page.rejected) bad.push(rejected);
  const records = new PreparedRecords(page);
  let sliceStarted = performance.now();
  while (!records.done) {
    index.putPrepared(take(records, SLICE_KEYS));
    if (!records.done && performance.now() - sliceStarted >= SERVING_TURN_BUDGET_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStarted = performance.now();
    }
  }
}

function* take(records: PreparedRecords, count: number): Generator<PreparedKey> {
  for (let i = 0; i < count; i++) {
    const next = records.next();
    if (next === undefined) return;
    yield next;
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
    badMarkers: new Counter({
      name: "fedns_store_bad_serial_markers_total",
      help: "Serial markers skipped (bad key or value, or past the cap)",
      registers,
    }),
    markers: new Gauge({ name: "fedns_store_serial_markers", help: "Serial markers in the index", registers }),
    events: new Counter({ name: "fedns_store_watch_events_total", help: "Watch events applied", registers }),
    disconnects: new Counter({
      name: "fedns_store_disconnects_total",
      help: "Times the store connection was lost",
      registers,
    }),
    loaderFailures: new Counter({
      name: "fedns_store_loader_worker_failures_total",
      help: "Times the loader worker failed (crashed, exited early, sent a bad message, went silent); loads then run on the main thread",
      registers,
    }),
  };
}
