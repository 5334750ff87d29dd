import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node";
import { expect } from "chai";
import {
  clusterClients,
  kubeconfigParses,
  loadKubeConfig,
  shareDispatcher,
} from "../../../src/controller/kube-client.ts";
import { KubeError } from "../../../src/controller/kube-errors.ts";
import { writeKubeconfig } from "../../../src/sim/kubeconfig.ts";

function config(caData: string): KubeConfig {
  const kube = new KubeConfig();
  kube.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:6443", caData, skipTLSVerify: false }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "ctx", cluster: "c", user: "u" }],
    currentContext: "ctx",
  });
  return kube;
}

async function dispatcherOf(kube: KubeConfig): Promise<unknown> {
  const context = new RequestContext("https://127.0.0.1:6443/api/v1/nodes", HttpMethod.GET);
  await kube.applySecurityAuthentication(context);
  return context.getDispatcher();
}

const CA_A = Buffer.from("-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n").toString("base64");
const CA_B = Buffer.from("-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n").toString("base64");

describe("controller/kube-client: one dispatcher per cluster", () => {
  it("reuses the dispatcher (and its keep-alive TLS connections) across requests", async () => {
    const kube = config(CA_A);
    const unshared = [await dispatcherOf(kube), await dispatcherOf(kube)];
    expect(unshared[0], "client-node alone builds one per request").to.not.equal(unshared[1]);
    const shared = shareDispatcher(kube);
    const first = await dispatcherOf(kube);
    expect(first).to.not.equal(undefined);
    for (let i = 0; i < 5; i++) expect(await dispatcherOf(kube)).to.equal(first);
    expect(shared.created()).to.equal(1);
  });

  it("builds a new one when the TLS settings change (rotated CA)", async () => {
    const kube = config(CA_A);
    const shared = shareDispatcher(kube);
    const first = await dispatcherOf(kube);
    const cluster = kube.getCurrentCluster();
    if (cluster === null) throw new Error("no cluster");
    Object.assign(cluster, { caData: CA_B });
    const second = await dispatcherOf(kube);
    expect(second).to.not.equal(first);
    expect(await dispatcherOf(kube)).to.equal(second);
    expect(shared.created()).to.equal(2);
  });
});

describe("controller/kube-client: a kubeconfig file is parsed once for all its members", () => {
  it("gives each member its own context over one parse, and parses again when the file changes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fedns-kubeconfig-"));
    try {
      const path = join(dir, "kubeconfig");
      const clusters = ["a", "b", "c"].map((name, i) => ({
        name,
        url: `https://127.0.0.1:${6443 + i}`,
        token: name,
        ca: undefined,
      }));
      await writeKubeconfig(path, clusters);
      const before = kubeconfigParses();
      const members = ["a", "b", "c"].map((context) => loadKubeConfig({ kubeconfig: path, context }));
      expect(kubeconfigParses() - before).to.equal(1);
      expect(members.map((member) => member.getCurrentCluster()?.server)).to.deep.equal([
        "https://127.0.0.1:6443",
        "https://127.0.0.1:6444",
        "https://127.0.0.1:6445",
      ]);
      expect(members.map((member) => member.getCurrentUser()?.token)).to.deep.equal(["a", "b", "c"]);
      // Rotated credentials: a new file (size or mtime changed) is read again.
      await writeKubeconfig(path, [{ ...clusters[0]!, token: "rotated-token" }, clusters[1]!, clusters[2]!]);
      const rotated = loadKubeConfig({ kubeconfig: path, context: "a" });
      expect(kubeconfigParses() - before).to.equal(2);
      expect(rotated.getCurrentUser()?.token).to.equal("rotated-token");
      expect(() => loadKubeConfig({ kubeconfig: path, context: "nope" })).to.throw(/no context "nope"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("controller/kube-client: lists as plain JSON", () => {
  let server: Server;
  let kube: KubeConfig;
  let answer: (url: URL) => { status: number; body: string };
  const seen: URL[] = [];

  before(async () => {
    server = createServer((request, response) => {
      const url = new URL(request.url ?? "/", "http://x");
      seen.push(url);
      const { status, body } = answer(url);
      response.writeHead(status, { "content-type": "application/json" });
      response.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    kube = new KubeConfig();
    kube.loadFromOptions({
      clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "u", token: "secret-token" }],
      contexts: [{ name: "ctx", cluster: "c", user: "u" }],
      currentContext: "ctx",
    });
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("reads items, resource version and continue token as sent, with the page limit and selector", async () => {
    answer = () => ({
      status: 200,
      body: JSON.stringify({
        metadata: { resourceVersion: "42", continue: "next-page" },
        items: [{ metadata: { name: "a", namespace: "n", creationTimestamp: "2026-01-01T00:00:00Z" } }],
      }),
    });
    const clients = clusterClients(kube, { serviceLabelSelector: "app=web" });
    const page = await clients.services.list({ continueToken: "t0", signal: new AbortController().signal });
    expect(page).to.deep.equal({
      items: [{ metadata: { name: "a", namespace: "n", creationTimestamp: "2026-01-01T00:00:00Z" } }],
      resourceVersion: "42",
      continueToken: "next-page",
    });
    const url = seen.at(-1)!;
    expect(url.pathname).to.equal("/api/v1/services");
    expect(Object.fromEntries(url.searchParams)).to.deep.equal({
      limit: "500",
      continue: "t0",
      labelSelector: "app=web",
    });
  });

  it("classifies what the server answered: an HTTP status with its message, an unreadable body", async () => {
    const clients = clusterClients(kube);
    const signal = new AbortController().signal;
    answer = () => ({ status: 403, body: JSON.stringify({ kind: "Status", message: "nodes is forbidden" }) });
    const forbidden = await clients.nodes.list({ signal }).catch((err: unknown) => err);
    expect(forbidden).to.be.instanceOf(KubeError);
    expect(forbidden).to.include({ kind: "http", status: 403, detail: "nodes is forbidden" });
    answer = () => ({ status: 200, body: "<html>proxy</html>" });
    const unreadable = await clients.endpointSlices.list({ signal }).catch((err: unknown) => err);
    expect(unreadable).to.include({ kind: "decode" });
    answer = () => ({ status: 200, body: JSON.stringify({ items: [] }) });
    await clients.probe(signal);
    expect(Object.fromEntries(seen.at(-1)!.searchParams)).to.deep.equal({ limit: "1" });
  });
});
