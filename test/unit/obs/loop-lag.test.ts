import { expect } from "chai";
import { LoopLag, registerLoopLag } from "../../../src/obs/loop-lag.ts";
import { newRegistry, Registry } from "../../../src/obs/metrics.ts";

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // holds the event loop, as a long synchronous reconcile would
  }
}

async function value(registry: Registry, name: string, quantile?: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const found = metric?.values.find((v) => quantile === undefined || v.labels.quantile === quantile);
  if (found === undefined) throw new Error(`no ${name}${quantile === undefined ? "" : `{quantile=${quantile}}`}`);
  return found.value;
}

describe("obs/loop-lag: event-loop lag metric", () => {
  it("reports a loop held for 300 ms as a lag of about that much, max and since start", async () => {
    const lag = new LoopLag({ resolutionMs: 10, windowMs: 60_000 });
    const registry = new Registry();
    registerLoopLag(registry, lag);
    try {
      await tick(50);
      expect(await value(registry, "fedns_event_loop_lag_seconds", "1")).to.be.below(0.25);
      block(300);
      await tick(30);
      expect(await value(registry, "fedns_event_loop_lag_seconds", "1")).to.be.within(0.25, 5);
      expect(await value(registry, "fedns_event_loop_lag_max_seconds")).to.be.within(0.25, 5);
      expect(await value(registry, "fedns_event_loop_lag_seconds", "0.5")).to.be.below(0.25);
    } finally {
      lag.stop();
    }
  });

  it("forgets a lag in the percentiles two windows later, keeps it in the max since start", async () => {
    const lag = new LoopLag({ resolutionMs: 10, windowMs: 100 });
    try {
      await tick(30);
      block(300);
      await tick(20);
      expect(lag.stats().max).to.be.above(0.25);
      await tick(40);
      expect(lag.stats().max, "previous window still reported").to.be.above(0.25);
      await tick(150);
      const later = lag.stats();
      expect(later.max, "two windows later").to.be.below(0.25);
      expect(later.maxEver).to.be.above(0.25);
    } finally {
      lag.stop();
    }
  });

  it("is on every process registry with default metrics (controller, serve)", async () => {
    const registry = newRegistry({ defaultMetrics: true });
    const text = await registry.metrics();
    expect(text).to.match(/^fedns_event_loop_lag_seconds\{quantile="0.99"\} /m);
    expect(text).to.match(/^fedns_event_loop_lag_max_seconds /m);
  });
});
