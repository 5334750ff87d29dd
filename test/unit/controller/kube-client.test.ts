import { HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node";
import { expect } from "chai";
import { shareDispatcher } from "../../../src/controller/kube-client.ts";

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
