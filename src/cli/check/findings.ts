// What `fedns check` reports: one finding per line, each with what to do about it, and the exit code.
export type Severity = "ok" | "warn" | "error";

export interface Finding {
  severity: Severity;
  /** What the finding is about: `config`, `etcd`, `cluster east-a`, `records default/web`, `dns`, a DNS name. */
  subject: string;
  /** Stable identifier of the kind of finding, for scripts (`cluster-forbidden`, `records-missing`, ...). */
  code: string;
  message: string;
  /** What to do about it; absent for ok findings. */
  fix?: string;
  /** Machine-readable specifics (keys, names, addresses) for --json. */
  details?: Record<string, unknown>;
}

export const EXIT_OK = 0;
export const EXIT_PROBLEMS = 1;
export const EXIT_INVALID_CONFIG = 2;

export function ok(subject: string, code: string, message: string, details?: Record<string, unknown>): Finding {
  return { severity: "ok", subject, code, message, ...(details === undefined ? {} : { details }) };
}

export function warn(
  subject: string,
  code: string,
  message: string,
  fix: string,
  details?: Record<string, unknown>,
): Finding {
  return { severity: "warn", subject, code, message, fix, ...(details === undefined ? {} : { details }) };
}

export function error(
  subject: string,
  code: string,
  message: string,
  fix: string,
  details?: Record<string, unknown>,
): Finding {
  return { severity: "error", subject, code, message, fix, ...(details === undefined ? {} : { details }) };
}

/** 0 when nothing is wrong (warnings allowed), 1 when any finding is an error. */
export function exitCodeOf(findings: readonly Finding[]): number {
  return findings.some((finding) => finding.severity === "error") ? EXIT_PROBLEMS : EXIT_OK;
}

/** `[error] cluster east-a: cannot list endpointslices (403 Forbidden) -> grant list/watch on ...` */
export function formatFinding(finding: Finding): string {
  const fix = finding.fix === undefined ? "" : ` -> ${finding.fix}`;
  return `[${finding.severity}] ${finding.subject}: ${finding.message}${fix}`;
}

export function formatFindings(findings: readonly Finding[]): string {
  const lines = findings.map(formatFinding);
  const errors = findings.filter((finding) => finding.severity === "error").length;
  const warnings = findings.filter((finding) => finding.severity === "warn").length;
  lines.push(
    errors + warnings === 0
      ? "fedns check: everything looks right"
      : `fedns check: ${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`,
  );
  return `${lines.join("\n")}\n`;
}

export function formatJson(findings: readonly Finding[], exitCode: number): string {
  return `${JSON.stringify({ exitCode, findings }, null, 2)}\n`;
}

/** A short list for one line: the first few items, then how many more. */
export function listed(items: readonly string[], max = 5): string {
  const shown = items.slice(0, max).join(", ");
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

/** The message of an error plus the network cause undici hides behind "fetch failed" (ECONNREFUSED, ...). */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const detail = typeof cause?.code === "string" ? cause.code : typeof cause?.message === "string" ? cause.message : "";
  return detail === "" || err.message.includes(detail) ? err.message : `${err.message} (${detail})`;
}

/** Rejects with a timeout error when `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
