// The simulated Kubernetes API server: public surface.
export type { CloseMode, SimClusterOptions } from "./cluster.ts";
export { SimCluster } from "./cluster.ts";
export type { FaultAction, SimState } from "./control.ts";
export { FAULT_ACTIONS, isFaultAction, STATE_FILE, sendFault } from "./control.ts";
export { ApiError } from "./errors.ts";
export type { Scenario, ScenarioCluster, ScenarioService } from "./scenario.ts";
export { loadScenario, parseScenario } from "./scenario.ts";
export type { Simulation, SimulationOptions } from "./simulation.ts";
export { startSimulation } from "./simulation.ts";
export type { KubeObject, ObjectMeta } from "./types.ts";
