// The reconcile loop, client-go style: events only mark units (services) dirty; after a short batching delay
// one reconcile computes the desired records of what is dirty and hands the units whose records changed to the
// writer. Safe to run any number of times: the writer diffs against its view of etcd.
// - A unit whose write fails is retried with its own exponential backoff (jitter, cap) and forgotten on
//   success (client-go's AddRateLimited/Forget): it never delays any other unit.
// - Every reconcile plans a bounded number of units per plan() call and yields to the event loop whenever the
//   current turn has used its time budget (obs/loop-budget.ts), while planning and while diffing and writing,
//   so lease keep-alives, watches and metrics are served throughout, whatever the size of the federation.
// - Memo: given `signature`, a unit whose inputs are the same as when its records were last written (or found
//   in place) is not planned again; any change of its inputs, or a new term of leadership, replans it.
import { hash } from "node:crypto";
import type { HeldUnit, PlanWarning } from "../federation/state.ts";
import { isPolicyKind } from "../federation/trust.ts";
import { realTimers, sleep, type Timers } from "../obs/clock.ts";
import { type Logger, logger } from "../obs/log.ts";
import { DEFAULT_TURN_BUDGET_MS, LoopBudget } from "../obs/loop-budget.ts";
import { encodeService, type SkydnsService } from "../records/service.ts";
import { NotLeaderError } from "../store/writer.ts";
import type { ControllerMetrics } from "./metrics.ts";
import { RateLimiter } from "./rate-limiter.ts";

/** The part of the store's RecordWriter the reconciler uses (V: the value type, skydns records by default). */
export interface UnitWriter<V = SkydnsService> {
  /** Resolves once the writer's view of the store is loaded. */
  ready(): Promise<void>;
  /** Units that have keys of ours in the store. */
  ownedUnits(): string[];
  writeUnit(unit: string, desired: ReadonlyMap<string, V>): Promise<{ puts: number; deletes: number }>;
}

/** What plan() returns, for any value type (federation/state.ts Plan for the records). */
export interface UnitPlan<V = SkydnsService> {
  /** unit -> key -> value: the complete desired set of each unit. */
  services: Map<string, Map<string, V>>;
  warnings: PlanWarning[];
  /** Units left exactly as the store holds them. */
  held: ReadonlyMap<string, HeldUnit>;
}

export interface ReconcilerOptions<V = SkydnsService> {
  /** A value's canonical text, for the fingerprint of a unit's desired set (default: the skydns encoding). */
  encode?(value: V): string;
  /** Desired records of the given units, or of all units when `only` is undefined. */
  plan(only: ReadonlySet<string> | undefined): UnitPlan<V>;
  /** Every unit the federation state knows; given, a full reconcile plans it in slices of `sliceUnits`. */
  units?(): Iterable<string>;
  /** Called once before the slices of a full reconcile (the controller refreshes what it tracks for all units). */
  beginFull?(): void;
  writer: UnitWriter<V>;
  /** Delay between the first dirty mark and the reconcile, so bursts of events make one write. */
  batchMs: number;
  /** Per-unit retry backoff after a failed write (default 500 ms doubling to 30 s, ±20 % jitter). */
  retry?: { initialMs: number; maxMs: number };
  /** Units per plan() call (default 8); the budget is checked between calls. */
  sliceUnits?: number;
  /** How long one turn of the event loop may run before the reconcile yields (default DEFAULT_TURN_BUDGET_MS, 10 ms). */
  turnBudgetMs?: number;
  /** The work clock of that budget in ms (tests; default performance.now). */
  workClock?: () => number;
  /**
   * What a unit's records depend on, as values compared by identity (SameValueZero), element by element: while
   * it is unchanged since the unit's records were last written or found in place, the unit is not planned
   * again. Anything plan() reads for the unit must be in it (or in an element that changes with it).
   */
  signature?(unit: string): readonly unknown[] | undefined;
  /** Writes in flight at once. */
  concurrency?: number;
  timers?: Timers;
  metrics?: ControllerMetrics;
  /** A write was refused because this replica no longer holds leadership (fenced in etcd). */
  onNotLeader?: (err: Error) => void;
  /** Called after each slice of work (tests count the units handled per synchronous step). */
  onSlice?: (units: number) => void;
}

export interface ReconcileStats {
  scope: "full" | "incremental";
  services: number;
  written: number;
  failed: number;
  /** Services left as the store has them (plan.held: clusters not synced). */
  held: number;
}

// 8 units (~500 keys at 100 clusters): p99 of the loop delay 33 ms against 40–57 ms with 25 (bench/reconcile), same CPU.
const DEFAULT_SLICE_UNITS = 8;
/** Units whose planned work is collected before it is written (bounds the desired records held at once). */
const WRITE_BATCH_UNITS = 200;
const NO_WARNINGS: readonly PlanWarning[] = Object.freeze([]);
/** How long stop() waits for writes in flight. */
const STOP_WAIT_MS = 500;

export class Reconciler<V = SkydnsService> {
  private readonly options: ReconcilerOptions<V>;
  private readonly encode: (value: V) => string;
  private readonly timers: Timers;
  private readonly log: Logger;
  /** Per unit: fingerprint of the records last written (or found already in place), and what they came from. */
  private readonly applied = new Map<string, Applied>();
  /** Warnings of the last plan() call about no service in particular (clusters, locations). */
  private generalWarnings: readonly PlanWarning[] = NO_WARNINGS;
  private dirtyAll = false;
  private readonly dirty = new Set<string>();
  private enabled = false;
  /** Next full reconcile must also delete owned units that the plan no longer has. */
  private cleanupPending = false;
  private timer: { cancel(): void } | undefined;
  private running: Promise<void> | undefined;
  /** Reconciles that failed as a whole (the store's view could not be read): they back off together. */
  private failures = 0;
  /** Per-unit backoff of failed writes, and the retries waiting for it. */
  private readonly limiter: RateLimiter;
  private readonly retries = new Map<string, { cancel(): void }>();
  private warningsSeen = new Set<string>();
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  /** What the last reconcile did (tests and status). */
  lastStats: ReconcileStats | undefined;

  constructor(options: ReconcilerOptions<V>) {
    this.options = options;
    this.encode = options.encode ?? (encodeService as unknown as (value: V) => string);
    this.timers = options.timers ?? realTimers;
    this.log = logger("reconciler");
    this.limiter = new RateLimiter(options.retry ?? { initialMs: 500, maxMs: 30_000 });
  }

  /** Marks units (or, with "all", everything) as needing a reconcile. */
  markDirty(units: Iterable<string> | "all"): void {
    if (units === "all") this.dirtyAll = true;
    else for (const unit of units) this.dirty.add(unit);
    this.schedule(this.options.batchMs);
  }

  /** The store no longer holds what was written for these units (drift): reconcile them from scratch. */
  invalidate(units: Iterable<string>): void {
    const list = [...units];
    for (const unit of list) this.applied.delete(unit);
    if (list.includes("")) this.cleanupPending = true;
    this.markDirty(list.filter((unit) => unit !== ""));
    if (list.includes("")) this.markDirty("all");
  }

  /**
   * Starts writing (this controller became leader and may write): nothing this replica wrote in an earlier
   * term is trusted, and the next reconcile is a full one (in slices) that also removes owned leftovers.
   */
  enable(): void {
    this.enabled = true;
    this.applied.clear();
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

  /** Stops writing; waits for the writes in flight at most `waitMs` (they are fenced: abandoning them is safe). */
  async stop(waitMs = STOP_WAIT_MS): Promise<void> {
    this.stopped = true;
    this.disable();
    for (const retry of this.retries.values()) retry.cancel();
    this.retries.clear();
    if (this.running !== undefined) await Promise.race([this.running, sleep(this.timers, waitMs)]);
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
          this.schedule(this.failures > 0 ? this.wholeRetryDelay() : this.options.batchMs);
        }
        this.notifyIdle();
      });
    }, delayMs);
  }

  private wholeRetryDelay(): number {
    const retry = this.options.retry ?? { initialMs: 500, maxMs: 30_000 };
    return Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(this.failures - 1, 20));
  }

  /** client-go's AddRateLimited: the unit comes back after its own backoff. */
  private retryLater(unit: string): void {
    if (this.retries.has(unit)) return;
    const delay = this.limiter.when(unit);
    this.retries.set(
      unit,
      this.timers.setTimeout(() => {
        this.retries.delete(unit);
        this.markDirty([unit]);
      }, delay),
    );
  }

  private async runOnce(): Promise<ReconcileStats | undefined> {
    if (!this.enabled || this.stopped) return undefined;
    const full = this.dirtyAll;
    const only = full ? undefined : new Set(this.dirty);
    this.dirtyAll = false;
    this.dirty.clear();
    const started = performance.now();
    const stats: ReconcileStats = { scope: full ? "full" : "incremental", services: 0, written: 0, failed: 0, held: 0 };
    const warnings: PlanWarning[] = [];
    try {
      await this.options.writer.ready();
      const budget = new LoopBudget(this.options.turnBudgetMs ?? DEFAULT_TURN_BUDGET_MS, this.options.workClock);
      if (only === undefined && this.options.units === undefined) {
        await this.reconcileAll(warnings, stats, budget);
      } else {
        let units: string[];
        if (only !== undefined) {
          units = [...only];
        } else {
          // Each step walks every unit (100k shards at 100 clusters): the turn may end between them.
          this.options.beginFull?.();
          await budget.spend();
          const all = new Set(this.options.units!());
          for (const unit of this.applied.keys()) all.add(unit);
          await budget.spend();
          if (this.cleanupPending) for (const unit of this.options.writer.ownedUnits()) all.add(unit);
          await budget.spend();
          units = [...all].sort();
        }
        for (let i = 0; i < units.length && this.enabled && !this.stopped; i += WRITE_BATCH_UNITS) {
          await this.reconcileUnits(units.slice(i, i + WRITE_BATCH_UNITS), warnings, stats, budget);
        }
        // Once per reconcile: every plan() call repeats them (clusters, locations), unit slices do not.
        warnings.push(...this.generalWarnings);
      }
      this.report(warnings, full);
      if (full) this.options.metrics?.held.set(stats.held);
      if (full && stats.failed === 0 && stats.held === 0) this.cleanupPending = false;
      this.failures = 0;
    } catch (err) {
      // Whatever was dirty is dirty again; the next attempt waits a little longer.
      this.failures += 1;
      this.options.metrics?.writeErrors.inc();
      if (full) this.dirtyAll = true;
      else for (const unit of only ?? []) this.dirty.add(unit);
      this.log.error({ err: (err as Error).message }, "reconcile failed; retrying");
      return stats;
    } finally {
      this.options.metrics?.reconcileDuration.observe((performance.now() - started) / 1000);
      this.options.metrics?.reconciles.inc({ scope: stats.scope });
    }
    if (full) this.log.info({ ...stats, ms: Math.round(performance.now() - started) }, "full reconcile done");
    else if (stats.written > 0 || stats.failed > 0) {
      this.log.debug({ ...stats, ms: Math.round(performance.now() - started) }, "reconciled");
    }
    return stats;
  }

  /** Plans everything in one plan() call and writes it (a reconciler without `units`: small federations, tests). */
  private async reconcileAll(warnings: PlanWarning[], stats: ReconcileStats, budget: LoopBudget): Promise<void> {
    const plan = this.options.plan(undefined);
    warnings.push(...plan.warnings);
    // Held units are left as the store has them, and not recorded as applied: every later plan decides again.
    stats.held += plan.held.size;
    for (const unit of plan.held.keys()) this.applied.delete(unit);
    const work = new Map<string, Work<V>>();
    for (const [unit, desired] of plan.services) {
      stats.services += 1;
      const print = fingerprintWith(desired, this.encode);
      if (this.applied.get(unit)?.print !== print)
        work.set(unit, { desired, print, signature: undefined, warnings: [] });
    }
    const gone = [...this.applied.keys(), ...(this.cleanupPending ? this.options.writer.ownedUnits() : [])];
    const absent = new Set<string>();
    for (const unit of gone) {
      if (plan.services.has(unit) || plan.held.has(unit)) continue;
      absent.add(unit);
      work.set(unit, { desired: new Map(), print: "", signature: undefined, warnings: [] });
    }
    this.options.onSlice?.(plan.services.size);
    await this.write(work, absent, stats, budget);
  }

  /**
   * Plans some units, `sliceUnits` per plan() call with the budget checked in between (units whose signature is
   * unchanged are not planned), then writes those whose records differ from what was last applied.
   */
  private async reconcileUnits(
    units: readonly string[],
    warnings: PlanWarning[],
    stats: ReconcileStats,
    budget: LoopBudget,
  ): Promise<void> {
    const size = Math.max(1, this.options.sliceUnits ?? DEFAULT_SLICE_UNITS);
    const work = new Map<string, Work<V>>();
    const absent = new Set<string>();
    for (let i = 0; i < units.length && this.enabled && !this.stopped; i += size) {
      await budget.spend();
      const slice = units.slice(i, i + size);
      const toPlan = new Map<string, readonly unknown[] | undefined>();
      for (const unit of slice) {
        const signature = this.options.signature?.(unit);
        const known = this.applied.get(unit);
        if (signature !== undefined && known?.signature !== undefined && sameSignature(known.signature, signature)) {
          // Same inputs as when its records were applied: same records, same warnings.
          stats.services += 1;
          warnings.push(...known.warnings);
          continue;
        }
        toPlan.set(unit, signature);
      }
      this.options.onSlice?.(slice.length);
      if (toPlan.size === 0) continue;
      const plan = this.options.plan(new Set(toPlan.keys()));
      const byUnit = new Map<string, PlanWarning[]>();
      const general: PlanWarning[] = [];
      for (const warning of plan.warnings) {
        const list = warning.service === undefined ? undefined : byUnit.get(warning.service);
        if (warning.service === undefined || !toPlan.has(warning.service)) {
          general.push(warning);
          continue;
        }
        warnings.push(warning);
        if (list === undefined) byUnit.set(warning.service, [warning]);
        else list.push(warning);
      }
      this.generalWarnings = general.length === 0 ? NO_WARNINGS : general;
      stats.held += plan.held.size;
      for (const [unit, signature] of toPlan) {
        if (plan.held.has(unit)) {
          this.applied.delete(unit);
          continue;
        }
        const unitWarnings = byUnit.get(unit) ?? NO_WARNINGS;
        const desired = plan.services.get(unit);
        if (desired === undefined) {
          absent.add(unit);
          work.set(unit, { desired: new Map(), print: "", signature: undefined, warnings: unitWarnings });
          continue;
        }
        stats.services += 1;
        const known = this.applied.get(unit);
        // Nothing applied to compare with (a new term: every unit): the writer's diff decides, no fingerprint now.
        const print = known === undefined ? undefined : fingerprintWith(desired, this.encode);
        if (print !== undefined && known?.print === print) {
          // Already in place: remember what it came from, so that the next unchanged pass skips it.
          known.signature = signature;
          known.warnings = unitWarnings;
        } else {
          work.set(unit, { desired, print, signature, warnings: unitWarnings });
        }
      }
    }
    await this.write(work, absent, stats, budget);
  }

  private async write(
    work: Map<string, Work<V>>,
    absent: ReadonlySet<string>,
    stats: ReconcileStats,
    budget: LoopBudget,
  ): Promise<void> {
    const queue = [...work.entries()].reverse();
    const worker = async (): Promise<void> => {
      for (;;) {
        // A unit whose records are in place costs a diff and no I/O: without this the chain never yields.
        await budget.spend();
        const next = queue.pop();
        if (next === undefined || !this.enabled) return;
        const [unit, { desired, print, signature, warnings }] = next;
        try {
          const result = await this.options.writer.writeUnit(unit, desired);
          this.limiter.forget(unit);
          if (absent.has(unit)) this.applied.delete(unit);
          else this.applied.set(unit, { print, signature, warnings });
          if (result.puts + result.deletes > 0) {
            stats.written += 1;
            this.options.metrics?.servicesWritten.inc();
          }
        } catch (err) {
          stats.failed += 1;
          this.applied.delete(unit);
          this.options.metrics?.writeErrors.inc();
          if (err instanceof NotLeaderError) {
            this.dirty.add(unit);
            this.options.onNotLeader?.(err);
            return;
          }
          this.retryLater(unit);
          const level = this.limiter.retries(unit) <= 1 ? "warn" : "debug";
          this.log[level]({ unit, err: (err as Error).message }, "writing service records failed; will retry");
        }
      }
    };
    const workers = Math.max(1, Math.min(this.options.concurrency ?? 16, queue.length));
    await Promise.all(Array.from({ length: workers }, worker));
  }

  /** Logs each warning once while it persists; counts it when it first appears. */
  private report(warnings: readonly PlanWarning[], full: boolean): void {
    const current = new Set<string>();
    for (const warning of warnings) {
      const key = `${warning.kind}|${warning.cluster ?? ""}|${warning.service ?? ""}|${warning.message}`;
      if (current.has(key)) continue;
      current.add(key);
      if (this.warningsSeen.has(key)) continue;
      this.warningsSeen.add(key);
      this.options.metrics?.planWarnings.inc({ kind: warning.kind });
      if (isPolicyKind(warning.kind))
        this.options.metrics?.refused.inc({ cluster: warning.cluster ?? "", kind: warning.kind });
      this.log.warn({ kind: warning.kind, cluster: warning.cluster, service: warning.service }, warning.message);
    }
    // A full plan shows every warning that still holds; forget the rest so they are reported if they return.
    if (full) this.warningsSeen = current;
  }
}

/** A unit's desired records and their fingerprint, computed once per reconcile, and what they came from. */
interface Work<V> {
  desired: ReadonlyMap<string, V>;
  /** Undefined: not computed (nothing applied to compare with); the next plan of the unit computes it. */
  print: string | undefined;
  signature: readonly unknown[] | undefined;
  warnings: readonly PlanWarning[];
}

/** What was last applied for a unit: its records' fingerprint, the inputs they came from and their warnings. */
interface Applied {
  /** Undefined: written without one (see Work); the next plan of the unit goes to the writer's diff once. */
  print: string | undefined;
  signature: readonly unknown[] | undefined;
  warnings: readonly PlanWarning[];
}

export function sameSignature(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** A compact identity of a desired record set: a digest, so the map of applied sets stays small. */
export function fingerprint(records: ReadonlyMap<string, SkydnsService>): string {
  return fingerprintWith(records, encodeService);
}

function fingerprintWith<V>(records: ReadonlyMap<string, V>, encode: (value: V) => string): string {
  // One string hashed in one call: a hash object updated per record cost more than the hashing.
  let text = "";
  for (const [key, value] of records) text += `${key}\n${encode(value)}\n`;
  return hash("sha256", text, "base64");
}
