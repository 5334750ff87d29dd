// The `fedns` command: one subcommand per file in this folder, registered here.
import { Command } from "commander";
import { logger } from "../obs/log.ts";

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

// `fedns serve` loads only its own modules: a DNS replica's cold start should not pay for the controller's
// Kubernetes client (~0.6 s of module loading, issue 8). Every other invocation registers every command.
if (process.argv[2] === "serve") {
  (await import("./serve.ts")).registerServeCommand(program);
} else {
  (await import("./dev.ts")).registerDevCommand(program);
  (await import("./serve.ts")).registerServeCommand(program);
  (await import("./check.ts")).registerCheckCommand(program);
  (await import("./controller.ts")).registerControllerCommand(program);
  (await import("./records.ts")).registerRecordsCommand(program);
  (await import("./sim.ts")).registerSimCommand(program);
}

await program.parseAsync(process.argv);
