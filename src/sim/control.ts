// The control endpoint of a running simulation: fault hooks reachable from another process
// (`fedns sim fault`). It listens on 127.0.0.1, its port and token are in DIR/sim-state.json.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import type { SimCluster } from "./cluster.ts";

export const FAULT_ACTIONS = ["compact", "close-watches", "reset-watches", "down", "hang", "up", "restart"] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];

export interface SimState {
  pid: number;
  kubeconfigPath: string;
  control: { url: string; token: string };
  clusters: { name: string; url: string }[];
}

export const STATE_FILE = "sim-state.json";

export function isFaultAction(value: string): value is FaultAction {
  return (FAULT_ACTIONS as readonly string[]).includes(value);
}

export async function applyFault(cluster: SimCluster, action: FaultAction): Promise<string> {
  switch (action) {
    case "compact":
      cluster.compact();
      return `compacted history at resourceVersion ${cluster.revision()}`;
    case "close-watches":
      return `closed ${cluster.closeWatches("clean")} watches`;
    case "reset-watches":
      return `reset ${cluster.closeWatches("reset")} watches`;
    case "down":
      await cluster.setReachable(false);
      return "unreachable";
    case "hang":
      cluster.setHanging(true);
      return "hanging (connections accepted, nothing answered)";
    case "up":
      await cluster.setReachable(true);
      return `reachable at ${cluster.url}`;
    case "restart":
      await cluster.restart();
      return `restarted at ${cluster.url}`;
  }
}

export interface ControlServer {
  url: string;
  token: string;
  close(): Promise<void>;
}

export async function startControlServer(clusters: SimCluster[]): Promise<ControlServer> {
  const token = randomBytes(24).toString("hex");
  const server: Server = createServer((req, res) => {
    const reply = (code: number, message: string): void => {
      res.writeHead(code, { "Content-Type": "text/plain" });
      res.end(`${message}\n`);
    };
    const given = Buffer.from(req.headers.authorization ?? "");
    const wanted = Buffer.from(`Bearer ${token}`);
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return reply(401, "unauthorized");
    const match = /^\/clusters\/([^/]+)\/faults\/([^/]+)$/.exec(req.url ?? "");
    if (req.method !== "POST" || !match) return reply(404, "use POST /clusters/NAME/faults/ACTION");
    const cluster = clusters.find((c) => c.name === decodeURIComponent(match[1] ?? ""));
    const action = decodeURIComponent(match[2] ?? "");
    if (cluster === undefined) return reply(404, `no cluster "${match[1]}"`);
    if (!isFaultAction(action)) return reply(400, `unknown fault "${action}" (one of ${FAULT_ACTIONS.join(", ")})`);
    applyFault(cluster, action).then(
      (message) => reply(200, `${cluster.name}: ${message}`),
      (err: unknown) => reply(500, `${cluster.name}: ${action} failed: ${String(err)}`),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("control server has no TCP address");
  return {
    url: `http://127.0.0.1:${address.port}`,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function writeState(dir: string, state: SimState): Promise<string> {
  const path = join(dir, STATE_FILE);
  await writeFile(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/** Sends a fault to the simulation running with state in `dir`; returns its answer. */
export async function sendFault(dir: string, cluster: string, action: FaultAction): Promise<string> {
  const path = join(dir, STATE_FILE);
  let state: SimState;
  try {
    state = JSON.parse(await readFile(path, "utf8")) as SimState;
  } catch (err) {
    throw new Error(`no running simulation in ${dir} (${path}: ${err instanceof Error ? err.message : String(err)})`);
  }
  const url = `${state.control.url}/clusters/${encodeURIComponent(cluster)}/faults/${action}`;
  let response: Response;
  try {
    response = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${state.control.token}` } });
  } catch (err) {
    throw new Error(`simulation in ${dir} does not answer at ${state.control.url}: ${String(err)}`);
  }
  const text = (await response.text()).trim();
  if (!response.ok) throw new Error(text);
  return text;
}
