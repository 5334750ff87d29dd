// Event-loop lag of this process (perf_hooks monitorEventLoopDelay), exported on the process's registry:
// how late the loop turned, as the largest lag since start and percentiles over the last window or two.
// A lag of seconds means lease keep-alives, watches and /metrics waited that long (issue 8).
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Gauge, type Registry } from "prom-client";

export interface LoopLagOptions {
  /** Sampling resolution of the monitor in ms (default 10). */
  resolutionMs?: number;
  /** Length of one percentile window (default 10 s): percentiles cover the current and the previous one. */
  windowMs?: number;
}

export interface LoopLagStats {
  /** Seconds; p50/p99/max of the current and previous window, `maxEver` since start. */
  p50: number;
  p99: number;
  max: number;
  maxEver: number;
}

/** One monitor per process, whatever the number of registries it is registered on. */
export class LoopLag {
  private readonly histogram: ReturnType<typeof monitorEventLoopDelay>;
  private readonly windowMs: number;
  private previous: { p50: number; p99: number; max: number } = { p50: 0, p99: 0, max: 0 };
  private maxEverNs = 0;
  private windowStart = performance.now();

  constructor(options: LoopLagOptions = {}) {
    this.histogram = monitorEventLoopDelay({ resolution: options.resolutionMs ?? 10 });
    this.windowMs = options.windowMs ?? 10_000;
    this.histogram.enable();
  }

  /** The figures as of now (rotates the window when it is over). */
  stats(): LoopLagStats {
    this.rotateIfDue();
    const current = this.current();
    return {
      p50: Math.max(current.p50, this.previous.p50) / 1e9,
      p99: Math.max(current.p99, this.previous.p99) / 1e9,
      max: Math.max(current.max, this.previous.max) / 1e9,
      maxEver: Math.max(this.maxEverNs, current.max) / 1e9,
    };
  }

  stop(): void {
    this.histogram.disable();
  }

  private current(): { p50: number; p99: number; max: number } {
    // An empty histogram reports max 0 and min/percentiles of 2^63: treat as no lag.
    if (this.histogram.count === 0) return { p50: 0, p99: 0, max: 0 };
    return {
      p50: this.histogram.percentile(50),
      p99: this.histogram.percentile(99),
      max: this.histogram.max,
    };
  }

  private rotateIfDue(): void {
    const now = performance.now();
    if (now - this.windowStart < this.windowMs) return;
    const current = this.current();
    this.maxEverNs = Math.max(this.maxEverNs, current.max);
    this.previous = current;
    this.histogram.reset();
    this.windowStart = now;
  }
}

let processLag: LoopLag | undefined;

/** The process's monitor, started on first use. */
export function processLoopLag(): LoopLag {
  processLag ??= new LoopLag();
  return processLag;
}

/**
 * Registers `fedns_event_loop_lag_seconds{quantile="0.5"|"0.99"|"1"}` (recent windows) and
 * `fedns_event_loop_lag_max_seconds` (largest since start) on the registry.
 */
export function registerLoopLag(registry: Registry, lag: LoopLag = processLoopLag()): void {
  new Gauge({
    name: "fedns_event_loop_lag_seconds",
    help: "Event-loop lag over the last 10-20 s (quantile 1 = max): how late timers and I/O callbacks ran",
    labelNames: ["quantile"],
    registers: [registry],
    collect() {
      const stats = lag.stats();
      this.set({ quantile: "0.5" }, stats.p50);
      this.set({ quantile: "0.99" }, stats.p99);
      this.set({ quantile: "1" }, stats.max);
    },
  });
  new Gauge({
    name: "fedns_event_loop_lag_max_seconds",
    help: "Largest event-loop lag since the process started",
    registers: [registry],
    collect() {
      this.set(lag.stats().maxEver);
    },
  });
}
