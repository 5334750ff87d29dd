// The operations endpoint of every fedns process: /metrics (Prometheus), /healthz (the
// process is alive and its event loop turns) and /readyz (it can do its job; 503 with reasons).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { logger } from "./log.ts";

export interface Readiness {
  ready: boolean;
  /** Why not ready, or what is degraded; shown to people and probes. */
  reasons: string[];
  /**
   * Not ready, yet still doing useful work from last-known state (the DNS server while etcd is away).
   * `/readyz?degraded=ok` answers 200 then, for probes that must not pull every replica at once.
   */
  degraded?: boolean;
}

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  readiness: () => Readiness;
}

export interface OpsServer {
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const log = logger("ops-http");
  const server: Server = createServer((request, response) => {
    const [path, query = ""] = (request.url ?? "/").split("?");
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/readyz") {
      const state = options.readiness();
      const acceptDegraded = new URLSearchParams(query).get("degraded") === "ok" && state.degraded === true;
      const ok = state.ready || acceptDegraded;
      const body = state.ready
        ? `ok\n${state.reasons.map((r) => `${r}\n`).join("")}`
        : `not ready\n${state.reasons.map((r) => `${r}\n`).join("")}`;
      response.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(body);
      return;
    }
    if (path === "/metrics") {
      options.registry
        .metrics()
        .then((text) => response.writeHead(200, { "content-type": options.registry.contentType }).end(text))
        .catch((err: Error) => {
          log.error({ err }, "collecting metrics failed");
          response.writeHead(500).end();
        });
      return;
    }
    response.writeHead(404, { "content-type": "text/plain" }).end("try /metrics, /healthz or /readyz\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(new Error(`cannot listen on ${options.host}:${options.port} for metrics: ${err.message}`)),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  log.info({ host: options.host, port: bound.port }, "serving /metrics, /healthz, /readyz");
  return {
    address: { host: options.host, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Splits HOST:PORT (IPv6 in brackets). */
export function parseHostPort(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value);
  if (match === null) throw new Error(`expected HOST:PORT, got ${JSON.stringify(value)}`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`port out of range in ${JSON.stringify(value)}`);
  return { host: (match[1] ?? match[2])!, port };
}

/** The inverse of parseHostPort (IPv6 hosts in brackets). */
export function formatHostPort(address: { host: string; port: number }): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
