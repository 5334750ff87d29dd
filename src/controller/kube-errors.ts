// What went wrong talking to a member API server, classified by the type of the error, never by
// reading whatever numeric field it happens to carry (a DOMException's `code` 23 is TIMEOUT_ERR,
// not an HTTP status). One home for the question "did the API server answer?".
import { ApiException } from "@kubernetes/client-node";

export type KubeErrorKind =
  /** No answer in time: a hanging server, a silent watch, a connect or header timeout. */
  | "timeout"
  /** The port refused the connection. */
  | "refused"
  /** Reset, DNS, TLS, unreachable host: the request never got an HTTP answer. */
  | "network"
  /** The server answered with this HTTP status (from a real response). */
  | "http"
  /** The server answered, but with something that is not the JSON we asked for. */
  | "decode"
  /** Anything else (a bug, an unexpected library error): treated as no answer. */
  | "other";

export class KubeError extends Error {
  readonly kind: KubeErrorKind;
  /** Only for kind "http". */
  readonly status: number | undefined;
  /** The Status message the server sent, or the network code (ECONNREFUSED...). */
  readonly detail: string;

  constructor(
    kind: KubeErrorKind,
    message: string,
    options: { status?: number; detail?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "KubeError";
    this.kind = kind;
    this.status = kind === "http" ? options.status : undefined;
    this.detail = options.detail ?? "";
  }
}

/**
 * Statuses a proxy or load balancer in front of the API server answers with when the server behind
 * it does not (or the server itself while starting or shutting down): no contact, as a refused connection.
 */
const NO_ANSWER_STATUSES = new Set([502, 503, 504]);

/** True when the API server itself answered, so the failure says nothing about reachability (403, 400, 410...). */
export function serverAnswered(error: KubeError): boolean {
  if (error.kind === "decode") return true;
  return error.kind === "http" && error.status !== undefined && !NO_ANSWER_STATUSES.has(error.status);
}

const TIMEOUT_CODES = new Set([
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** The error thrown by client-node's Watch for a non-200 response: a plain Error with the response's status. */
export interface WatchHttpError extends Error {
  statusCode: number;
}

/**
 * Classifies an error of a call through client-node. `watchResponse` marks errors of client-node's Watch,
 * whose only numeric `statusCode` is the HTTP response's status (it has no ApiException).
 */
export function kubeErrorOf(error: unknown, context: string, source: "call" | "watch" = "call"): KubeError {
  if (error instanceof KubeError) return error;
  if (error instanceof ApiException) {
    const status = error.code;
    return new KubeError("http", `${context}: the API server answered HTTP ${status}`, {
      status,
      detail: statusMessage(error.body) ?? "",
      cause: error,
    });
  }
  if (source === "watch" && isWatchHttpError(error)) {
    return new KubeError("http", `${context}: the API server answered HTTP ${error.statusCode}`, {
      status: error.statusCode,
      detail: error.message,
      cause: error,
    });
  }
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return new KubeError("timeout", `${context}: no answer in time`, { cause: error });
  }
  if (error instanceof SyntaxError) {
    return new KubeError("decode", `${context}: unreadable answer (${error.message})`, { cause: error });
  }
  const code = networkCode(error);
  if (code !== undefined) {
    const kind = code === "ECONNREFUSED" ? "refused" : TIMEOUT_CODES.has(code) ? "timeout" : "network";
    return new KubeError(kind, `${context}: ${describe(error)}`, { detail: code, cause: error });
  }
  return new KubeError("other", `${context}: ${describe(error)}`, { cause: error });
}

function isWatchHttpError(error: unknown): error is WatchHttpError {
  return (
    error instanceof Error && Object.hasOwn(error, "statusCode") && Number.isInteger(Reflect.get(error, "statusCode"))
  );
}

/** The string `code` of a Node network error, itself or as the cause undici hides behind "fetch failed". */
function networkCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const code = Reflect.get(current, "code");
    if (typeof code === "string" && code !== "") return code;
  }
  return undefined;
}

function statusMessage(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const message = Reflect.get(body, "message");
  return typeof message === "string" && message !== "" ? message : undefined;
}

/** The message plus the network cause undici hides behind "fetch failed" (ECONNREFUSED, ...). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  const detail = cause instanceof Error ? (networkCode(cause) ?? cause.message) : "";
  return detail === "" ? error.message : `${error.message} (${detail})`;
}
