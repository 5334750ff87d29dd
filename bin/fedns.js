#!/usr/bin/env node
// Entry point for `npx fedns`. fedns needs Node >= 24; the project ships it as the
// `node` npm dependency, so when an older system node runs this shim we re-exec
// ourselves with the bundled one instead of failing on a syntax or API error.
//
// The shim then stands in for the real process: SIGINT, SIGTERM and SIGHUP sent to its
// PID are passed on to the child, and it exits with the child's status (or dies of the
// child's signal). The child runs in its own session, so a Ctrl-C in the terminal reaches
// it once, through the shim, rather than twice (terminal and shim). An IPC channel ties
// the child to the shim: should the shim die without forwarding (SIGKILL), the child is
// told to stop as if it had been sent SIGTERM.
//
// The shim also enforces the shutdown deadline, from outside the server's event loop: once it has passed on
// SIGTERM or SIGINT, a server that has not exited within FEDNS_SHUTDOWN_DEADLINE_MS (default 2000) is
// SIGKILLed, however busy its loop is (its own bound, a timer on that loop, cannot fire while it is blocked).
// FEDNS_SUPERVISE=1 makes the shim stand in this way under Node >= 24 too; FEDNS_MAIN (tests) replaces the
// module the server runs.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP"];
const SHIM_CHILD = "FEDNS_SHIM_CHILD";
const DEFAULT_DEADLINE_MS = 2000;

const major = Number(process.versions.node.split(".")[0]);
const supervise = process.env.FEDNS_SUPERVISE === "1" && process.env[SHIM_CHILD] !== "1";
if (major < 24 || supervise) {
  const require = createRequire(import.meta.url);
  let bundled;
  try {
    bundled = major < 24 ? require.resolve("node/bin/node") : process.execPath;
  } catch {
    bundled = undefined;
  }
  if (!bundled || !existsSync(bundled)) {
    console.error(`fedns needs Node.js >= 24 (running ${process.version}); run 'npm ci' to install the bundled one`);
    process.exit(1);
  }
  const child = spawn(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    env: { ...process.env, [SHIM_CHILD]: "1" },
    detached: process.platform !== "win32",
  });
  // The same signal twice within DUPLICATE_MS is one event delivered twice (a terminal's Ctrl-C reaches
  // npm/npx and us, and npm forwards it again): passing both on would make the server's second-signal
  // default (exit at once) cut its clean shutdown short. A later repeat is passed on.
  const DUPLICATE_MS = 500;
  const lastForwarded = new Map();
  const configured = Number(process.env.FEDNS_SHUTDOWN_DEADLINE_MS);
  const deadlineMs = Number.isFinite(configured) && configured > 0 ? configured : DEFAULT_DEADLINE_MS;
  let deadline;
  let killedAtDeadline = false;
  const forward = (signal) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const now = Date.now();
    if (now - (lastForwarded.get(signal) ?? Number.NEGATIVE_INFINITY) < DUPLICATE_MS) return;
    lastForwarded.set(signal, now);
    child.kill(signal);
    if (deadline === undefined && (signal === "SIGTERM" || signal === "SIGINT")) {
      deadline = setTimeout(() => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        console.error(
          `fedns: the server (pid ${child.pid}) did not exit within ${deadlineMs} ms of ${signal}: killing it`,
        );
        killedAtDeadline = true;
        child.kill("SIGKILL");
      }, deadlineMs);
    }
  };
  for (const signal of FORWARDED) process.on(signal, forward);
  child.on("error", (err) => {
    console.error(`fedns: cannot start ${bundled}: ${err.message}`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    for (const forwarded of FORWARDED) process.off(forwarded, forward);
    if (deadline !== undefined) clearTimeout(deadline);
    // Killed by us: the shutdown failed, which the status says (not a SIGKILL from outside).
    if (killedAtDeadline) process.exit(1);
    if (signal !== null) {
      // Die of the same signal, so whoever started us sees what happened to the server;
      // a signal Node ignores (SIGPIPE) falls through to the shell's 128 + N convention.
      process.kill(process.pid, signal);
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
    process.exit(code ?? 1);
  });
} else {
  if (process.env[SHIM_CHILD] === "1") {
    delete process.env[SHIM_CHILD];
    if (process.channel !== undefined) {
      // The channel must not keep the process alive, only tell it when the shim is gone.
      process.channel.unref();
      process.once("disconnect", () => process.kill(process.pid, "SIGTERM"));
    }
  }
  const main =
    process.env.FEDNS_MAIN === undefined
      ? new URL("../dist/cli/main.js", import.meta.url)
      : new URL(process.env.FEDNS_MAIN, `file://${process.cwd()}/`);
  if (!existsSync(fileURLToPath(main))) {
    console.error("fedns is not built: run 'npm run build' (npm ci does it through 'prepare')");
    process.exit(1);
  }
  await import(main.href);
}
