// The work one question may cost: tree nodes visited and records collected, shared by every lookup
// made while answering it (CNAME chain, SRV/MX targets, additional section). Past either limit the
// lookups stop and the answer says it was cut short (TC over UDP, a truncated answer over TCP).

/** Tree nodes one answer may visit: far above any real question, far below a zone walk. */
export const DEFAULT_MAX_VISITS = 20_000;
/** Records one answer may collect: more than a 64 KiB TCP reply can carry. */
export const DEFAULT_MAX_RECORDS = 4_096;

export interface BudgetLimits {
  maxVisits?: number;
  maxRecords?: number;
}

export class LookupBudget {
  visits = 0;
  records = 0;
  /** Set once a limit was hit: the answer is incomplete. */
  exhausted = false;
  readonly maxVisits: number;
  readonly maxRecords: number;

  constructor(limits: BudgetLimits = {}) {
    this.maxVisits = limits.maxVisits ?? DEFAULT_MAX_VISITS;
    this.maxRecords = limits.maxRecords ?? DEFAULT_MAX_RECORDS;
  }

  /** Counts one visited node; false (and exhausted) when the answer may visit no more. */
  visit(): boolean {
    if (this.visits >= this.maxVisits) {
      this.exhausted = true;
      return false;
    }
    this.visits++;
    return true;
  }

  /** Counts one collected record; false (and exhausted) when the answer may take no more. */
  take(): boolean {
    if (this.records >= this.maxRecords) {
      this.exhausted = true;
      return false;
    }
    this.records++;
    return true;
  }
}
