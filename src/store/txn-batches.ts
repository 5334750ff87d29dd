// Splitting one unit's changes into transactions etcd accepts (--max-txn-ops, --max-request-bytes) without
// ever splitting a name: all changes of one name (the records under one key path) go in the same
// transaction, so no reader sees a name half-updated or empty between a delete and a put (SPEC §3).
import { nameOfKey } from "../federation/keys.ts";
import type { TxnOp } from "./kv.ts";

/** Under etcd's default --max-request-bytes (1.5 MiB), leaving room for compares and framing. */
export const DEFAULT_MAX_TXN_BYTES = 1024 * 1024;

/** Bytes an op costs in a request: its key (op and compare), its value, and some framing. */
export function opBytes(op: TxnOp): number {
  return 2 * Buffer.byteLength(op.key) + (op.type === "put" ? Buffer.byteLength(op.value) : 0) + 32;
}

export interface TxnBatches {
  batches: TxnOp[][];
  /** Names whose changes alone exceed one transaction: they were split (puts before deletes). */
  oversized: string[];
}

/**
 * Packs ops into as few transactions as fit the limits, whole names at a time, in the order given (puts of
 * a name before its deletes). One transaction when everything fits.
 */
export function txnBatches(ops: readonly TxnOp[], limits: { maxOps: number; maxBytes: number }): TxnBatches {
  const byName = new Map<string, TxnOp[]>();
  for (const op of ops) {
    const name = nameOfKey(op.key);
    let list = byName.get(name);
    if (list === undefined) {
      list = [];
      byName.set(name, list);
    }
    list.push(op);
  }
  const batches: TxnOp[][] = [];
  const oversized: string[] = [];
  let current: TxnOp[] = [];
  let bytes = 0;
  const flush = (): void => {
    if (current.length > 0) batches.push(current);
    current = [];
    bytes = 0;
  };
  for (const [name, group] of byName) {
    // Puts first, so a name split across transactions is never empty in between.
    group.sort((a, b) => (a.type === b.type ? 0 : a.type === "put" ? -1 : 1));
    const groupBytes = group.reduce((sum, op) => sum + opBytes(op), 0);
    if (group.length > limits.maxOps || groupBytes > limits.maxBytes) {
      oversized.push(name);
      flush();
      for (const op of group) {
        const size = opBytes(op);
        if (current.length + 1 > limits.maxOps || (current.length > 0 && bytes + size > limits.maxBytes)) flush();
        current.push(op);
        bytes += size;
      }
      flush();
      continue;
    }
    if (current.length + group.length > limits.maxOps || bytes + groupBytes > limits.maxBytes) flush();
    current.push(...group);
    bytes += groupBytes;
  }
  flush();
  return { batches, oversized };
}
