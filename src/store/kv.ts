// The small key-value contract both halves use: etcd (store/etcd-kv.ts) and the in-memory
// store of `fedns dev` (store/memory-kv.ts) implement it, so the record source, the writer
// and leader election are written once.
import type { KeyValue } from "../records/index.ts";

export type { KeyValue };

export interface RangeResult {
  kvs: KeyValue[];
  /** The store revision the read reflects; a watch continues from revision + 1. */
  revision: number;
  /**
   * More keys may follow this page (only when a `limit` was given); read them with `after: next`. A page may
   * hold fewer keys than the limit, even none, and still have `more` (etcd reads pages as sub-ranges).
   */
  more?: boolean;
  /** Opaque cursor of the key after this page's last one, when `more`. */
  next?: string;
}

/** One page of a range: a backend may ignore these and return everything at once (`more` unset). */
export interface RangeOptions {
  /** Keys per page, at most (0 or unset: all). */
  limit?: number;
  /** Read at this revision (unset: the current one); fails once it has been compacted. */
  revision?: number;
  /** Continue after the previous page: its `next`. */
  after?: string;
}

export type WatchEvent =
  | { type: "put"; key: string; value: string; modRevision: number }
  | { type: "delete"; key: string; modRevision: number };

export interface WatchHandlers {
  /** Events of one store revision (or more), in order; empty for a progress notification (revision only). */
  onEvents(events: WatchEvent[], revision: number): void;
  /** The watch can no longer continue from where it was (history compacted): reload, then watch again. */
  onCompacted(compactRevision: number): void;
  /** Connection lost; the backend reconnects by itself and resumes from the last revision seen. */
  onDisconnected(error: Error): void;
  /** Connection (re)established and the watch is live. */
  onConnected(): void;
}

export interface WatchHandle {
  close(): Promise<void>;
}

export type TxnCompare =
  /** The key's current mod revision equals this (0: the key does not exist). */
  { key: string; modRevision: number };

export type TxnOp = { type: "put"; key: string; value: string } | { type: "delete"; key: string };

export interface TxnResult {
  succeeded: boolean;
  revision: number;
}

export interface LeaderCampaign {
  /** Resolves when this candidate becomes leader. */
  readonly elected: Promise<void>;
  /** True while this candidate holds leadership. */
  isLeader(): boolean;
  /** Called once if leadership is lost after being won (lease expired, session gone). */
  onLost(listener: (reason: Error) => void): void;
  /**
   * While leader: a compare that holds only as long as this candidate's leadership does (its election key
   * at the mod revision it had when elected). Added to writes, it keeps a deposed leader that has not noticed
   * yet (GC pause, partition) from committing anything. Undefined when not leader.
   */
  fence(): TxnCompare | undefined;
  resign(): Promise<void>;
}

export interface KvBackend {
  /** A human-readable description for logs (`etcd http://127.0.0.1:2379`, `memory`). */
  readonly description: string;
  range(prefix: string, options?: RangeOptions): Promise<RangeResult>;
  /** Watches keys under the prefix from `fromRevision` (inclusive). */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle>;
  /** Applies all ops atomically if every compare holds. */
  txn(compares: TxnCompare[], ops: TxnOp[]): Promise<TxnResult>;
  /** Largest number of operations one transaction may carry (etcd's --max-txn-ops, 128 by default). */
  readonly maxTxnOps: number;
  campaign(electionName: string, candidate: string, ttlSeconds: number): LeaderCampaign;
  close(): Promise<void>;
}

/**
 * Whether a backend call failed because the identity may not do it (etcd auth: "permission denied"), as
 * opposed to the store being away: callers that can go on without the key (serial markers) tell these apart here.
 */
export function isPermissionDenied(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /permission denied|PERMISSION_DENIED/i.test(message);
}

/**
 * The keys under a prefix as pages of `pageSize`, all at the revision of the first page, so that a watch from
 * revision + 1 continues exactly where the read ended. The next page is requested while the caller works on
 * the current one; at most two pages are held at a time.
 */
export async function* rangePages(
  backend: Pick<KvBackend, "range">,
  prefix: string,
  pageSize: number,
): AsyncGenerator<RangeResult> {
  let page = await backend.range(prefix, { limit: pageSize });
  const revision = page.revision;
  for (;;) {
    const cursor = page.more === true ? page.next : undefined;
    const next = cursor === undefined ? undefined : backend.range(prefix, { limit: pageSize, revision, after: cursor });
    // Handled below; this keeps an abandoned read (the caller stopped early) from being an unhandled rejection.
    next?.catch(() => undefined);
    yield { kvs: page.kvs, revision };
    if (next === undefined) return;
    page = await next;
  }
}
