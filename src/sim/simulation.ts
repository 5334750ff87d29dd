// A whole simulation: every cluster of a scenario, one kubeconfig, shared TLS material, cleanup.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { logger } from "../obs/log.ts";
import { SimCluster } from "./cluster.ts";
import { type ControlServer, STATE_FILE, startControlServer, writeState } from "./control.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import type { Scenario } from "./scenario.ts";
import { seedObjects } from "./seed.ts";
import { createCertificates } from "./tls.ts";

export interface SimulationOptions {
  scenario: Scenario;
  /** Where the kubeconfig, certificates and state file go; a temp dir (removed on stop) when unset. */
  dir?: string;
  /** HTTPS with a generated CA (default); false serves plain HTTP. */
  tls?: boolean;
  host?: string;
  /** Start the control endpoint for `fedns sim fault` and write DIR/sim-state.json. */
  control?: boolean;
  bookmarkIntervalMs?: number;
  maxHistory?: number;
}

export interface Simulation {
  clusters: SimCluster[];
  kubeconfigPath: string;
  dir: string;
  cluster(name: string): SimCluster;
  stop(): Promise<void>;
}

export async function startSimulation(options: SimulationOptions): Promise<Simulation> {
  const log = logger("sim");
  const host = options.host ?? "127.0.0.1";
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "fedns-sim-")));
  if (!ownsDir) await mkdir(dir, { recursive: true });
  const clusters: SimCluster[] = [];
  let control: ControlServer | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all(clusters.map((c) => c.stop()));
    await control?.close();
    if (ownsDir) await rm(dir, { recursive: true, force: true });
    else if (control !== undefined) await rm(join(dir, STATE_FILE), { force: true });
  };
  try {
    let tls: { cert: string; key: string; caPath: string } | undefined;
    let ca: string | undefined;
    if (options.tls !== false) {
      const pki = join(dir, "pki");
      await mkdir(pki, { recursive: true });
      const certificates = await createCertificates(pki, [host]);
      tls = { cert: certificates.cert, key: certificates.key, caPath: certificates.caPath };
      ca = certificates.ca;
    }
    options.scenario.clusters.forEach((spec, index) => {
      const cluster = new SimCluster({
        name: spec.name,
        token: randomBytes(24).toString("hex"),
        host,
        tls,
        bookmarkIntervalMs: options.bookmarkIntervalMs,
        maxHistory: options.maxHistory,
      });
      for (const object of seedObjects(spec, index)) cluster.apply(object);
      clusters.push(cluster);
    });
    await Promise.all(clusters.map((c) => c.start()));
    const kubeconfigPath = join(dir, "kubeconfig");
    await writeKubeconfig(
      kubeconfigPath,
      clusters.map((c) => ({ name: c.name, url: c.url, token: c.token, ca })),
    );
    if (options.control) {
      control = await startControlServer(clusters);
      await writeState(dir, {
        pid: process.pid,
        kubeconfigPath,
        control: { url: control.url, token: control.token },
        clusters: clusters.map((c) => ({ name: c.name, url: c.url })),
      });
    }
    log.debug({ clusters: clusters.map((c) => ({ name: c.name, url: c.url })), kubeconfigPath }, "simulation started");
    return {
      clusters,
      kubeconfigPath,
      dir,
      cluster(name: string): SimCluster {
        const found = clusters.find((c) => c.name === name);
        if (found === undefined) throw new Error(`no simulated cluster "${name}"`);
        return found;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
