// createMemoryBackend(): an in-memory KvBackend with etcd's semantics where fedns relies on them
// (revisions, watch history and compaction, compare-guarded txns, a simple election), for `fedns dev` and tests.
import type {
  KeyValue,
  KvBackend,
  LeaderCampaign,
  RangeOptions,
  RangeResult,
  TxnCompare,
  TxnOp,
  TxnResult,
  WatchEvent,
  WatchHandle,
  WatchHandlers,
} from "./kv.ts";

export interface MemoryBackendOptions {
  /** Largest txn accepted, as etcd's --max-txn-ops (default 128). */
  maxTxnOps?: number;
}

/** The memory backend, plus controls tests use to simulate what a real etcd does to its clients. */
export interface MemoryBackend extends KvBackend {
  /** The current store revision (0 before the first write). */
  readonly revision: number;
  /** Convenience writes outside a txn (one revision each), like `etcdctl put` / `etcdctl del`. */
  put(key: string, value: string): Promise<number>;
  delete(key: string): Promise<number>;
  get(key: string): KeyValue | undefined;
  /** Drops history up to `revision` (default: the current one); watches behind it see onCompacted. */
  compact(revision?: number): void;
  /** false: calls reject and watches are disconnected; true: watches resume from where they were. */
  setAvailable(available: boolean): void;
}

interface StoredValue {
  value: string;
  modRevision: number;
}

interface HistoryEntry {
  revision: number;
  events: WatchEvent[];
}

interface MemoryWatch {
  prefix: string;
  handlers: WatchHandlers;
  /** Next revision this watch must deliver. */
  next: number;
  closed: boolean;
}

interface Candidate {
  name: string;
  campaign: MemoryCampaign;
}

const DEFAULT_MAX_TXN_OPS = 128;
const MAX_HISTORY = 10_000;

export function createMemoryBackend(options: MemoryBackendOptions = {}): MemoryBackend {
  return new MemoryKv(options.maxTxnOps ?? DEFAULT_MAX_TXN_OPS);
}

class MemoryCampaign implements LeaderCampaign {
  readonly elected: Promise<void>;
  /** This candidate's election key (see MemoryKv.electionKeys). */
  private readonly key: TxnCompare;
  private leader = false;
  private done = false;
  private lost = false;
  private readonly lostListeners: ((reason: Error) => void)[] = [];
  private resolveElected: () => void = () => {};
  private readonly onResign: (campaign: MemoryCampaign) => void;

  constructor(key: TxnCompare, onResign: (campaign: MemoryCampaign) => void) {
    this.key = key;
    this.onResign = onResign;
    this.elected = new Promise((resolve) => {
      this.resolveElected = resolve;
    });
  }

  isLeader(): boolean {
    return this.leader;
  }

  fence(): TxnCompare | undefined {
    return this.leader ? this.key : undefined;
  }

  onLost(listener: (reason: Error) => void): void {
    this.lostListeners.push(listener);
  }

  async resign(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.leader = false;
    this.onResign(this);
  }

  win(): void {
    if (this.done || this.leader) return;
    this.leader = true;
    this.resolveElected();
  }

  lose(reason: Error): void {
    const wasLeader = this.leader;
    this.leader = false;
    this.done = true;
    if (wasLeader && !this.lost) {
      this.lost = true;
      for (const listener of this.lostListeners) listener(reason);
    }
  }
}

class MemoryKv implements MemoryBackend {
  readonly description = "memory";
  readonly maxTxnOps: number;
  private data = new Map<string, StoredValue>();
  private history: HistoryEntry[] = [];
  private rev = 0;
  private compacted = 0;
  private available = true;
  private closed = false;
  private watches = new Set<MemoryWatch>();
  private elections = new Map<string, Candidate[]>();
  /**
   * Candidates' election keys (`election/<name>/<n>`) and their mod revisions, which txn compares see. Kept
   * apart from the data so campaigns take no revisions; the "revision" is a positive number unique per key.
   */
  private electionKeys = new Map<string, number>();
  private electionSeq = 0;

  constructor(maxTxnOps: number) {
    this.maxTxnOps = maxTxnOps;
  }

  get revision(): number {
    return this.rev;
  }

  /**
   * Pages (`limit`, `after`) are cut from the current state: this store keeps no history, so a `revision`
   * is not honoured, and a paged read racing writes may mix revisions (a watch from the first page's
   * revision + 1 replays what changed meanwhile, so a reader still converges).
   */
  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    this.checkUsable();
    const after = options.after;
    let kvs: KeyValue[] = [];
    for (const [key, stored] of this.data) {
      if (key.startsWith(prefix) && (after === undefined || key > after)) {
        kvs.push({ key, value: stored.value, modRevision: stored.modRevision });
      }
    }
    kvs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const limit = options.limit ?? 0;
    if (limit <= 0 || kvs.length <= limit) return { kvs, revision: this.rev };
    kvs = kvs.slice(0, limit);
    return { kvs, revision: this.rev, more: true, next: kvs[kvs.length - 1]!.key };
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle> {
    this.checkUsable();
    const watch: MemoryWatch = { prefix, handlers, next: Math.max(1, fromRevision), closed: false };
    this.watches.add(watch);
    // Like etcd, a watch is created first and fed afterwards, never inside the caller's await.
    setImmediate(() => {
      if (watch.closed || !this.available) return;
      handlers.onConnected();
      this.catchUp(watch);
    });
    return {
      close: async () => {
        watch.closed = true;
        this.watches.delete(watch);
      },
    };
  }

  async txn(compares: TxnCompare[], ops: TxnOp[]): Promise<TxnResult> {
    this.checkUsable();
    if (compares.length > this.maxTxnOps || ops.length > this.maxTxnOps) {
      throw new Error(`etcdserver: too many operations in txn request (limit ${this.maxTxnOps})`);
    }
    const seen = new Set<string>();
    for (const op of ops) {
      if (seen.has(op.key)) throw new Error(`etcdserver: duplicate key given in txn request: ${op.key}`);
      seen.add(op.key);
    }
    for (const compare of compares) {
      const current = this.data.get(compare.key)?.modRevision ?? this.electionKeys.get(compare.key) ?? 0;
      if (current !== compare.modRevision) return { succeeded: false, revision: this.rev };
    }
    this.commit(ops);
    return { succeeded: true, revision: this.rev };
  }

  async put(key: string, value: string): Promise<number> {
    this.checkUsable();
    this.commit([{ type: "put", key, value }]);
    return this.rev;
  }

  async delete(key: string): Promise<number> {
    this.checkUsable();
    this.commit([{ type: "delete", key }]);
    return this.rev;
  }

  get(key: string): KeyValue | undefined {
    const stored = this.data.get(key);
    return stored === undefined ? undefined : { key, value: stored.value, modRevision: stored.modRevision };
  }

  compact(revision: number = this.rev): void {
    if (revision > this.rev) throw new Error(`cannot compact to ${revision}: current revision is ${this.rev}`);
    this.compacted = Math.max(this.compacted, revision);
    this.history = this.history.filter((entry) => entry.revision > this.compacted);
    for (const watch of this.watches) this.catchUp(watch);
  }

  setAvailable(available: boolean): void {
    if (available === this.available) return;
    this.available = available;
    for (const watch of [...this.watches]) {
      if (!available) {
        watch.handlers.onDisconnected(new Error("memory backend unavailable"));
        continue;
      }
      watch.handlers.onConnected();
      this.catchUp(watch);
    }
  }

  campaign(electionName: string, candidate: string, _ttlSeconds: number): LeaderCampaign {
    this.checkOpen();
    const queue = this.elections.get(electionName) ?? [];
    this.elections.set(electionName, queue);
    const seq = ++this.electionSeq;
    const key = { key: `election/${electionName}/${seq}`, modRevision: seq };
    this.electionKeys.set(key.key, key.modRevision);
    const campaign = new MemoryCampaign(key, (resigned) => {
      this.electionKeys.delete(key.key);
      const index = queue.findIndex((entry) => entry.campaign === resigned);
      if (index === -1) return;
      queue.splice(index, 1);
      if (index === 0) queue[0]?.campaign.win();
    });
    queue.push({ name: candidate, campaign });
    if (queue.length === 1) campaign.win();
    return campaign;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const watch of this.watches) watch.closed = true;
    this.watches.clear();
    for (const queue of this.elections.values()) {
      for (const entry of queue) entry.campaign.lose(new Error("memory backend closed"));
    }
    this.elections.clear();
    this.electionKeys.clear();
  }

  private commit(ops: TxnOp[]): void {
    const events: WatchEvent[] = [];
    const revision = this.rev + 1;
    for (const op of ops) {
      if (op.type === "put") {
        this.data.set(op.key, { value: op.value, modRevision: revision });
        events.push({ type: "put", key: op.key, value: op.value, modRevision: revision });
      } else if (this.data.delete(op.key)) {
        events.push({ type: "delete", key: op.key, modRevision: revision });
      }
    }
    // As in etcd, a txn that changes nothing does not create a revision.
    if (events.length === 0) return;
    this.rev = revision;
    this.history.push({ revision, events });
    // Bounded history, like etcd's auto-compaction: long-lived dev stacks do not grow without end.
    if (this.history.length > MAX_HISTORY) this.compacted = this.history.shift()?.revision ?? this.compacted;
    for (const watch of this.watches) {
      setImmediate(() => this.catchUp(watch));
    }
  }

  /** Delivers every history entry the watch has not seen yet, or reports compaction. */
  private catchUp(watch: MemoryWatch): void {
    if (watch.closed || !this.available) return;
    if (watch.next <= this.compacted) {
      watch.closed = true;
      this.watches.delete(watch);
      watch.handlers.onCompacted(this.compacted);
      return;
    }
    for (const entry of this.history) {
      if (watch.closed) return;
      if (entry.revision < watch.next) continue;
      watch.next = entry.revision + 1;
      const events = entry.events.filter((event) => event.key.startsWith(watch.prefix));
      if (events.length > 0) watch.handlers.onEvents(events, entry.revision);
    }
    watch.next = Math.max(watch.next, this.rev + 1);
  }

  private checkOpen(): void {
    if (this.closed) throw new Error("memory backend closed");
  }

  private checkUsable(): void {
    this.checkOpen();
    if (!this.available) throw new Error("memory backend unavailable");
  }
}
