// kubectl (the real binary) against the simulated API server over HTTPS.

import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { startProcess } from "../../support/processes.ts";
import type { SimCluster, Simulation } from "../../support/sim.ts";
import { startTestSimulation, waitFor } from "../../support/sim.ts";

const run = promisify(execFile);

describe("sim with kubectl", function () {
  this.timeout(30000);
  let sim: Simulation;
  let cluster: SimCluster;
  let cache: string;

  const kubectl = async (...args: string[]): Promise<string> => {
    const { stdout } = await run("kubectl", [
      "--kubeconfig",
      sim.kubeconfigPath,
      "--cache-dir",
      cache,
      "--context",
      "east-a",
      ...args,
    ]);
    return stdout;
  };
  const kubectlError = async (...args: string[]): Promise<string> => {
    try {
      await kubectl(...args);
    } catch (err) {
      return String((err as { stderr?: string }).stderr);
    }
    throw new Error("kubectl succeeded");
  };

  before(async () => {
    sim = await startTestSimulation();
    cluster = sim.cluster("east-a");
    cache = await mkdtemp(join(tmpdir(), "fedns-kubectl-cache-"));
  });
  after(async () => {
    await sim?.stop();
    await rm(cache, { recursive: true, force: true });
  });

  it("gets services as a Table and as JSON", async () => {
    const table = await kubectl("get", "svc", "-A");
    expect(table).to.match(/NAMESPACE\s+NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE/);
    expect(table).to.match(
      /default\s+web\s+LoadBalancer\s+10\.96\.\S+\s+198\.51\.100\.10,2001:db8:1::10\s+80\/TCP,443\/TCP/,
    );
    const nodes = JSON.parse(await kubectl("get", "nodes", "-o", "json")) as {
      items: { metadata: { labels: Record<string, string> } }[];
    };
    expect(nodes.items.map((n) => n.metadata.labels["topology.kubernetes.io/zone"])).to.deep.equal([
      "us-east-1a",
      "us-east-1a",
    ]);
    expect(await kubectlError("get", "svc", "nope")).to.include('services "nope" not found');
  });

  it("labels, patches status and deletes", async () => {
    await kubectl("label", "svc", "web", "team=blue");
    expect(cluster.get("Service", "default", "web")?.metadata.labels).to.include({ team: "blue" });
    await kubectl(
      "patch",
      "svc",
      "web",
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.50"}]}}}',
    );
    expect(cluster.get("Service", "default", "web")?.status).to.deep.equal({
      loadBalancer: { ingress: [{ ip: "203.0.113.50" }] },
    });
    await kubectl(
      "patch",
      "svc",
      "web",
      "--type=json",
      "-p",
      '[{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]',
    );
    expect(cluster.get("Service", "default", "web")?.metadata.annotations).to.deep.equal({ a: "b" });
    await kubectl("delete", "svc", "internal");
    expect(cluster.get("Service", "default", "internal")).to.equal(undefined);
  });

  it("applies a Service with validation, reapplies unchanged, and rejects unknown fields", async () => {
    const file = join(cache, "svc.yaml");
    const manifest = (port: number, extra = ""): string =>
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: applied\n  namespace: default\nspec:\n  type: LoadBalancer\n${extra}  ports:\n  - name: http\n    port: ${port}\n`;
    await writeFile(file, manifest(80));
    expect(await kubectl("apply", "-f", file)).to.include("service/applied created");
    const rv = cluster.get("Service", "default", "applied")?.metadata.resourceVersion;
    expect(await kubectl("apply", "-f", file)).to.include("service/applied unchanged");
    expect(cluster.get("Service", "default", "applied")?.metadata.resourceVersion).to.equal(rv);
    await writeFile(file, manifest(8080));
    expect(await kubectl("apply", "-f", file)).to.include("service/applied configured");
    const ports =
      (cluster.get("Service", "default", "applied")?.spec as { ports: { port: number }[] } | undefined)?.ports ?? [];
    expect(ports.map((p) => p.port)).to.deep.equal([8080]);
    await writeFile(file, manifest(8080, "  bogusField: 1\n"));
    expect(await kubectlError("apply", "-f", file)).to.include('unknown field "spec.bogusField"');
  });

  it("streams changes with get -w", async () => {
    const watcher = startProcess("kubectl", [
      "--kubeconfig",
      sim.kubeconfigPath,
      "--cache-dir",
      cache,
      "--context",
      "east-a",
      "get",
      "svc",
      "-n",
      "shop",
      "-w",
      "--output-watch-events",
    ]);
    try {
      await waitFor("initial table", () => /ADDED\s+cart/.test(watcher.output()), 10000);
      await waitFor("watch open", () => cluster.openWatches > 0, 10000);
      cluster.patchStatus("Service", "shop", "cart", { loadBalancer: { ingress: [{ ip: "198.51.100.21" }] } });
      await waitFor(
        "modified row",
        () => /MODIFIED\s+cart\s+LoadBalancer\s+\S+\s+198\.51\.100\.21/.test(watcher.output()),
        10000,
      );
      cluster.delete("Service", "shop", "cart");
      await waitFor("deleted row", () => /DELETED\s+cart/.test(watcher.output()), 10000);
    } finally {
      await watcher.stop();
    }
  });
});
