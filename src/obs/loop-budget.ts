// How long one turn of the event loop may run: long work (a full reconcile, re-reading the store) calls
// `spend()` between steps and yields once the current turn has used its budget, so lease keep-alives, watches
// and /metrics are served throughout (issue 8: no task over ~50 ms). Shared by concurrent workers: once the
// budget is used, every worker that checks yields until the loop has turned, so the turn ends with the budget
// rather than the budget times the workers.
import { yieldToLoop } from "./clock.ts";

/** Default per-turn budget of the controller's long work: well under the ~50 ms a task may hold the loop. */
export const DEFAULT_TURN_BUDGET_MS = 10;

/**
 * The budget of long work in the DNS server (loading the index, building transfer versions, short-name data):
 * smaller than the controller's, since answers wait behind every turn it takes.
 */
export const SERVING_TURN_BUDGET_MS = 8;

export class LoopBudget {
  private readonly ms: number;
  private readonly now: () => number;
  private turnStart: number;
  private resuming: Promise<void> | undefined;
  /** How many times the budget made the work yield (tests, logs). */
  yields = 0;

  /** `now`: the work clock in ms (tests pass a fake one); not the timers' clock, which may be simulated. */
  constructor(ms = DEFAULT_TURN_BUDGET_MS, now: () => number = () => performance.now()) {
    this.ms = ms;
    this.now = now;
    this.turnStart = now();
  }

  /** Whether the current turn has used its budget. */
  get exhausted(): boolean {
    return this.now() - this.turnStart >= this.ms;
  }

  /** Yields to the event loop when the current turn has used its budget; a new turn starts when it resumes. */
  async spend(): Promise<void> {
    if (!this.exhausted) return;
    if (this.resuming === undefined) {
      this.yields += 1;
      this.resuming = yieldToLoop().then(() => {
        this.resuming = undefined;
        this.turnStart = this.now();
      });
    }
    await this.resuming;
  }
}
