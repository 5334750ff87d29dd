// Per-item exponential backoff, client-go's ItemExponentialFailureRateLimiter: each failure of an item doubles
// its delay (with jitter, capped); forget() resets it on success. Items never share a delay.
export class RateLimiter {
  private readonly failures = new Map<string, number>();
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(options: { initialMs: number; maxMs: number }, random: () => number = Math.random) {
    this.initialMs = options.initialMs;
    this.maxMs = options.maxMs;
    this.random = random;
  }

  /** Counts a failure of `item` and returns how long to wait before its retry. */
  when(item: string): number {
    const failures = (this.failures.get(item) ?? 0) + 1;
    this.failures.set(item, failures);
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(failures - 1, 30));
    // ±20 % so that items failing together do not retry in lockstep; never past the cap.
    return Math.min(this.maxMs, Math.round(base * (0.8 + this.random() * 0.4)));
  }

  /** Failures of `item` since it last succeeded. */
  retries(item: string): number {
    return this.failures.get(item) ?? 0;
  }

  forget(item: string): void {
    this.failures.delete(item);
  }
}
