// The `fedns` command: one subcommand per file in this folder, registered here.
import { Command } from "commander";
import { registerCheckCommand } from "./check.ts";
import { registerControllerCommand } from "./controller.ts";
import { registerDevCommand } from "./dev.ts";
import { registerRecordsCommand } from "./records.ts";
import { registerServeCommand } from "./serve.ts";
import { registerSimCommand } from "./sim.ts";

const program = new Command();
program
  .name("fedns")
  .description("Cross-cluster DNS service discovery for Kubernetes")
  .showHelpAfterError()
  .version("0.1.0");

registerDevCommand(program);
registerServeCommand(program);
registerCheckCommand(program);
registerControllerCommand(program);
registerRecordsCommand(program);
registerSimCommand(program);

await program.parseAsync(process.argv);
