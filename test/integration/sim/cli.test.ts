// `fedns sim` as a process: starts the scenario, writes the kubeconfig, takes faults from `fedns sim fault`.

import { execFile } from "node:child_process";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { type Started, startProcess } from "../../support/processes.ts";
import { DEV_SCENARIO, waitFor } from "../../support/sim.ts";

const run = promisify(execFile);
const NODE = "node_modules/.bin/node";
const CLI = "src/cli/main.ts";

describe("fedns sim (command line)", function () {
  this.timeout(30000);
  let dir: string;
  let sim: Started;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fedns-sim-cli-"));
    sim = startProcess(NODE, [CLI, "sim", "--scenario", DEV_SCENARIO, "--dir", dir], {
      env: { ...process.env, FEDNS_LOG_LEVEL: "warn" },
    });
    await waitFor("kubeconfig printed", () => sim.output().includes("cluster west-a:"), 15000);
  });
  after(async () => {
    await sim?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const kubectl = (...args: string[]) =>
    run("kubectl", ["--kubeconfig", join(dir, "kubeconfig"), "--cache-dir", join(dir, "cache"), ...args]);
  const fault = (cluster: string, action: string) =>
    run(NODE, [CLI, "sim", "fault", "--dir", dir, "--cluster", cluster, action]);

  it("prints the kubeconfig path and one URL per cluster, with a context per cluster", async () => {
    expect(sim.output()).to.include(`kubeconfig: ${join(dir, "kubeconfig")}`);
    expect(sim.output()).to.match(/cluster east-a: https:\/\/127\.0\.0\.1:\d+/);
    const contexts = (await kubectl("config", "get-contexts", "-o", "name")).stdout.trim().split("\n");
    expect(contexts).to.deep.equal(["east-a", "east-b", "west-a"]);
    const { stdout } = await kubectl(
      "--context",
      "west-a",
      "get",
      "svc",
      "-n",
      "shop",
      "cart",
      "-o",
      "jsonpath={.status.loadBalancer.ingress[0].hostname}",
    );
    expect(stdout).to.equal("localhost");
  });

  it("makes a cluster unreachable and brings it back", async () => {
    expect((await fault("east-b", "down")).stdout).to.include("east-b: unreachable");
    let error = "";
    try {
      await kubectl("--context", "east-b", "--request-timeout=2s", "get", "svc");
    } catch (err) {
      error = String((err as { stderr?: string }).stderr);
    }
    expect(error).to.match(/refused/);
    await kubectl("--context", "east-a", "get", "svc");
    await fault("east-b", "up");
    expect((await kubectl("--context", "east-b", "get", "svc")).stdout).to.include("web");
  });

  it("rejects unknown clusters and faults", async () => {
    for (const [cluster, action, message] of [
      ["nope", "compact", 'no cluster "nope"'],
      ["east-a", "explode", 'unknown fault "explode"'],
    ] as const) {
      let stderr = "";
      try {
        await fault(cluster, action);
      } catch (err) {
        stderr = String((err as { stderr?: string }).stderr);
      }
      expect(stderr).to.include(message);
    }
  });

  it("cleans up its state file on SIGTERM", async () => {
    const state = JSON.parse(await readFile(join(dir, "sim-state.json"), "utf8")) as { clusters: unknown[] };
    expect(state.clusters).to.have.length(3);
    await sim.stop("SIGTERM");
    expect(sim.child.exitCode).to.equal(0);
    let exists = true;
    await access(join(dir, "sim-state.json")).catch(() => {
      exists = false;
    });
    expect(exists).to.equal(false);
  });
});
