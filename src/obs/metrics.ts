// Prometheus metrics (prom-client). Each process owns one registry; modules register
// their metrics on the registry they are given, so tests can use a fresh one.
import { collectDefaultMetrics, Registry } from "prom-client";
import { registerLoopLag } from "./loop-lag.ts";

export { Counter, Gauge, Histogram, Registry } from "prom-client";

export function newRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics) {
    collectDefaultMetrics({ register: registry, prefix: "fedns_" });
    // Every fedns process (controller, serve, dev) exports its event-loop lag (obs/loop-lag.ts).
    registerLoopLag(registry);
  }
  return registry;
}
