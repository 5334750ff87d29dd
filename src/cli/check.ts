// `fedns check`: diagnoses a fedns installation (config, etcd, each member cluster, labels, load
// balancers, records against the clusters, DNS answers), one line per finding with what to do about it.
// Exit code: 0 nothing wrong (warnings allowed), 1 something is wrong, 2 the config is invalid.
import type { Command } from "commander";
import { ConfigError } from "../config/load.ts";
import type { FednsConfig } from "../config/schema.ts";
import { parseHostPort } from "../obs/http.ts";
import { EXIT_INVALID_CONFIG, error, type Finding, formatFindings, formatJson } from "./check/findings.ts";
import { type CheckOptions, runCheck } from "./check/run.ts";
import { collect, commandConfig, runCommand } from "./settings.ts";

export type { Finding, Severity } from "./check/findings.ts";
export type { CheckOptions, CheckReport } from "./check/run.ts";
export { runCheck } from "./check/run.ts";

export interface CheckFlags {
  config?: string;
  federation?: string;
  domain?: string;
  etcd?: string;
  prefix?: string;
  kubeconfig?: string;
  context?: string[];
  dns?: string;
  timeout?: string;
  json?: boolean;
  verbose?: boolean;
}

export interface CheckOutcome {
  exitCode: number;
  findings: Finding[];
  /** What the command prints: the finding lines, or JSON with --json. */
  output: string;
}

export function registerCheckCommand(program: Command): void {
  program
    .command("check")
    .description(
      "diagnose a fedns installation: config, etcd, each member cluster (list/watch, labels, load balancers), records against the clusters, DNS answers",
    )
    .option("--config <file>", "fedns YAML config; flags override it")
    .option("--federation <name>", "federation name F")
    .option("--domain <domain>", "domain D the records are written under")
    .option("--etcd <url>", "etcd endpoint, e.g. http://127.0.0.1:2379")
    .option("--prefix <prefix>", "skydns key prefix (default /skydns)")
    .option("--kubeconfig <file>", "kubeconfig of the member clusters (every context is a member)")
    .option("--context <name>", "only this context of the kubeconfig (repeatable)", collect)
    .option("--dns <host:port>", "DNS server to resolve the names against (default: dns.listen of the config)")
    .option("--timeout <ms>", "limit of each network step in milliseconds (default 5000)")
    .option("--json", "print the findings as JSON for scripts")
    .option("--verbose", "keep the components' logs (on stdout, mixed with the findings)")
    .action((flags: CheckFlags) =>
      runCommand(async () => {
        const outcome = await runCheckCommand(flags);
        // Exit once the report is out: a watch or etcd connection still winding down must not hold the command.
        process.stdout.write(outcome.output, () => process.exit(outcome.exitCode));
      }),
    );
}

/** The command without the process around it: resolves the config, runs the check, formats the result. */
export async function runCheckCommand(
  flags: CheckFlags,
  extra: Omit<CheckOptions, "dns" | "contexts" | "timeoutMs"> = {},
): Promise<CheckOutcome> {
  const render = (exitCode: number, findings: Finding[]): CheckOutcome => ({
    exitCode,
    findings,
    output: flags.json === true ? formatJson(findings, exitCode) : formatFindings(findings),
  });
  const timeoutMs = flags.timeout === undefined ? undefined : Number(flags.timeout);
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0)) {
    return render(EXIT_INVALID_CONFIG, [
      error(
        "flags",
        "config-invalid",
        `--timeout must be a positive number of milliseconds, got ${JSON.stringify(flags.timeout)}`,
        "pass e.g. --timeout 5000",
      ),
    ]);
  }
  if (flags.dns !== undefined) {
    try {
      parseHostPort(flags.dns);
    } catch (err) {
      return render(EXIT_INVALID_CONFIG, [
        error("flags", "config-invalid", `--dns: ${(err as Error).message}`, "pass e.g. --dns 127.0.0.1:5353"),
      ]);
    }
  }
  let config: FednsConfig;
  try {
    config = await commandConfig(flags.config, {
      federation: flags.federation,
      domain: flags.domain,
      "etcd.endpoints": flags.etcd === undefined ? undefined : [flags.etcd],
      "etcd.prefix": flags.prefix,
      kubeconfig: flags.kubeconfig,
      "log.level": flags.verbose === true ? undefined : "silent",
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return render(EXIT_INVALID_CONFIG, [
      error(
        "config",
        "config-invalid",
        err.message.replace(/:\n\s*/, ": ").replace(/\n\s*/g, "; "),
        "fix the fields named above (config/ has documented examples)",
      ),
    ]);
  }
  const report = await runCheck(config, {
    ...extra,
    ...(flags.dns === undefined ? {} : { dns: flags.dns }),
    ...(flags.context === undefined ? {} : { contexts: flags.context }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
  return render(report.exitCode, report.findings);
}
