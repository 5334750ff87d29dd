// The IXFR journal (RFC 1995): the recent changes of one zone as a chain of diffs between serials,
// bounded by the records it holds (oldest diffs dropped first). A chain from a secondary's serial to
// the current one gives an incremental transfer; anything else falls back to a full one.
import type { ResourceRecord } from "../dns/message.ts";
import type { Diff } from "./content.ts";

export interface JournalEntry extends Diff {
  from: number;
  to: number;
}

export class Journal {
  private entries: JournalEntry[] = [];
  private records = 0;
  private readonly maxRecords: number;

  constructor(maxRecords: number) {
    this.maxRecords = maxRecords;
  }

  /** Appends the diff from serial `from` to `to`; a diff that breaks the chain (or too big to keep) resets it. */
  add(from: number, to: number, diff: Diff): void {
    const last = this.entries.at(-1);
    if (last !== undefined && last.to !== from) this.clear();
    const size = diff.deleted.length + diff.added.length;
    if (size > this.maxRecords) {
      this.clear();
      return;
    }
    this.entries.push({ from, to, ...diff });
    this.records += size;
    while (this.records > this.maxRecords) {
      const dropped = this.entries.shift();
      if (dropped === undefined) break;
      this.records -= dropped.deleted.length + dropped.added.length;
    }
  }

  clear(): void {
    this.entries = [];
    this.records = 0;
  }

  /** The diffs from `serial` up to `current`, or undefined when the journal does not reach back to it. */
  since(serial: number, current: number): readonly JournalEntry[] | undefined {
    const start = this.entries.findIndex((entry) => entry.from === serial);
    if (start === -1) return undefined;
    const chain = this.entries.slice(start);
    return chain.at(-1)?.to === current ? chain : undefined;
  }

  /** Records held (deleted plus added, over all diffs). */
  get size(): number {
    return this.records;
  }

  get length(): number {
    return this.entries.length;
  }
}

/** RFC 1995 §4 incremental form: SOA(current), then per diff SOA(old), deletions, SOA(new), additions, then SOA(current). */
export function incrementalRecords(
  chain: readonly JournalEntry[],
  soa: (serial: number) => ResourceRecord,
  current: number,
): ResourceRecord[] {
  const out: ResourceRecord[] = [soa(current)];
  for (const entry of chain) {
    out.push(soa(entry.from), ...entry.deleted, soa(entry.to), ...entry.added);
  }
  out.push(soa(current));
  return out;
}
