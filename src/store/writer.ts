// RecordWriter: applies the controller's desired records one unit (service) at a time. It keeps a compact view
// of what the store holds under the prefix (a digest, owner, cluster and mod revision per key), learned from a
// range read and then followed by a watch, with a periodic full resync: changes made by anybody else to the
// federation's keys (an operator's etcdctl, a restore) are reported as drift so the reconciler repairs them.
// diff() (federation/diff.ts) says what a unit needs; the writer turns that into compare-guarded, leader-fenced
// transactions, every name's changes in one transaction (txn-batches.ts), and never touches other owners' keys.
import { hash } from "node:crypto";
import {
  desiredValue,
  diff,
  hasChanges,
  normalizeValue,
  ownedEncoding,
  type ReadValue,
  readValue,
  type UnitChanges,
} from "../federation/diff.ts";
import { UNKNOWN_UNIT, type UnitOf, unitsOfOwner } from "../federation/keys.ts";
import { realTimers, type Timers } from "../obs/clock.ts";
import { logger } from "../obs/log.ts";
import { LoopBudget } from "../obs/loop-budget.ts";
import { Counter, type Registry } from "../obs/metrics.ts";
import { normalizePrefix } from "../records/name.ts";
import { ownerOf as ownerOfValue, type SkydnsService } from "../records/service.ts";
import {
  isPermissionDenied,
  type KeyValue,
  type KvBackend,
  rangePages,
  type TxnCompare,
  type TxnOp,
  type WatchEvent,
  type WatchHandle,
} from "./kv.ts";
import { DEFAULT_MAX_TXN_BYTES, opBytes, txnBatches } from "./txn-batches.ts";

/**
 * How the writer reads and writes the values of its keys: the records' codec by default (skydns JSON), the
 * short names' for `/fedns-short` (federation/short-keys.ts). Equal values must normalize to equal strings.
 */
export interface ValueCodec<V> {
  /** The stored form of a desired value with `owner` set; undefined when it would not decode. */
  desired(value: V, owner: string): string | undefined;
  /**
   * The encoding desired() starts from, without its validity check: when the store already holds a value that
   * normalizes to exactly this string, desired() would return it unchanged (a normalized value decodes), so the
   * check is skipped for records already in place. Absent: desired() for every record.
   */
  encode?(value: V, owner: string): string;
  /** A stored value in comparable form (decoded and re-encoded); undefined when undecodable. */
  normalize(raw: string): string | undefined;
  /** The `owner` field of a stored value, if any. */
  owner(raw: string): string | undefined;
  /** The `cluster` field of a desired value. */
  cluster(value: V): string | undefined;
  /** normalize(), owner() and the `cluster` field of a stored value at once (default: from those two). */
  read?(raw: string): ReadValue;
}

/** The skydns records' codec (records/service.ts, federation/diff.ts). */
export const RECORD_CODEC: ValueCodec<SkydnsService> = {
  desired: desiredValue,
  encode: ownedEncoding,
  normalize: normalizeValue,
  owner: ownerOfValue,
  cluster: (service) => service.cluster,
  read: readValue,
};

export interface RecordWriterOptions<V = SkydnsService> {
  backend: KvBackend;
  /** Value codec (default the skydns records'). */
  codec?: ValueCodec<V>;
  /** Prefix of the writer's metric names (default `fedns_controller`); one per writer sharing a registry. */
  metricPrefix?: string;
  /** Key prefix, e.g. `/skydns`. */
  prefix: string;
  /** Value of the `owner` field of every key this writer writes, e.g. `fedns/myfed` (federation/keys.ts). */
  owner: string;
  /** Maps a key to its unit; keys of one unit are written together. Default: the owner's federation's layout. */
  unitOf?: UnitOf;
  registry?: Registry;
  /** Attempts per unit when compares fail because someone else wrote meanwhile (default 5). */
  maxAttempts?: number;
  /**
   * Leader fencing: when given, every txn also compares what this returns (LeaderCampaign.fence()), so a
   * deposed leader commits nothing; writes throw NotLeaderError when it returns undefined or the fence no
   * longer holds in the store. Without it, writes are guarded by the keys' own revisions only.
   */
  fence?: () => TxnCompare | undefined;
  /** Bytes of keys and values per txn (default 1 MiB, under etcd's default --max-request-bytes of 1.5 MiB). */
  maxTxnBytes?: number;
  /** Keys per range request when reading everything (default LOAD_PAGE_KEYS). */
  loadPageKeys?: number;
  /** While following: how often everything is re-read to repair drift the watch missed (default 5 min). */
  resyncMs?: number;
  /**
   * A key put (no compare, same value) in every transaction that deletes keys, outside the prefix: the
   * federation domain's serial marker (federation/keys.ts serialMarkerKey), so that DNS servers loading
   * the store afresh still see a delete's revision in the zone's serial. Unset: nothing extra is written.
   */
  serialMarker?: { key: string; value: string };
  /** Called with the units whose keys somebody else changed (watch or resync). */
  onDrift?(units: string[]): void;
  timers?: Timers;
}

/** A write was refused or rejected because this writer's candidate is not (or no longer) the leader. */
export class NotLeaderError extends Error {
  override readonly name = "NotLeaderError";
}

export interface WriteResult {
  puts: number;
  deletes: number;
  txns: number;
  /** Desired keys not written: held by another owner, or invalid. */
  skipped: number;
}

interface StoredKey {
  /** Digest of the normalized value, so formatting differences do not count; undefined if undecodable. */
  digest: string | undefined;
  owner: string | undefined;
  cluster: string | undefined;
  modRevision: number;
}

interface WriterMetrics {
  written: Counter<"op">;
  txns: Counter<"result">;
  skipped: Counter<"reason">;
  drift: Counter<"source">;
}

const DEFAULT_RESYNC_MS = 5 * 60_000;
/**
 * Keys per range request while reading the whole prefix: one response of every key (650k at 100 clusters ×
 * 1,000 services) would be decoded in one block of seconds, held whole, and exceed the request deadline.
 */
export const LOAD_PAGE_KEYS = 10_000;
/** Keys processed between budget checks while reading the whole prefix. */
const LOAD_SLICE = 256;
/** How long a conflicting write waits for the watch to show what changed before re-reading everything. */
const CATCH_UP_MS = 2000;

/**
 * A short digest of a normalized value: the view keeps this instead of a second copy of every record. 12 base64
 * characters (72 bits): V8 keeps a slice of 13 characters or more as a view that holds the whole hash string
 * alive (88 bytes of heap per key instead of 40, one more object per key for every GC to mark).
 */
function digestOf(normalized: string | undefined): string | undefined {
  return normalized === undefined ? undefined : hash("sha1", normalized, "base64").slice(0, 12);
}

export class RecordWriter<V = SkydnsService> {
  private readonly backend: KvBackend;
  private readonly keyPrefix: string;
  private readonly owner: string;
  private readonly unitOf: UnitOf;
  private readonly maxAttempts: number;
  private readonly maxTxnBytes: number;
  private readonly fence: (() => TxnCompare | undefined) | undefined;
  private readonly options: RecordWriterOptions<V>;
  private readonly codec: ValueCodec<V>;
  private readonly timers: Timers;
  private readonly log = logger("store.writer");
  private readonly metrics: WriterMetrics;
  /** Every key under the prefix as last read, watched or written. */
  private stored = new Map<string, StoredKey>();
  /** Keys we own, by unit. */
  private owned = new Map<string, Set<string>>();
  /** Repeated strings (owners, clusters) kept once. */
  private readonly strings = new Map<string, string>();
  private loadedOnce: Promise<void> | undefined;
  /** The revision the view reflects completely (last range read or watch event). */
  private viewRevision = 0;
  private readonly unitLocks = new Map<string, Promise<unknown>>();
  /** Desired keys held by other owners that were already reported (logged once each). */
  private readonly reportedConflicts = new Set<string>();
  private following = false;
  /** The store refused the serial marker (permission): not tried again. */
  private markerRefused = false;
  private watchHandle: WatchHandle | undefined;
  private resyncTimer: { cancel(): void } | undefined;
  private catchUpWaiters: { revision: number; resolve: () => void }[] = [];
  /** Set while a full read is processed: watch events wait here. */
  private buffered: { events: WatchEvent[]; revision: number }[] | undefined;
  /**
   * Keys of our txns in flight, and the watch events seen for them meanwhile. etcd may deliver the watch event
   * of our own write before the txn's response: such an event is ours when its revision is the txn's, and is
   * judged (drift or not) once the txn has returned, not reported as somebody else's change on arrival.
   */
  private readonly inFlight = new Map<
    string,
    { txns: number; seen: { modRevision: number; record: StoredKey | undefined }[] }
  >();

  constructor(options: RecordWriterOptions<V>) {
    this.options = options;
    this.codec = options.codec ?? (RECORD_CODEC as unknown as ValueCodec<V>);
    const metric = options.metricPrefix ?? "fedns_controller";
    this.backend = options.backend;
    this.keyPrefix = `${normalizePrefix(options.prefix)}/`;
    this.owner = options.owner;
    this.unitOf = options.unitOf ?? unitsOfOwner(options.prefix, options.owner);
    this.maxAttempts = options.maxAttempts ?? 5;
    this.maxTxnBytes = options.maxTxnBytes ?? DEFAULT_MAX_TXN_BYTES;
    this.fence = options.fence;
    this.timers = options.timers ?? realTimers;
    const registers = options.registry === undefined ? [] : [options.registry];
    this.metrics = {
      written: new Counter({
        name: `${metric}_records_written_total`,
        help: "Keys written to the store, by operation (put, delete)",
        labelNames: ["op"],
        registers,
      }),
      txns: new Counter({
        name: `${metric}_txn_total`,
        help: "Store transactions by result (success, conflict, not-leader, error)",
        labelNames: ["result"],
        registers,
      }),
      skipped: new Counter({
        name: `${metric}_records_skipped_total`,
        help: "Desired keys not written, by reason (foreign-owner, invalid, wrong-unit)",
        labelNames: ["reason"],
        registers,
      }),
      drift: new Counter({
        name: `${metric}_drift_total`,
        help: "Units whose keys were changed in the store by somebody else, by how it was seen (watch, resync)",
        labelNames: ["source"],
        registers,
      }),
    };
  }

  /**
   * Follows the store: reads everything under the prefix, then watches it (reloading after compaction) and
   * re-reads everything every resync period. Resolves once the first read is done.
   */
  async follow(): Promise<void> {
    if (this.following) return this.ensureLoaded();
    this.following = true;
    try {
      await this.ensureLoaded();
      await this.watchFrom(this.viewRevision + 1);
    } catch (err) {
      this.following = false;
      throw err;
    }
    this.scheduleResync();
  }

  async stop(): Promise<void> {
    this.following = false;
    this.resyncTimer?.cancel();
    this.resyncTimer = undefined;
    const handle = this.watchHandle;
    this.watchHandle = undefined;
    await handle?.close();
    for (const waiter of this.catchUpWaiters) waiter.resolve();
    this.catchUpWaiters = [];
  }

  /** Resolves once the view of the store is loaded (the first read, when not loaded yet). */
  ready(): Promise<void> {
    return this.ensureLoaded();
  }

  /** Re-reads everything under the prefix; units whose keys differ from the view are reported as drift. */
  async load(): Promise<void> {
    const loading = this.readAll("resync");
    this.loadedOnce = loading;
    await loading;
  }

  /** Units that have keys of ours in the store (for deleting units that no longer exist). */
  ownedUnits(): string[] {
    return [...this.owned.entries()]
      .filter(([, keys]) => keys.size > 0)
      .map(([unit]) => unit)
      .sort();
  }

  /** The `cluster` fields of our records the store holds for a unit (undefined: records of no cluster). */
  storedClusters(unit: string): Set<string | undefined> {
    const clusters = new Set<string | undefined>();
    for (const key of this.owned.get(unit) ?? []) clusters.add(this.stored.get(key)?.cluster);
    return clusters;
  }

  /** What the store holds for a unit against `desired`, as diff() sees it (no write). */
  changesOf(unit: string, desired: ReadonlyMap<string, V>): UnitChanges {
    const wanted = this.prepare(unit, desired, undefined);
    return this.diffUnit(unit, wanted);
  }

  /**
   * Makes the store hold exactly `desired` for the unit, as far as we own it: puts what differs, deletes what
   * we own in the unit and is no longer desired, in one txn (split by name only past the backend's limits).
   */
  async writeUnit(unit: string, desired: ReadonlyMap<string, V>): Promise<WriteResult> {
    const previous = this.unitLocks.get(unit) ?? Promise.resolve();
    const run = previous.then(
      () => this.writeUnitNow(unit, desired),
      () => this.writeUnitNow(unit, desired),
    );
    this.unitLocks.set(unit, run);
    try {
      return await run;
    } finally {
      if (this.unitLocks.get(unit) === run) this.unitLocks.delete(unit);
    }
  }

  /** Deletes everything we own in the unit. */
  async deleteUnit(unit: string): Promise<WriteResult> {
    return this.writeUnit(unit, new Map());
  }

  private async ensureLoaded(): Promise<void> {
    if (this.loadedOnce === undefined) this.loadedOnce = this.readAll(undefined);
    try {
      await this.loadedOnce;
    } catch (err) {
      this.loadedOnce = undefined;
      throw err;
    }
  }

  private intern(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const known = this.strings.get(value);
    if (known !== undefined) return known;
    this.strings.set(value, value);
    return value;
  }

  private storedKeyOf(kv: { value: string; modRevision: number }): StoredKey {
    const read = this.codec.read?.(kv.value) ?? readWith(this.codec, kv.value);
    const owner = this.intern(read.owner);
    // Only our records' clusters are needed (last known records, grace.ts).
    const cluster = read.normalized !== undefined && owner === this.owner ? this.intern(read.cluster) : undefined;
    return { digest: digestOf(read.normalized), owner, cluster, modRevision: kv.modRevision };
  }

  /** Reads everything; `source` set: compare with the current view and report the units that differ. */
  private async readAll(source: "resync" | "compacted" | undefined): Promise<void> {
    // Watch events that arrive while the read is being processed are applied after it, in order.
    const buffer: { events: WatchEvent[]; revision: number }[] = [];
    this.buffered = buffer;
    try {
      const stored = new Map<string, StoredKey>();
      const owned = new Map<string, Set<string>>();
      const drifted = new Set<string>();
      const budget = new LoopBudget();
      const started = performance.now();
      let revision = 0;
      let count = 0;
      for await (const page of rangePages(this.backend, this.keyPrefix, this.options.loadPageKeys ?? LOAD_PAGE_KEYS)) {
        revision = page.revision;
        for (const kv of page.kvs) {
          const next = this.storedKeyOf(kv);
          stored.set(kv.key, next);
          if (next.owner === this.owner) this.addOwned(owned, kv.key);
          if (source !== undefined && differs(this.stored.get(kv.key), next)) this.noteDrift(drifted, kv.key, next);
          if (++count % LOAD_SLICE === 0) await budget.spend();
        }
      }
      const result = { revision };
      if (source !== undefined) {
        for (const [key, before] of this.stored) if (!stored.has(key)) this.noteDrift(drifted, key, before);
      }
      if (source === undefined) {
        this.log.info({ keys: count, ms: Math.round(performance.now() - started) }, "read the store's view");
      }
      if (result.revision >= this.viewRevision) {
        this.stored = stored;
        this.owned = owned;
        this.viewRevision = result.revision;
        this.reportDrift(drifted, source ?? "resync");
      }
    } finally {
      if (this.buffered === buffer) this.buffered = undefined;
      for (const { events, revision } of buffer) this.applyEvents(events, revision);
      this.releaseCatchUp();
    }
  }

  private beginInFlight(ops: readonly TxnOp[]): void {
    for (const op of ops) {
      const entry = this.inFlight.get(op.key);
      if (entry === undefined) this.inFlight.set(op.key, { txns: 1, seen: [] });
      else entry.txns += 1;
    }
  }

  /** A txn returned (`own`: the revision it applied at, if it did): the events seen meanwhile are judged now. */
  private endInFlight(ops: readonly TxnOp[], own: number | undefined): void {
    const drifted = new Set<string>();
    for (const op of ops) {
      const entry = this.inFlight.get(op.key);
      if (entry === undefined) continue;
      entry.txns -= 1;
      if (entry.txns > 0) continue;
      this.inFlight.delete(op.key);
      for (const seen of entry.seen) if (seen.modRevision !== own) this.noteDrift(drifted, op.key, seen.record);
    }
    this.reportDrift(drifted, "watch");
  }

  private noteDrift(drifted: Set<string>, key: string, record: StoredKey | undefined): void {
    const unit = this.unitOf(key);
    if (unit !== undefined) drifted.add(unit);
    else if (record?.owner === this.owner) drifted.add(UNKNOWN_UNIT);
  }

  private reportDrift(drifted: Set<string>, source: string): void {
    if (drifted.size === 0) return;
    this.metrics.drift.inc({ source }, drifted.size);
    this.log.info({ units: drifted.size, source }, "keys changed in the store by somebody else: repairing");
    this.options.onDrift?.([...drifted].sort());
  }

  private async watchFrom(revision: number): Promise<void> {
    this.watchHandle = await this.backend.watch(this.keyPrefix, revision, {
      onEvents: (events, at) => this.applyEvents(events, at),
      onCompacted: () => {
        if (!this.following) return;
        void this.restartWatch();
      },
      onDisconnected: (error) => this.log.debug({ err: error.message }, "store watch disconnected; resuming"),
      onConnected: () => {},
    });
  }

  private async restartWatch(): Promise<void> {
    const handle = this.watchHandle;
    this.watchHandle = undefined;
    await handle?.close().catch(() => undefined);
    for (let attempt = 0; this.following; attempt++) {
      try {
        await this.readAll("compacted");
        await this.watchFrom(this.viewRevision + 1);
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "re-reading the store after compaction failed; retrying");
        await new Promise<void>((resolve) => this.timers.setTimeout(resolve, Math.min(10_000, 250 * 2 ** attempt)));
      }
    }
  }

  private applyEvents(events: WatchEvent[], revision: number): void {
    if (this.buffered !== undefined) {
      this.buffered.push({ events, revision });
      return;
    }
    const drifted = new Set<string>();
    for (const event of events) {
      if (event.modRevision <= this.viewRevision) continue;
      const before = this.stored.get(event.key);
      // Our own write, already recorded when its txn returned.
      if (before !== undefined && before.modRevision >= event.modRevision) continue;
      if (event.type === "put") {
        const next = this.storedKeyOf(event);
        if (before?.owner === this.owner && next.owner !== this.owner) this.removeOwned(event.key);
        this.stored.set(event.key, next);
        if (next.owner === this.owner) this.addOwned(this.owned, event.key);
      } else {
        if (before === undefined) continue;
        this.stored.delete(event.key);
        if (before.owner === this.owner) this.removeOwned(event.key);
      }
      const record = before ?? this.stored.get(event.key);
      const flying = this.inFlight.get(event.key);
      if (flying !== undefined) flying.seen.push({ modRevision: event.modRevision, record });
      else this.noteDrift(drifted, event.key, record);
    }
    this.viewRevision = Math.max(this.viewRevision, revision);
    this.releaseCatchUp();
    this.reportDrift(drifted, "watch");
  }

  /** Resolves when the view reflects `revision` (the watch caught up), or after a while regardless. */
  private caughtUp(revision: number): Promise<void> {
    if (!this.following || this.viewRevision >= revision) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(resolve, CATCH_UP_MS);
      this.catchUpWaiters.push({
        revision,
        resolve: () => {
          timer.cancel();
          resolve();
        },
      });
    });
  }

  private releaseCatchUp(): void {
    if (this.catchUpWaiters.length === 0) return;
    const waiting: typeof this.catchUpWaiters = [];
    for (const waiter of this.catchUpWaiters) {
      if (this.viewRevision >= waiter.revision) waiter.resolve();
      else waiting.push(waiter);
    }
    this.catchUpWaiters = waiting;
  }

  private addOwned(owned: Map<string, Set<string>>, key: string): void {
    const unit = this.unitOf(key) ?? UNKNOWN_UNIT;
    let keys = owned.get(unit);
    if (keys === undefined) {
      keys = new Set();
      owned.set(unit, keys);
    }
    keys.add(key);
  }

  private removeOwned(key: string): void {
    const unit = this.unitOf(key) ?? UNKNOWN_UNIT;
    const keys = this.owned.get(unit);
    keys?.delete(key);
    if (keys?.size === 0) this.owned.delete(unit);
  }

  private async writeUnitNow(unit: string, desired: ReadonlyMap<string, V>): Promise<WriteResult> {
    const result: WriteResult = { puts: 0, deletes: 0, txns: 0, skipped: 0 };
    // One leadership term per call: a fence that changes meanwhile no longer holds and stops the write.
    const fence = this.fence?.();
    if (this.fence !== undefined && fence === undefined) {
      throw new NotLeaderError(`writing unit ${JSON.stringify(unit)}: not the leader`);
    }
    await this.ensureLoaded();
    const wanted = this.prepare(unit, desired, result);
    // etcd counts compares against --max-txn-ops too, and the fence and the serial marker are one more each.
    const marker: TxnOp | undefined =
      this.options.serialMarker === undefined ? undefined : { type: "put", ...this.options.serialMarker };
    const maxOps = Math.max(1, this.backend.maxTxnOps - (fence === undefined ? 0 : 1) - (marker === undefined ? 0 : 1));
    const maxBytes = Math.max(1, this.maxTxnBytes - (marker === undefined ? 0 : opBytes(marker)));
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const changes = this.diffUnit(unit, wanted);
      if (attempt === 1) this.countForeign(unit, changes.foreign, result);
      if (!hasChanges(changes)) return result;
      const puts: TxnOp[] = [...changes.create, ...changes.update].map((key) => ({
        type: "put",
        key,
        value: wanted.get(key)!.value,
      }));
      const deletes: TxnOp[] = changes.delete.map((key) => ({ type: "delete", key }));
      const { batches, oversized } = txnBatches([...puts, ...deletes], { maxOps, maxBytes });
      if (oversized.length > 0) {
        this.log.warn({ unit, names: oversized }, "a name's changes exceed one transaction: written in parts");
      }
      let conflictAt: number | undefined;
      for (const ops of batches) {
        const compares: TxnCompare[] = ops.map((op) => ({
          key: op.key,
          modRevision: this.stored.get(op.key)?.modRevision ?? 0,
        }));
        if (fence !== undefined) compares.push(fence);
        let outcome: { succeeded: boolean; revision: number } | undefined;
        this.beginInFlight(ops);
        try {
          outcome = await this.txnWithMarker(unit, compares, ops, marker);
        } catch (err) {
          this.metrics.txns.inc({ result: "error" });
          throw new Error(`writing unit ${JSON.stringify(unit)}: ${(err as Error).message}`, { cause: err });
        } finally {
          this.endInFlight(ops, outcome?.succeeded === true ? outcome.revision : undefined);
        }
        if (!outcome.succeeded && fence !== undefined && !(await this.fenceHolds(unit, fence))) {
          this.metrics.txns.inc({ result: "not-leader" });
          this.log.warn({ unit, fence: fence.key }, "leadership fence no longer holds: not writing");
          throw new NotLeaderError(
            `writing unit ${JSON.stringify(unit)}: no longer the leader (${fence.key} changed since elected)`,
          );
        }
        if (!outcome.succeeded) {
          this.metrics.txns.inc({ result: "conflict" });
          this.log.info({ unit, attempt }, "keys changed by someone else meanwhile: re-reading and retrying");
          conflictAt = outcome.revision;
          break;
        }
        this.metrics.txns.inc({ result: "success" });
        result.txns++;
        this.recordApplied(ops, wanted, outcome.revision, result);
      }
      if (conflictAt === undefined) return result;
      if (this.following) await this.caughtUp(conflictAt);
      if (!this.following || this.viewRevision < conflictAt) await this.load();
    }
    throw new Error(`writing unit ${JSON.stringify(unit)}: still conflicting after ${this.maxAttempts} attempts`);
  }

  /**
   * The txn, with the serial marker put in when it deletes. An identity that may not write the marker (a
   * role granted before markers existed) is told once, loudly, and the writer goes on without it: deletes
   * must not stop; only serials across DNS restarts are then as without markers (docs/zone-transfers.md).
   */
  private async txnWithMarker(
    unit: string,
    compares: TxnCompare[],
    ops: TxnOp[],
    marker: TxnOp | undefined,
  ): Promise<{ succeeded: boolean; revision: number }> {
    if (marker === undefined || this.markerRefused || !ops.some((op) => op.type === "delete")) {
      return this.backend.txn(compares, ops);
    }
    try {
      return await this.backend.txn(compares, [...ops, marker]);
    } catch (err) {
      if (!isPermissionDenied(err)) throw err;
      this.markerRefused = true;
      this.log.error(
        { unit, key: marker.key, err: (err as Error).message },
        "may not write the serial marker: writing without it (grant the controller's role readwrite on /fedns-serial/; deploy/README.md)",
      );
      return this.backend.txn(compares, ops);
    }
  }

  /** Whether the fence still holds in the store: a txn comparing only it, with no ops (writes nothing). */
  private async fenceHolds(unit: string, fence: TxnCompare): Promise<boolean> {
    try {
      return (await this.backend.txn([fence], [])).succeeded;
    } catch (err) {
      this.metrics.txns.inc({ result: "error" });
      throw new Error(`writing unit ${JSON.stringify(unit)}: checking leadership: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Desired values in their stored form; keys that must not be written are counted (when `result`) and dropped. */
  private prepare(
    unit: string,
    desired: ReadonlyMap<string, V>,
    result: WriteResult | undefined,
  ): Map<string, { value: string; digest: string; cluster: string | undefined }> {
    const wanted = new Map<string, { value: string; digest: string; cluster: string | undefined }>();
    for (const [key, service] of desired) {
      if (!key.startsWith(this.keyPrefix)) {
        this.skip(result, "invalid", { unit, key }, `key is not below ${this.keyPrefix}`);
        continue;
      }
      const unitOfKey = this.unitOf(key) ?? UNKNOWN_UNIT;
      if (unitOfKey !== unit) {
        // Otherwise the key would be tracked under another unit and deleted when that unit is cleaned up.
        this.skip(result, "wrong-unit", { unit, key, unitOfKey }, "key belongs to another unit");
        continue;
      }
      const cluster = this.intern(this.codec.cluster(service));
      // Already in place (the store's value normalizes to this very encoding): no validity decode needed.
      const encoded = this.codec.encode?.(service, this.owner);
      if (encoded !== undefined) {
        const digest = digestOf(encoded)!;
        const stored = this.stored.get(key);
        if (stored !== undefined && stored.digest === digest && stored.owner === this.owner) {
          wanted.set(key, { value: encoded, digest, cluster });
          continue;
        }
      }
      const value = this.codec.desired(service, this.owner);
      if (value === undefined) {
        this.skip(result, "invalid", { unit, key }, "invalid record value");
        continue;
      }
      wanted.set(key, { value, digest: digestOf(value)!, cluster });
    }
    return wanted;
  }

  private diffUnit(unit: string, wanted: Map<string, { digest: string }>): UnitChanges {
    const digests = new Map<string, string>();
    for (const [key, { digest }] of wanted) digests.set(key, digest);
    const current = (key: string) => {
      const stored = this.stored.get(key);
      return stored === undefined ? undefined : { value: stored.digest, owner: stored.owner };
    };
    return diff(current, this.owned.get(unit) ?? [], digests, this.owner);
  }

  private countForeign(unit: string, foreign: readonly string[], result: WriteResult): void {
    for (const key of foreign) {
      result.skipped++;
      this.metrics.skipped.inc({ reason: "foreign-owner" });
      if (this.reportedConflicts.has(key)) continue;
      this.reportedConflicts.add(key);
      const owner = this.stored.get(key)?.owner ?? null;
      this.log.warn({ unit, key, owner }, "key held by another owner: left untouched");
    }
  }

  private recordApplied(
    ops: TxnOp[],
    wanted: Map<string, { digest: string; cluster: string | undefined }>,
    revision: number,
    result: WriteResult,
  ): void {
    // The watch already showed this txn (and maybe later changes): the view is newer than what we know here.
    const seen = revision <= this.viewRevision;
    for (const op of ops) {
      if (op.type === "put") {
        if (!seen) {
          const { digest, cluster } = wanted.get(op.key)!;
          this.stored.set(op.key, { digest, owner: this.owner, cluster, modRevision: revision });
          this.addOwned(this.owned, op.key);
        }
        this.metrics.written.inc({ op: "put" });
        result.puts++;
      } else {
        if (!seen) {
          this.stored.delete(op.key);
          this.removeOwned(op.key);
        }
        this.metrics.written.inc({ op: "delete" });
        result.deletes++;
      }
    }
  }

  private scheduleResync(): void {
    if (!this.following) return;
    this.resyncTimer = this.timers.setTimeout(() => {
      this.resyncTimer = undefined;
      this.load().then(
        () => this.scheduleResync(),
        (err: unknown) => {
          this.log.warn({ err: (err as Error).message }, "periodic re-read of the store failed; retrying later");
          this.scheduleResync();
        },
      );
    }, this.options.resyncMs ?? DEFAULT_RESYNC_MS);
  }

  private skip(
    result: WriteResult | undefined,
    reason: string,
    context: Record<string, unknown>,
    message: string,
  ): void {
    if (result === undefined) return;
    result.skipped++;
    this.metrics.skipped.inc({ reason });
    this.log.warn(context, message);
  }
}

/** A codec's read() from its normalize() and owner(): the cluster field found in the normalized JSON. */
function readWith<V>(codec: ValueCodec<V>, raw: string): ReadValue {
  const normalized = codec.normalize(raw);
  const owner = codec.owner(raw);
  if (normalized === undefined) return { normalized, owner, cluster: undefined };
  const match = /"cluster":("(?:[^"\\]|\\.)*")/.exec(normalized);
  return { normalized, owner, cluster: match?.[1] === undefined ? undefined : (JSON.parse(match[1]) as string) };
}

function differs(before: StoredKey | undefined, after: StoredKey): boolean {
  return before === undefined || before.digest !== after.digest || before.owner !== after.owner;
}

export type { KeyValue };
