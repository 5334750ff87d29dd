// List-then-watch of one resource of one member cluster, feeding reduced objects to a sink.
// client-node's ListWatch keeps every full object in its cache and stops for good on any
// watch error other than 410; this loop keeps nothing but the resource version, relists when
// the version expired, and retries every failure with capped exponential backoff. A watch that stays
// silent (no event, no bookmark) past `watchIdleMs` is a hang: it is cut and reported as a timeout.
import { realTimers, sleep, type Timers } from "../obs/clock.ts";
import type { Logger } from "../obs/log.ts";
import { CapExceeded, jsonSizeOver, type ReflectorCaps } from "./caps.ts";
import { KubeError, kubeErrorOf } from "./kube-errors.ts";
import { keyOf, metaOf } from "./kube-objects.ts";

export interface ListPage {
  items: unknown[];
  resourceVersion: string;
  continueToken?: string;
}

export interface WatchConnection {
  abort(): void;
}

/** The two calls a reflector needs from an API server (see kube-client.ts for the real one). */
export interface ResourceClient {
  list(options: { continueToken?: string; signal: AbortSignal }): Promise<ListPage>;
  /** Opens a watch; `onDone` is called exactly once when it ends (error null: closed normally). */
  watch(
    resourceVersion: string,
    onEvent: (type: string, object: unknown) => void,
    onDone: (error: unknown) => void,
  ): Promise<WatchConnection>;
}

export interface ReflectorSink<T> {
  /** A complete list: these items and no others exist. */
  replace(items: Map<string, T>): void;
  upsert(key: string, item: T): void;
  remove(key: string): void;
  /** The API server answered (list page, watch event, watch opened). */
  contact(): void;
  /** A list or watch failed (classified); the reflector retries by itself. */
  failure(error: KubeError): void;
  /** An object that could not be reduced (skipped). */
  invalid(raw: unknown): void;
}

export interface ReflectorOptions<T> {
  resource: string;
  client: ResourceClient;
  reduce(raw: unknown): T | undefined;
  sink: ReflectorSink<T>;
  backoff?: { initialMs: number; maxMs: number };
  listTimeoutMs?: number;
  /**
   * A watch without any event or bookmark for this long is cut as hanging (API servers send a bookmark
   * about once a minute to watches that ask for them). Default 150 s.
   */
  watchIdleMs?: number;
  log: Logger;
  /** The clock of backoffs, list timeouts and watch idleness (tests pass a fake one). */
  timers?: Timers;
  /** Caps on what the API server may make this reflector hold; absent: none (tests of other things). */
  guard?: CapsGuard;
}

/** What the reflector needs to enforce its caps: the size of the store it feeds, and where to report. */
export interface CapsGuard {
  caps: ReflectorCaps;
  /** Objects the sink holds now. */
  size(): number;
  has(key: string): boolean;
  /** Past a cap: what was received is dropped, the store keeps its previous content; retried with backoff. */
  exceeded(problem: string): void;
  /** A complete list fitted within the caps again. */
  fits(): void;
}

export const DEFAULT_WATCH_IDLE_MS = 150_000;
export const DEFAULT_LIST_TIMEOUT_MS = 30_000;

export interface ListOptions<T> {
  /** For errors: `list <resource>`. */
  resource: string;
  reduce(raw: unknown): T | undefined;
  /** Per page; on `timers`. */
  timeoutMs: number;
  timers: Timers;
  /** Aborts the whole listing (stop, relist). */
  signal?: AbortSignal;
  /** A page arrived (the API server answered). */
  onPage?(): void;
  /** An object that could not be reduced (skipped). */
  onInvalid(raw: unknown): void;
  /** Past one of these the listing stops with CapExceeded (nothing of it kept). */
  caps?: ReflectorCaps;
}

export interface Listed<T> {
  /** Reduced objects keyed `namespace/name` (cluster-scoped: `name`). */
  items: Map<string, T>;
  resourceVersion: string;
}

/**
 * One complete list of a resource, page after page, each object reduced as its page arrives (no full object
 * is kept). The list half of a reflector's list-then-watch, and what `fedns check` reads a cluster with.
 */
export async function listAll<T>(client: ResourceClient, options: ListOptions<T>): Promise<Listed<T>> {
  const items = new Map<string, T>();
  let continueToken: string | undefined;
  let resourceVersion = "";
  let pages = 0;
  const caps = options.caps;
  do {
    options.signal?.throwIfAborted();
    pages += 1;
    if (caps !== undefined && pages > caps.maxListPages) {
      throw new CapExceeded(
        `list ${options.resource}: more than ${caps.maxListPages} pages (clusterCaps.maxListPages)`,
      );
    }
    const abort = new AbortController();
    const timer = options.timers.setTimeout(
      () => abort.abort(new KubeError("timeout", `list ${options.resource}: no answer in ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    const onAbort = (): void => abort.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    let page: ListPage;
    try {
      page = await client.list({ ...(continueToken === undefined ? {} : { continueToken }), signal: abort.signal });
    } finally {
      timer.cancel();
      options.signal?.removeEventListener("abort", onAbort);
    }
    options.onPage?.();
    if (caps !== undefined && items.size + page.items.length > caps.maxObjects) {
      throw new CapExceeded(`list ${options.resource}: more than ${caps.maxObjects} objects (clusterCaps.maxObjects)`);
    }
    for (const raw of page.items) {
      if (caps !== undefined) checkSize(options.resource, raw, caps);
      const meta = metaOf(raw);
      const item = options.reduce(raw);
      if (meta === undefined || item === undefined) {
        options.onInvalid(raw);
        continue;
      }
      items.set(keyOf(meta), item);
    }
    resourceVersion = page.resourceVersion;
    continueToken = page.continueToken;
  } while (continueToken !== undefined && continueToken !== "");
  return { items, resourceVersion };
}

/** Throws CapExceeded when one object is larger than clusterCaps.maxObjectBytes. */
function checkSize(resource: string, raw: unknown, caps: ReflectorCaps): void {
  if (!jsonSizeOver(raw, caps.maxObjectBytes)) return;
  const meta = metaOf(raw);
  const name = meta === undefined ? "an object" : keyOf(meta);
  throw new CapExceeded(`${resource} ${name}: larger than ${caps.maxObjectBytes} bytes (clusterCaps.maxObjectBytes)`);
}

/** A watch closed sooner than this without any event counts as the server refusing to keep it open. */
const QUICK_CLOSE_MS = 5_000;

type WatchOutcome =
  | { kind: "closed"; events: number; lastedMs: number }
  | { kind: "expired" }
  | { kind: "failed"; error: KubeError }
  | { kind: "capped"; error: CapExceeded };

export class Reflector<T> {
  private readonly options: ReflectorOptions<T>;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly timers: Timers;
  private resourceVersion = "";
  /** Set by forceRelist: the next step is a complete list even if a list just finished. */
  private relistWanted = false;
  private running = false;
  private connection: WatchConnection | undefined;
  /** Ends the current watch wait at once (stop() must not wait for a hanging connect). */
  private endWatch: (() => void) | undefined;
  private listAbort: AbortController | undefined;
  /** Aborted to cut the current backoff short. */
  private wake = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(options: ReflectorOptions<T>) {
    this.options = options;
    this.backoff = options.backoff ?? { initialMs: 250, maxMs: 10_000 };
    this.timers = options.timers ?? realTimers;
  }

  /** Starts listing and watching; `fresh` forgets the resource version so the next step is a full list. */
  start(fresh = true): void {
    if (this.running) return;
    if (fresh) this.resourceVersion = "";
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.listAbort?.abort();
    this.connection?.abort();
    this.connection = undefined;
    this.endWatch?.();
    this.retryNow();
    await this.loop;
  }

  /** Drops the resource version and the current watch: the next step is a complete list. */
  forceRelist(): void {
    this.resourceVersion = "";
    this.relistWanted = true;
    this.connection?.abort();
    this.connection = undefined;
    this.endWatch?.();
    this.retryNow();
  }

  /** Cuts a pending backoff short (the cluster answered again elsewhere). */
  retryNow(): void {
    this.wake.abort();
    this.wake = new AbortController();
  }

  private async run(): Promise<void> {
    let failures = 0;
    let quietCloses = 0;
    while (this.running) {
      try {
        if (this.resourceVersion === "" || this.relistWanted) {
          this.relistWanted = false;
          await this.relist();
          if (this.relistWanted) continue;
        }
        if (!this.running) break;
        const outcome = await this.watchOnce();
        if (!this.running) break;
        if (outcome.kind === "failed" || outcome.kind === "capped") throw outcome.error;
        failures = 0;
        if (outcome.kind === "expired") {
          this.resourceVersion = "";
          quietCloses = 0;
          continue;
        }
        // A watch the server keeps closing at once without sending anything must not become a busy loop;
        // one that ran its course (server timeout, idle) is renewed at once, or changes would wait.
        quietCloses = outcome.events === 0 && outcome.lastedMs < QUICK_CLOSE_MS ? quietCloses + 1 : 0;
        if (quietCloses > 1) await this.sleep(this.delay(quietCloses - 2));
      } catch (err) {
        if (!this.running) break;
        if (err instanceof CapExceeded) {
          // What was received is dropped; the store keeps its previous content. Retried at the slowest pace.
          this.resourceVersion = "";
          this.options.guard?.exceeded(err.message);
          await this.sleep(this.delay(20));
          continue;
        }
        const error = kubeErrorOf(err, `${this.resourceVersion === "" ? "list" : "watch"} ${this.options.resource}`);
        this.options.sink.failure(error);
        this.options.log.debug({ resource: this.options.resource, err: error.message }, "list/watch failed; retrying");
        await this.sleep(this.delay(failures));
        failures += 1;
      }
    }
  }

  private delay(attempt: number): number {
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(attempt, 20));
    // Jitter so that clusters failing together do not retry in lockstep.
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return sleep(this.timers, ms, this.wake.signal);
  }

  private async relist(): Promise<void> {
    const abort = new AbortController();
    this.listAbort = abort;
    let listed: Listed<T>;
    try {
      listed = await listAll(this.options.client, {
        resource: this.options.resource,
        reduce: this.options.reduce,
        timeoutMs: this.options.listTimeoutMs ?? DEFAULT_LIST_TIMEOUT_MS,
        timers: this.timers,
        signal: abort.signal,
        onPage: () => {
          if (this.running) this.options.sink.contact();
        },
        onInvalid: (raw) => this.options.sink.invalid(raw),
        ...(this.options.guard === undefined ? {} : { caps: this.options.guard.caps }),
      });
    } finally {
      this.listAbort = undefined;
    }
    if (!this.running) return;
    this.resourceVersion = listed.resourceVersion;
    this.options.sink.replace(listed.items);
    this.options.guard?.fits();
  }

  private watchOnce(): Promise<WatchOutcome> {
    return new Promise((resolve) => {
      let events = 0;
      const opened = this.timers.now();
      let expired = false;
      let done = false;
      const idleMs = this.options.watchIdleMs ?? DEFAULT_WATCH_IDLE_MS;
      let idleTimer: { cancel(): void } | undefined;
      // Armed before the request: a server that never answers the watch at all is a hang too.
      const armIdle = (): void => {
        idleTimer?.cancel();
        idleTimer = this.timers.setTimeout(() => {
          const connection = this.connection;
          onDone(new KubeError("timeout", `watch ${this.options.resource}: no event or bookmark for ${idleMs} ms`));
          connection?.abort();
        }, idleMs);
      };
      const onEvent = (type: string, raw: unknown): void => {
        if (done || !this.running) return;
        events += 1;
        armIdle();
        this.options.sink.contact();
        const capped = this.handleEvent(type, raw, () => {
          expired = true;
        });
        if (capped !== undefined) {
          const connection = this.connection;
          onDone(capped);
          connection?.abort();
        }
      };
      const onDone = (error: unknown): void => {
        if (done) return;
        done = true;
        idleTimer?.cancel();
        this.connection = undefined;
        this.endWatch = undefined;
        if (error instanceof CapExceeded) {
          resolve({ kind: "capped", error });
          return;
        }
        const failure =
          error === null || error === undefined ? undefined : kubeErrorOf(error, `watch ${this.options.resource}`);
        if (expired || (failure?.kind === "http" && failure.status === 410)) {
          resolve({ kind: "expired" });
        } else if (failure === undefined) {
          resolve({ kind: "closed", events, lastedMs: this.timers.now() - opened });
        } else {
          resolve({ kind: "failed", error: failure });
        }
      };
      this.endWatch = () => onDone(null);
      armIdle();
      this.options.client.watch(this.resourceVersion, onEvent, onDone).then(
        (connection) => {
          // Ended meanwhile (idle cut, stop, relist): close what the late answer opened.
          if (done || !this.running) {
            connection.abort();
            return;
          }
          this.connection = connection;
          armIdle();
          this.options.sink.contact();
        },
        (error: unknown) => onDone(error ?? new Error("watch failed")),
      );
    });
  }

  /** Applies one watch event; returns the cap it would pass (the event is then not applied). */
  private handleEvent(type: string, raw: unknown, markExpired: () => void): CapExceeded | undefined {
    if (type === "ERROR") {
      const code = (raw as { code?: unknown } | null)?.code;
      if (code === 410) markExpired();
      else this.options.log.warn({ resource: this.options.resource, status: raw }, "watch error event");
      return;
    }
    if (type === "BOOKMARK") {
      // A bookmark's object carries only its resource version (no name).
      const version = (raw as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
      if (typeof version === "string" && version !== "") this.resourceVersion = version;
      return;
    }
    const meta = metaOf(raw);
    if (meta?.resourceVersion !== undefined) this.resourceVersion = meta.resourceVersion;
    if (meta === undefined) {
      this.options.sink.invalid(raw);
      return;
    }
    const key = keyOf(meta);
    if (type === "DELETED") {
      this.options.sink.remove(key);
      return;
    }
    if (type !== "ADDED" && type !== "MODIFIED") return;
    const guard = this.options.guard;
    if (guard !== undefined) {
      try {
        checkSize(this.options.resource, raw, guard.caps);
      } catch (err) {
        return err as CapExceeded;
      }
      if (!guard.has(key) && guard.size() >= guard.caps.maxObjects) {
        return new CapExceeded(
          `watch ${this.options.resource}: more than ${guard.caps.maxObjects} objects (clusterCaps.maxObjects)`,
        );
      }
    }
    const item = this.options.reduce(raw);
    if (item === undefined) {
      // An object we cannot read is treated as absent rather than kept with stale content.
      this.options.sink.invalid(raw);
      this.options.sink.remove(key);
      return;
    }
    this.options.sink.upsert(key, item);
  }
}
