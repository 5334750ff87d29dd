// Starts a simulation in-process for tests: kubeconfig path, per-cluster fault hooks, object API.
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { loadScenario, type Scenario, type Simulation, startSimulation } from "../../src/sim/index.ts";

export type { SimCluster, Simulation } from "../../src/sim/index.ts";

export const DEV_SCENARIO = fileURLToPath(new URL("../../config/dev-scenario.yaml", import.meta.url));

export interface TestSimulationOptions {
  /** A scenario or the path of a scenario file; config/dev-scenario.yaml by default. */
  scenario?: Scenario | string;
  /** HTTPS with a generated CA (default true). */
  tls?: boolean;
  dir?: string;
  bookmarkIntervalMs?: number;
  maxHistory?: number;
}

export async function startTestSimulation(options: TestSimulationOptions = {}): Promise<Simulation> {
  const source = options.scenario ?? DEV_SCENARIO;
  const scenario = typeof source === "string" ? await loadScenario(source) : source;
  return startSimulation({
    scenario,
    tls: options.tls ?? true,
    dir: options.dir,
    bookmarkIntervalMs: options.bookmarkIntervalMs,
    maxHistory: options.maxHistory,
  });
}

/** A KubeConfig for one cluster of the simulation (one object per cluster: client-node re-targets live watches on a context switch). */
export function kubeConfigFor(sim: Simulation, cluster: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(sim.kubeconfigPath);
  config.setCurrentContext(sim.cluster(cluster).name);
  return config;
}

/** Polls until `check` returns true (or throws with `what` after the timeout). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
