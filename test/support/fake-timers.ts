// A manual clock for the one Timers seam (src/obs/clock.ts): nothing fires until advance().
import type { Timers } from "../../src/obs/clock.ts";

export class FakeTimers implements Timers {
  private current = 1_000_000;
  private queue: { at: number; callback: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): { cancel(): void } {
    const entry = { at: this.current + ms, callback, cancelled: false };
    this.queue.push(entry);
    return { cancel: () => (entry.cancelled = true) };
  }

  /** Moves the clock forward, firing due timers in order (and any they schedule within the window). */
  async advance(ms: number): Promise<void> {
    const end = this.current + ms;
    for (;;) {
      const due = this.queue.filter((entry) => !entry.cancelled && entry.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.queue = this.queue.filter((entry) => entry !== due);
      this.current = due.at;
      due.callback();
      await flush();
    }
    this.current = end;
    await flush();
  }

  pending(): number {
    return this.queue.filter((entry) => !entry.cancelled).length;
  }
}

export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}
