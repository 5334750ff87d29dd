// `fedns sim`: simulated member clusters (a Kubernetes API server of our own), and fault injection into them.
import type { Command } from "commander";
import { FAULT_ACTIONS, isFaultAction, loadScenario, sendFault, startSimulation } from "../sim/index.ts";
import { runCommand } from "./settings.ts";

interface RunOptions {
  scenario?: string;
  dir?: string;
  plainHttp?: boolean;
  host: string;
}

async function run(options: RunOptions): Promise<void> {
  if (options.scenario === undefined) throw new Error("fedns sim: --scenario FILE is required");
  const scenario = await loadScenario(options.scenario);
  const sim = await startSimulation({
    scenario,
    dir: options.dir,
    tls: !options.plainHttp,
    host: options.host,
    control: true,
  });
  process.stdout.write(`kubeconfig: ${sim.kubeconfigPath}\n`);
  for (const cluster of sim.clusters) process.stdout.write(`cluster ${cluster.name}: ${cluster.url}\n`);
  process.stdout.write(`faults: fedns sim fault --dir ${sim.dir} --cluster NAME ${FAULT_ACTIONS.join("|")}\n`);
  await new Promise<void>((resolve) => {
    const done = (): void => resolve();
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
  await sim.stop();
}

export function registerSimCommand(program: Command): void {
  const sim = program
    .command("sim")
    .description("run simulated member clusters (Kubernetes API servers) from a scenario file")
    .option("--scenario <file>", "scenario YAML (see config/scenario.md)")
    .option("--dir <dir>", "where to write the kubeconfig, certificates and state file (default: a temp dir)")
    .option("--plain-http", "serve plain HTTP instead of HTTPS")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .action((options: RunOptions) => runCommand(() => run(options)));

  sim
    .command("fault")
    .description("inject a fault into a cluster of a running simulation")
    .requiredOption("--cluster <name>", "cluster to act on")
    .argument("<action>", FAULT_ACTIONS.join(" | "))
    .addHelpText(
      "after",
      "\nThe --dir of the running simulation is required: fedns sim fault --dir DIR --cluster NAME ACTION",
    )
    .action((action: string, _options: unknown, command: Command) =>
      runCommand(async () => {
        // --dir belongs to `sim` (commander parses it there), so it is read with the parent's options.
        const options = command.optsWithGlobals<{ dir?: string; cluster: string }>();
        if (options.dir === undefined)
          throw new Error("fedns sim fault: --dir DIR (of the running simulation) is required");
        if (!isFaultAction(action)) {
          throw new Error(`unknown fault "${action}" (one of ${FAULT_ACTIONS.join(", ")})`);
        }
        process.stdout.write(`${await sendFault(options.dir, options.cluster, action)}\n`);
      }),
    );
}
