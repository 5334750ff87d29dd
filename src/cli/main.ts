// The `fedns` command: one subcommand per file in this folder, registered here.
import { Command } from "commander";
import { registerRecordsCommand } from "./records.ts";
import { registerServeCommand } from "./serve.ts";

const program = new Command();
program
  .name("fedns")
  .description("Cross-cluster DNS service discovery for Kubernetes")
  .showHelpAfterError()
  .version("0.1.0");

registerServeCommand(program);
registerRecordsCommand(program);

await program.parseAsync(process.argv);
