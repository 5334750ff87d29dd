// The reconcile loop: events only mark services (or everything) dirty; after a short batching
// delay one reconcile computes the desired records of what is dirty and hands the services whose
// records changed to the writer. Safe to run any number of times: the writer diffs against etcd.
import { createHash } from "node:crypto";
import type { Plan, PlanWarning } from "../federation/state.ts";
import { type Logger, logger } from "../obs/log.ts";
import { encodeService, type SkydnsService } from "../records/service.ts";
import { NotLeaderError } from "../store/writer.ts";
import { realTimers, type Timers } from "./lifecycle.ts";
import type { ControllerMetrics } from "./metrics.ts";

/** The part of the store's RecordWriter the reconciler uses. */
export interface UnitWriter {
  load(): Promise<void>;
  ownedUnits(): Promise<string[]>;
  /** The records of ours the store holds for a unit (with their `cluster` fields). */
  ownedRecords(unit: string): Promise<Map<string, SkydnsService>>;
  writeUnit(unit: string, desired: ReadonlyMap<string, SkydnsService>): Promise<{ puts: number; deletes: number }>;
}

export interface ReconcilerOptions {
  /** Desired records of the given services, or of all services when `only` is undefined. */
  plan(only: ReadonlySet<string> | undefined): Plan;
  writer: UnitWriter;
  /** Delay between the first dirty mark and the reconcile, so bursts of events make one write. */
  batchMs: number;
  /** Delay before retrying services whose write failed (doubles up to 30 s). */
  retryMs?: number;
  /** Writes in flight at once. */
  concurrency?: number;
  timers?: Timers;
  metrics?: ControllerMetrics;
  /** Member clusters that have not synced (yet): the plan knows nothing of them. */
  unsynced?: () => UnsyncedClusters;
  /** A write was refused because this replica no longer holds leadership (fenced in etcd). */
  onNotLeader?: (err: Error) => void;
}

/**
 * What the store holds of clusters the plan cannot see, and how to treat it (SPEC §5): records of a
 * cluster are not changed until it has synced (`frozen`, within the grace period of its start); past
 * that (`lapsed`) they are withdrawn like an unreachable cluster's, but never the last addresses.
 */
export interface UnsyncedClusters {
  frozen: ReadonlySet<string>;
  lapsed: ReadonlySet<string>;
}

export interface ReconcileStats {
  scope: "full" | "incremental";
  services: number;
  written: number;
  failed: number;
  /** Services left as the store has them because of unsynced clusters. */
  held: number;
}

export class Reconciler {
  private readonly options: ReconcilerOptions;
  private readonly timers: Timers;
  private readonly log: Logger;
  /** Fingerprint of the records last written (or found already in place) per service. */
  private readonly applied = new Map<string, string>();
  private dirtyAll = false;
  private readonly dirty = new Set<string>();
  private enabled = false;
  /** Next full reconcile must also delete owned units that the plan no longer has. */
  private cleanupPending = false;
  private reload = false;
  private timer: { cancel(): void } | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private warningsSeen = new Set<string>();
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  /** What the last reconcile did (tests and status). */
  lastStats: ReconcileStats | undefined;

  constructor(options: ReconcilerOptions) {
    this.options = options;
    this.timers = options.timers ?? realTimers;
    this.log = logger("reconciler");
  }

  /** Marks services (or, with "all", everything) as needing a reconcile. */
  markDirty(services: Iterable<string> | "all"): void {
    if (services === "all") this.dirtyAll = true;
    else for (const service of services) this.dirty.add(service);
    this.schedule(this.options.batchMs);
  }

  /**
   * Starts writing (this controller became leader and may write): the writer re-reads etcd, nothing
   * earlier is trusted, and the next reconcile is a full one that also removes owned leftovers.
   */
  enable(): void {
    this.enabled = true;
    this.applied.clear();
    this.reload = true;
    this.cleanupPending = true;
    this.markDirty("all");
  }

  /** Stops writing (leadership lost); dirty marks keep accumulating. */
  disable(): void {
    this.enabled = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.notifyIdle();
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  /** Resolves once nothing is dirty and no reconcile runs (or writing is disabled). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.disable();
    await this.running;
  }

  private isIdle(): boolean {
    const pending = this.dirtyAll || this.dirty.size > 0;
    return this.running === undefined && (!pending || !this.enabled || this.stopped);
  }

  private notifyIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private schedule(delayMs: number): void {
    if (!this.enabled || this.stopped || this.timer !== undefined || this.running !== undefined) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.running = this.runOnce().then(
        (stats) => {
          if (stats !== undefined) this.lastStats = stats;
        },
        (err: unknown) => this.log.error({ err: (err as Error).message }, "reconcile crashed"),
      );
      void this.running.finally(() => {
        this.running = undefined;
        if (this.dirtyAll || this.dirty.size > 0) {
          this.schedule(this.failures > 0 ? this.retryDelay() : this.options.batchMs);
        }
        this.notifyIdle();
      });
    }, delayMs);
  }

  private retryDelay(): number {
    return Math.min(30_000, (this.options.retryMs ?? 500) * 2 ** Math.min(this.failures - 1, 10));
  }

  private async runOnce(): Promise<ReconcileStats | undefined> {
    if (!this.enabled || this.stopped) return undefined;
    const full = this.dirtyAll;
    const only = full ? undefined : new Set(this.dirty);
    this.dirtyAll = false;
    this.dirty.clear();
    const started = performance.now();
    const stats: ReconcileStats = {
      scope: full ? "full" : "incremental",
      services: 0,
      written: 0,
      failed: 0,
      held: 0,
    };
    try {
      if (this.reload) {
        await this.options.writer.load();
        this.reload = false;
      }
      const plan = this.options.plan(only);
      this.report(plan.warnings, full);
      const work = new Map<string, Work>();
      for (const [service, desired] of plan.services) {
        stats.services += 1;
        const print = fingerprint(desired);
        if (this.applied.get(service) !== print) work.set(service, { desired, print });
      }
      const gone = full ? [...this.applied.keys()] : [...(only ?? [])];
      if (full && this.cleanupPending) gone.push(...(await this.options.writer.ownedUnits()));
      const absent = new Set<string>();
      for (const service of gone) {
        if (plan.services.has(service)) continue;
        absent.add(service);
        work.set(service, { desired: new Map(), print: "" });
      }
      await this.write(work, absent, stats);
      if (full && stats.failed === 0 && stats.held === 0) this.cleanupPending = false;
    } catch (err) {
      // Whatever was dirty is dirty again; the next attempt waits a little longer.
      this.failures += 1;
      this.options.metrics?.writeErrors.inc();
      if (full) this.dirtyAll = true;
      else for (const service of only ?? []) this.dirty.add(service);
      this.log.error({ err: (err as Error).message }, "reconcile failed; retrying");
      return stats;
    } finally {
      this.options.metrics?.reconcileDuration.observe((performance.now() - started) / 1000);
      this.options.metrics?.reconciles.inc({ scope: stats.scope });
    }
    if (stats.failed === 0) this.failures = 0;
    if (stats.written > 0 || stats.failed > 0) {
      this.log.debug({ ...stats, ms: Math.round(performance.now() - started) }, "reconciled");
    }
    return stats;
  }

  private async write(work: Map<string, Work>, absent: ReadonlySet<string>, stats: ReconcileStats): Promise<void> {
    const queue = [...work.entries()];
    const worker = async (): Promise<void> => {
      for (;;) {
        const next = queue.shift();
        if (next === undefined || !this.enabled) return;
        const [service, { desired, print }] = next;
        try {
          if (await this.holdsBack(service, desired)) {
            // Not recorded as applied: every later reconcile looks at it again.
            stats.held += 1;
            this.applied.delete(service);
            continue;
          }
          const result = await this.options.writer.writeUnit(service, desired);
          if (absent.has(service)) this.applied.delete(service);
          else this.applied.set(service, print);
          if (result.puts + result.deletes > 0) {
            stats.written += 1;
            this.options.metrics?.servicesWritten.inc();
          }
        } catch (err) {
          stats.failed += 1;
          this.failures += stats.failed === 1 ? 1 : 0;
          this.applied.delete(service);
          this.dirty.add(service);
          this.options.metrics?.writeErrors.inc();
          if (err instanceof NotLeaderError) {
            this.options.onNotLeader?.(err);
            return;
          }
          this.log.warn({ service, err: (err as Error).message }, "writing service records failed; will retry");
        }
      }
    };
    const workers = Math.max(1, Math.min(this.options.concurrency ?? 16, queue.length));
    await Promise.all(Array.from({ length: workers }, worker));
  }

  /** True when the service's stored records must stay as they are because of clusters that have not synced. */
  private async holdsBack(service: string, desired: ReadonlyMap<string, SkydnsService>): Promise<boolean> {
    const unsynced = this.options.unsynced?.();
    if (unsynced === undefined || (unsynced.frozen.size === 0 && unsynced.lapsed.size === 0)) return false;
    let lapsedAddresses = false;
    for (const record of (await this.options.writer.ownedRecords(service)).values()) {
      if (record.cluster === undefined) continue;
      if (unsynced.frozen.has(record.cluster)) return true;
      if (unsynced.lapsed.has(record.cluster)) lapsedAddresses = true;
    }
    const desiredAddresses = [...desired.values()].some((record) => record.cluster !== undefined);
    return lapsedAddresses && !desiredAddresses;
  }

  /** Logs each warning once while it persists; counts it when it first appears. */
  private report(warnings: readonly PlanWarning[], full: boolean): void {
    const current = new Set<string>();
    for (const warning of warnings) {
      const key = `${warning.kind}|${warning.cluster ?? ""}|${warning.service ?? ""}|${warning.message}`;
      current.add(key);
      if (this.warningsSeen.has(key)) continue;
      this.warningsSeen.add(key);
      this.options.metrics?.planWarnings.inc({ kind: warning.kind });
      this.log.warn({ kind: warning.kind, cluster: warning.cluster, service: warning.service }, warning.message);
    }
    // A full plan shows every warning that still holds; forget the rest so they are reported if they return.
    if (full) this.warningsSeen = current;
  }
}

/** A service's desired records and their fingerprint, computed once per reconcile. */
interface Work {
  desired: ReadonlyMap<string, SkydnsService>;
  print: string;
}

/** A compact identity of a desired record set: a digest, so the map of applied sets stays small. */
export function fingerprint(records: ReadonlyMap<string, SkydnsService>): string {
  const hash = createHash("sha256");
  for (const [key, service] of records) hash.update(`${key}\n${encodeService(service)}\n`);
  return hash.digest("base64");
}
