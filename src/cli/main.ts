// The `fedns` command: one subcommand per file in this folder, registered here.
import { Command } from "commander";
import { logger } from "../obs/log.ts";
import { registerCheckCommand } from "./check.ts";
import { registerControllerCommand } from "./controller.ts";
import { registerDevCommand } from "./dev.ts";
import { registerRecordsCommand } from "./records.ts";
import { registerServeCommand } from "./serve.ts";
import { registerSimCommand } from "./sim.ts";

// A bug that escapes every handler ends the process (the orchestrator restarts it), but says so in the
// structured log first instead of as a bare stack trace.
for (const event of ["uncaughtException", "unhandledRejection"] as const) {
  process.on(event, (err: unknown) => {
    logger("fedns").fatal({ err, event }, "unexpected error; exiting");
    process.stderr.write(`fedns: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

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
