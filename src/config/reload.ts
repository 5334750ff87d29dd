// Config reload of a running controller: when the config file changes (or on SIGHUP) it is read again, and
// what a running controller cannot apply is named so the operator knows a restart is needed.
import { watch } from "node:fs";
import { basename, dirname } from "node:path";
import { realTimers, type Timers } from "../obs/clock.ts";
import { logger } from "../obs/log.ts";
import type { FednsConfig } from "./schema.ts";

/** Editors write a file in several steps: changes within this window make one reload. */
const DEBOUNCE_MS = 200;

/** Top-level settings other than the member clusters whose change a running controller cannot apply. */
export function restartOnlyChanges(before: FednsConfig, after: FednsConfig): string[] {
  const reloadable = new Set(["clusters", "kubeconfig", "log"]);
  return (Object.keys(after) as (keyof FednsConfig)[])
    .filter((field) => !reloadable.has(field))
    .filter((field) => JSON.stringify(before[field]) !== JSON.stringify(after[field]))
    .sort();
}

/**
 * Calls `reload` when the config file changes (editors replace files, so the folder is watched) or on SIGHUP,
 * once per burst of changes. A failed reload is logged and the running config kept. Returns the stop function.
 */
export function reloadOnChange(path: string, reload: () => Promise<void>, timers: Timers = realTimers): () => void {
  const log = logger("config");
  let timer: { cancel(): void } | undefined;
  const schedule = (): void => {
    timer?.cancel();
    timer = timers.setTimeout(() => {
      reload().then(
        () => log.info({ path }, "config reloaded"),
        (err: Error) => log.error({ path, error: err.message }, "config reload failed; keeping the running config"),
      );
    }, DEBOUNCE_MS);
  };
  const watcher = watch(dirname(path), (_event, file) => {
    if (file === null || file === basename(path)) schedule();
  });
  process.on("SIGHUP", schedule);
  return () => {
    timer?.cancel();
    watcher.close();
    process.off("SIGHUP", schedule);
  };
}
