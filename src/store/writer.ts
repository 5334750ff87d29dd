// RecordWriter: applies the controller's desired records one unit (service) at a time: diff against what the
// store holds for our owner, one compare-guarded txn per unit, never touching other owners' keys.
// serviceUnitOf(prefix, federation): the unit (`namespace/name`) a fedns key belongs to.
import { logger } from "../obs/log.ts";
import { Counter, type Registry } from "../obs/metrics.ts";
import { normalizePrefix } from "../records/name.ts";
import { decodeService, encodeService, ownerOf, type SkydnsService } from "../records/service.ts";
import type { KvBackend, TxnCompare, TxnOp } from "./kv.ts";

/** The unit a key belongs to, or undefined when it lies outside the layout the writer manages. */
export type UnitOf = (key: string) => string | undefined;

/** Unit id for owned keys that no unit claims: deleting it removes such leftovers. */
export const UNKNOWN_UNIT = "";

export interface RecordWriterOptions {
  backend: KvBackend;
  /** Key prefix, e.g. `/skydns`. */
  prefix: string;
  /** Value of the `owner` field of every key this writer writes, e.g. `fedns/myfed`. */
  owner: string;
  /** Maps a key to its unit; keys of one unit are written together. Default: serviceUnitOf(prefix, owner's federation). */
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
  /** Value after decode/encode, so formatting differences do not count as changes; undefined if undecodable. */
  normalized: string | undefined;
  owner: string | undefined;
  modRevision: number;
}

interface WriterMetrics {
  written: Counter<"op">;
  txns: Counter<"result">;
  skipped: Counter<"reason">;
}

/**
 * Units of fedns keys: `<prefix>/<domain reversed>/[<region>/[<zone>/]]svc/<federation>/<namespace>/<service>/…`
 * belongs to unit `<namespace>/<service>`.
 */
export function serviceUnitOf(prefix: string, federation: string): UnitOf {
  const base = `${normalizePrefix(prefix)}/`;
  return (key) => {
    if (!key.startsWith(base)) return undefined;
    const segments = key.slice(base.length).split("/");
    // From the right, as a zone or domain label could also read "svc"; namespace and service names never
    // start with "_", which tells them apart from the SRV labels (`_tcp/_http`) below the service.
    for (let i = segments.length - 4; i >= 0; i--) {
      const namespace = segments[i + 2] ?? "_";
      const service = segments[i + 3] ?? "_";
      if (segments[i] !== "svc" || segments[i + 1] !== federation) continue;
      if (namespace.startsWith("_") || service.startsWith("_")) continue;
      return `${namespace}/${service}`;
    }
    return undefined;
  };
}

function normalizeValue(raw: string): string | undefined {
  const decoded = decodeService(raw);
  return decoded.ok ? encodeService(decoded.service) : undefined;
}

function chunk<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

export class RecordWriter {
  private readonly backend: KvBackend;
  private readonly keyPrefix: string;
  private readonly owner: string;
  private readonly unitOf: UnitOf;
  private readonly maxAttempts: number;
  private readonly fence: (() => TxnCompare | undefined) | undefined;
  private readonly log = logger("store.writer");
  private readonly metrics: WriterMetrics;
  /** Every key under the prefix as last read or written. */
  private stored = new Map<string, StoredKey>();
  /** Keys we own, by unit. */
  private owned = new Map<string, Set<string>>();
  private loadedOnce: Promise<void> | undefined;
  private readonly unitLocks = new Map<string, Promise<unknown>>();
  /** Desired keys held by other owners that were already reported (logged once each). */
  private readonly reportedConflicts = new Set<string>();

  constructor(options: RecordWriterOptions) {
    this.backend = options.backend;
    this.keyPrefix = `${normalizePrefix(options.prefix)}/`;
    this.owner = options.owner;
    const federation = options.owner.startsWith("fedns/") ? options.owner.slice("fedns/".length) : options.owner;
    this.unitOf = options.unitOf ?? serviceUnitOf(options.prefix, federation);
    this.maxAttempts = options.maxAttempts ?? 5;
    this.fence = options.fence;
    const registers = options.registry === undefined ? [] : [options.registry];
    this.metrics = {
      written: new Counter({
        name: "fedns_controller_records_written_total",
        help: "Keys written to the store, by operation (put, delete)",
        labelNames: ["op"],
        registers,
      }),
      txns: new Counter({
        name: "fedns_controller_txn_total",
        help: "Store transactions by result (success, conflict, not-leader, error)",
        labelNames: ["result"],
        registers,
      }),
      skipped: new Counter({
        name: "fedns_controller_records_skipped_total",
        help: "Desired keys not written, by reason (foreign-owner, invalid, wrong-unit)",
        labelNames: ["reason"],
        registers,
      }),
    };
  }

  /** (Re)reads everything under the prefix. Call when becoming leader, so no earlier term's view is trusted. */
  async load(): Promise<void> {
    const loading = this.readAll();
    this.loadedOnce = loading;
    await loading;
  }

  /** Units that have keys of ours in the store (for deleting units that no longer exist). */
  async ownedUnits(): Promise<string[]> {
    await this.ensureLoaded();
    return [...this.owned.entries()]
      .filter(([, keys]) => keys.size > 0)
      .map(([unit]) => unit)
      .sort();
  }

  /** Our keys of one unit with their stored values (undecodable ones left out). */
  async ownedRecords(unit: string): Promise<Map<string, SkydnsService>> {
    await this.ensureLoaded();
    const records = new Map<string, SkydnsService>();
    for (const key of [...(this.owned.get(unit) ?? [])].sort()) {
      const normalized = this.stored.get(key)?.normalized;
      if (normalized === undefined) continue;
      const decoded = decodeService(normalized);
      if (decoded.ok) records.set(key, decoded.service);
    }
    return records;
  }

  /**
   * Makes the store hold exactly `desired` for the unit, as far as we own it: puts what differs, deletes what
   * we own in the unit and is no longer desired, in one txn (split only past the backend's op limit).
   */
  async writeUnit(unit: string, desired: ReadonlyMap<string, SkydnsService>): Promise<WriteResult> {
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
    if (this.loadedOnce === undefined) this.loadedOnce = this.readAll();
    try {
      await this.loadedOnce;
    } catch (err) {
      this.loadedOnce = undefined;
      throw err;
    }
  }

  private async readAll(): Promise<void> {
    const result = await this.backend.range(this.keyPrefix);
    const stored = new Map<string, StoredKey>();
    const owned = new Map<string, Set<string>>();
    for (const kv of result.kvs) {
      const owner = ownerOf(kv.value);
      stored.set(kv.key, { normalized: normalizeValue(kv.value), owner, modRevision: kv.modRevision });
      if (owner === this.owner) this.addOwned(owned, kv.key);
    }
    this.stored = stored;
    this.owned = owned;
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

  private async writeUnitNow(unit: string, desired: ReadonlyMap<string, SkydnsService>): Promise<WriteResult> {
    const result: WriteResult = { puts: 0, deletes: 0, txns: 0, skipped: 0 };
    // One leadership term per call: a fence that changes meanwhile no longer holds and stops the write.
    const fence = this.fence?.();
    if (this.fence !== undefined && fence === undefined) {
      throw new NotLeaderError(`writing unit ${JSON.stringify(unit)}: not the leader`);
    }
    const wanted = this.prepare(unit, desired, result);
    // etcd counts compares against --max-txn-ops too, and the fence is one more.
    const batchSize = Math.max(1, this.backend.maxTxnOps - (fence === undefined ? 0 : 1));
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      await this.ensureLoaded();
      const { puts, deletes } = this.diff(unit, wanted, attempt === 1 ? result : undefined);
      if (puts.length + deletes.length === 0) return result;
      // New records go in before old ones go out, should the unit need more than one txn.
      const batches = chunk<TxnOp>([...puts, ...deletes], batchSize);
      let conflict = false;
      for (const ops of batches) {
        const compares: TxnCompare[] = ops.map((op) => ({
          key: op.key,
          modRevision: this.stored.get(op.key)?.modRevision ?? 0,
        }));
        if (fence !== undefined) compares.push(fence);
        let outcome: { succeeded: boolean; revision: number };
        try {
          outcome = await this.backend.txn(compares, ops);
        } catch (err) {
          this.metrics.txns.inc({ result: "error" });
          throw new Error(`writing unit ${JSON.stringify(unit)}: ${(err as Error).message}`, { cause: err });
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
          conflict = true;
          break;
        }
        this.metrics.txns.inc({ result: "success" });
        result.txns++;
        this.recordApplied(ops, outcome.revision, result);
      }
      if (!conflict) return result;
      await this.load();
    }
    throw new Error(`writing unit ${JSON.stringify(unit)}: still conflicting after ${this.maxAttempts} attempts`);
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

  /** Desired values in their stored form; keys that must not be written are counted and dropped. */
  private prepare(unit: string, desired: ReadonlyMap<string, SkydnsService>, result: WriteResult): Map<string, string> {
    const wanted = new Map<string, string>();
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
      const decoded = decodeService(encodeService({ ...service, owner: this.owner }));
      if (!decoded.ok) {
        this.skip(result, "invalid", { unit, key, error: decoded.error }, "invalid record value");
        continue;
      }
      wanted.set(key, encodeService(decoded.service));
    }
    return wanted;
  }

  private diff(
    unit: string,
    wanted: Map<string, string>,
    result: WriteResult | undefined,
  ): { puts: TxnOp[]; deletes: TxnOp[] } {
    const puts: TxnOp[] = [];
    const deletes: TxnOp[] = [];
    for (const [key, value] of wanted) {
      const current = this.stored.get(key);
      if (current !== undefined && current.owner !== this.owner) {
        if (result !== undefined) {
          result.skipped++;
          this.metrics.skipped.inc({ reason: "foreign-owner" });
        }
        if (!this.reportedConflicts.has(key)) {
          this.reportedConflicts.add(key);
          this.log.warn({ unit, key, owner: current.owner ?? null }, "key held by another owner: left untouched");
        }
        continue;
      }
      if (current?.normalized === value) continue;
      puts.push({ type: "put", key, value });
    }
    for (const key of this.owned.get(unit) ?? []) {
      if (!wanted.has(key)) deletes.push({ type: "delete", key });
    }
    const byKey = (a: TxnOp, b: TxnOp): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    return { puts: puts.sort(byKey), deletes: deletes.sort(byKey) };
  }

  private recordApplied(ops: TxnOp[], revision: number, result: WriteResult): void {
    for (const op of ops) {
      if (op.type === "put") {
        this.stored.set(op.key, { normalized: op.value, owner: this.owner, modRevision: revision });
        this.addOwned(this.owned, op.key);
        this.metrics.written.inc({ op: "put" });
        result.puts++;
      } else {
        this.stored.delete(op.key);
        this.owned.get(this.unitOf(op.key) ?? UNKNOWN_UNIT)?.delete(op.key);
        this.metrics.written.inc({ op: "delete" });
        result.deletes++;
      }
    }
  }

  private skip(result: WriteResult, reason: string, context: Record<string, unknown>, message: string): void {
    result.skipped++;
    this.metrics.skipped.inc({ reason });
    this.log.warn(context, message);
  }
}
