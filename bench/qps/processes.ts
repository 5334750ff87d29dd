// Everything the benchmark starts (processes, temp dirs) is registered here and torn down
// on every way out: normal end, error, Ctrl-C, SIGTERM.
import { type ChildProcess, execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface Tracked {
  child: ChildProcess;
  label: string;
  /** Last output of the process, for error messages. */
  output: () => string;
}

export class ChildTracker {
  private readonly children = new Set<Tracked>();
  private readonly dirs = new Set<string>();
  private cleaned = false;

  track(child: ChildProcess, label: string): Tracked {
    let log = "";
    const keep = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.length > 100_000) log = log.slice(-50_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const tracked: Tracked = { child, label, output: () => log };
    this.children.add(tracked);
    child.once("exit", () => this.children.delete(tracked));
    return tracked;
  }

  trackDir(dir: string): void {
    this.dirs.add(dir);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(tracked: Tracked, graceMs = 5000): Promise<void> {
    const { child } = tracked;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.children].map((tracked) => this.stop(tracked, 3000)));
    this.removeDirs();
  }

  /** Last resort from a synchronous exit path: kill what is left, remove the dirs. */
  cleanupNow(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const { child } of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    this.removeDirs();
  }

  private removeDirs(): void {
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    this.dirs.clear();
  }

  /** Makes Ctrl-C, SIGTERM and process exit tear everything down. */
  installSignalHandlers(): void {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.stderr.write(`\n${signal}: stopping everything the benchmark started\n`);
      void this.cleanup().finally(() => {
        this.cleanupNow();
        process.exit(130);
      });
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    process.once("exit", () => this.cleanupNow());
  }
}

async function portIsFree(port: number): Promise<boolean> {
  const tcpFree = await new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
  if (!tcpFree) return false;
  return new Promise<boolean>((resolve) => {
    const socket = createSocket("udp4");
    socket.once("error", () => resolve(false));
    socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
  });
}

/** A port free on 127.0.0.1 for both TCP and UDP (a DNS server binds both), not among `avoid`. */
export async function freePort(avoid: ReadonlySet<number> = new Set()): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => {
          if (address === null || typeof address === "string") reject(new Error("no port"));
          else resolve(address.port);
        });
      });
    });
    if (!avoid.has(port) && (await portIsFree(port))) return port;
  }
  throw new Error("no port free for both TCP and UDP on 127.0.0.1 after 50 attempts");
}

export interface DigAnswer {
  status: string;
  addresses: string[];
}

/** One A query with kdig: the rcode and the A addresses of the answer section. */
export async function digA(port: number, name: string): Promise<DigAnswer> {
  const { stdout } = await execFileAsync("kdig", [
    `@127.0.0.1`,
    "-p",
    String(port),
    "+time=1",
    "+retry=0",
    "+noall",
    "+header",
    "+answer",
    name,
    "A",
  ]);
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? "NO-RESPONSE";
  const addresses = [...stdout.matchAll(/\sIN\s+A\s+([\d.]+)/g)].map((match) => match[1] ?? "");
  return { status, addresses };
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true; fails with `what` and the process output once `timeoutMs` passes. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  tracked?: Tracked,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    if (tracked !== undefined && (tracked.child.exitCode !== null || tracked.child.signalCode !== null)) {
      throw new Error(
        `${tracked.label} exited (${tracked.child.exitCode ?? tracked.child.signalCode}) before ${what}:\n${tracked.output()}`,
      );
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(200);
  }
  const output = tracked === undefined ? "" : `\n${tracked.label} output:\n${tracked.output()}`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (${lastError})` : ""}${output}`);
}
