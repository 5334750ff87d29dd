// The `fedns` command: one subcommand per file in this folder, registered here.
import { Command } from "commander";

const program = new Command();
program
  .name("fedns")
  .description("Cross-cluster DNS service discovery for Kubernetes")
  .showHelpAfterError()
  .version("0.1.0");

await program.parseAsync(process.argv);
