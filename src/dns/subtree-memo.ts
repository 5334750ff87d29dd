// The records collected for a name (its subtree, CoreDNS reading; or the matches of a wildcard
// question), kept across answers and revalidated per name (freshness.ts), so that repeated
// aggregate questions (wildcards, empty non-terminals, SRV targets with many addresses) cost
// O(answer) instead of a walk, also while etcd changes elsewhere. Only collections that cost a
// walk are kept; bounded in entries and in records held (references into the index), emptied
// when full. A hit charges the answer's LookupBudget exactly what the walk cost, so answers do not
// depend on what happens to be memoised, and a hit that would not fit the remaining budget is no hit.
import type { LookupBudget } from "../records/budget.ts";
import type { NameRecords, RecordIndex } from "../records/index.ts";
import { type Stamp, stampOf, stillFresh } from "./freshness.ts";

/** Collections cheaper than this (visits + records) are walked again: a map entry would cost about as much. */
export const MEMO_MIN_COST = 32;
export const DEFAULT_MEMO_ENTRIES = 20_000;
/** Record references held in all entries together (8 bytes each, the records themselves live in the index). */
export const DEFAULT_MEMO_RECORDS = 1_000_000;

interface Entry {
  /** null: the name does not exist. */
  found: NameRecords | null;
  visits: number;
  records: number;
  stamp: Stamp;
}

export interface MemoLimits {
  maxEntries?: number;
  maxRecords?: number;
}

export class SubtreeMemo {
  private readonly entries = new Map<string, Entry>();
  private index: RecordIndex | undefined;
  private heldRecords = 0;
  private readonly maxEntries: number;
  private readonly maxRecords: number;
  /** Lookups answered from the memo, for tests and metrics. */
  hits = 0;

  constructor(limits: MemoLimits = {}) {
    this.maxEntries = limits.maxEntries ?? DEFAULT_MEMO_ENTRIES;
    this.maxRecords = limits.maxRecords ?? DEFAULT_MEMO_RECORDS;
  }

  /**
   * The memoised collection for `name` (the key of the lookup: one memo serves one wildcard setting),
   * charged to `budget`; undefined when there is none, it is stale, or the budget could not pay for it.
   */
  get(index: RecordIndex, name: string, budget: LookupBudget): NameRecords | null | undefined {
    this.follow(index);
    const entry = this.entries.get(name);
    if (entry === undefined) return undefined;
    if (!stillFresh(index, entry.stamp)) {
      this.drop(name, entry);
      return undefined;
    }
    if (budget.visits + entry.visits > budget.maxVisits || budget.records + entry.records > budget.maxRecords) {
      return undefined;
    }
    budget.visits += entry.visits;
    budget.records += entry.records;
    if (entry.found?.truncated === true) budget.exhausted = true;
    this.hits++;
    return entry.found;
  }

  /**
   * Offers a walk's result: `dependency` the name whose subtree decides it (freshness.ts dependencyOf),
   * `visits`/`records` what it cost, `fresh` whether the budget was untouched before it (a truncated result is only reproducible from the same starting budget).
   */
  offer(
    index: RecordIndex,
    name: string,
    dependency: string,
    found: NameRecords | undefined,
    cost: { visits: number; records: number; fresh: boolean },
  ): void {
    if (cost.visits + cost.records < MEMO_MIN_COST) return;
    if (found?.truncated === true && !cost.fresh) return;
    this.follow(index);
    const held = found?.records.length ?? 0;
    if (held > this.maxRecords) return;
    const previous = this.entries.get(name);
    if (previous !== undefined) this.drop(name, previous);
    if (this.entries.size >= this.maxEntries || this.heldRecords + held > this.maxRecords) this.clear();
    this.entries.set(name, {
      found: found ?? null,
      visits: cost.visits,
      records: cost.records,
      stamp: stampOf(index, [dependency]),
    });
    this.heldRecords += held;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Record references held. */
  get records(): number {
    return this.heldRecords;
  }

  /** A swapped-in index has no history of the one before: nothing memoised from that one is usable. */
  private follow(index: RecordIndex): void {
    if (index === this.index) return;
    this.clear();
    this.index = index;
  }

  private drop(name: string, entry: Entry): void {
    this.entries.delete(name);
    this.heldRecords -= entry.found?.records.length ?? 0;
  }

  private clear(): void {
    this.entries.clear();
    this.heldRecords = 0;
  }
}
