// Runs the real `fedns` CLI (src/cli/main.ts on the bundled Node 24) as a child process.
import { fileURLToPath } from "node:url";
import type { UdpTransportChoice } from "../../src/dns/udp/transport.ts";
import { freePort } from "./ports.ts";
import { type Started, startProcess } from "./processes.ts";

export const FEDNS_MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

export interface ServeProcess {
  dns: { host: string; port: number };
  metrics: string;
  process: Started;
  stop(): Promise<void>;
}

/** `fedns serve` on free loopback ports; resolves once /healthz answers. */
export async function startServe(options: {
  etcd: string;
  zones: string[];
  extra?: string[];
  /** --udp-transport (default: the config's, auto). */
  udpTransport?: UdpTransportChoice;
  env?: NodeJS.ProcessEnv;
}): Promise<ServeProcess> {
  const port = await freePort();
  const metricsPort = await freePort();
  const args = [
    FEDNS_MAIN,
    "serve",
    ...options.zones.flatMap((zone) => ["--zone", zone]),
    "--etcd",
    options.etcd,
    "--listen",
    `127.0.0.1:${port}`,
    "--metrics",
    `127.0.0.1:${metricsPort}`,
    ...(options.udpTransport === undefined ? [] : ["--udp-transport", options.udpTransport]),
    ...(options.extra ?? []),
  ];
  const asan = globalThis.process.env.FEDNS_ASAN_PRELOAD;
  const env = { ...globalThis.process.env, ...(asan === undefined ? {} : { LD_PRELOAD: asan }), ...options.env };
  const process = startProcess(globalThis.process.execPath, args, { env });
  const metrics = `http://127.0.0.1:${metricsPort}`;
  await waitForHttp(`${metrics}/healthz`, process);
  return { dns: { host: "127.0.0.1", port }, metrics, process, stop: () => process.stop() };
}

export async function waitForHttp(url: string, process: Started, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (process.child.exitCode !== null)
      throw new Error(`process exited (${process.child.exitCode}):\n${process.output()}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer:\n${process.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls until `check` passes (it may throw or return false meanwhile); fails with the last reason. */
export async function eventually<T>(what: string, check: () => Promise<T>, timeoutMs = 2000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms: ${(last as Error)?.message ?? last}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
