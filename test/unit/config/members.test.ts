// Member clusters from a kubeconfig's contexts: each context name becomes a cluster name.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { stringify } from "yaml";
import { ConfigError, parseConfig } from "../../../src/config/load.ts";
import { memberClusters } from "../../../src/config/members.ts";

function kubeconfig(contexts: string[]): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443" } }],
    users: [{ name: "u", user: {} }],
    contexts: contexts.map((name) => ({ name, context: { cluster: "c", user: "u" } })),
    "current-context": contexts[0],
  });
}

describe("memberClusters", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fedns-members-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function membersOf(contexts: string[], only: string[] = [], clusters: unknown[] = []) {
    const path = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
    await writeFile(path, kubeconfig(contexts));
    return () => memberClusters(parseConfig({ kubeconfig: path, clusters }), only);
  }

  it("a clusters: entry naming no source (only trust/zone) keeps its kubeconfig context", async () => {
    const members = (await membersOf(["east", "west"], [], [{ name: "east", trust: { namespaces: ["web"] } }]))();
    const east = members.find((member) => member.name === "east")!;
    expect(east.context).to.equal("east");
    expect(east.kubeconfig).to.be.a("string");
  });

  it("names members after contexts of up to 54 characters", async () => {
    const longest = "k".repeat(54);
    const members = (await membersOf([longest, "east"]))();
    expect(members.map((member) => member.name)).to.deep.equal(["east", longest]);
  });

  it("rejects a longer context name, saying why", async () => {
    const name = "k".repeat(60);
    const run = await membersOf(["east", name]);
    expect(run).to.throw(
      ConfigError,
      `context "${name}" cannot be a cluster name: it must be at most 54 characters (has 60)`,
    );
    expect(run).to.throw(ConfigError, "63-character DNS label");
  });

  it("lets --context leave such a context out", async () => {
    const run = await membersOf(["east", "k".repeat(60)], ["east"]);
    expect(run().map((member) => member.name)).to.deep.equal(["east"]);
  });

  it("still rejects contexts that are not DNS labels", async () => {
    const run = await membersOf(["arn:aws:eks:us-east-1:1:cluster/prod"]);
    expect(run).to.throw(ConfigError, "is not a valid cluster name");
  });
});
