// RBAC gaps in a member cluster: an API server (a small HTTP fake) that lets fedns list and watch
// services, refuses to list endpointslices, and lets it list nodes but not watch them.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { expect } from "chai";
import { formatFinding } from "../../../src/cli/check/findings.ts";
import { runCheck } from "../../../src/cli/check.ts";
import { parseConfig } from "../../../src/config/load.ts";

function forbidden(resource: string): string {
  return JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    message: `${resource} is forbidden: User "system:serviceaccount:fedns-member:fedns" cannot list resource`,
    reason: "Forbidden",
    code: 403,
  });
}

describe("fedns check: RBAC gaps in a member cluster", () => {
  let server: Server;
  let url: string;
  const requests: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x");
      const watch = path.searchParams.get("watch") === "true";
      const bound = watch
        ? `timeoutSeconds=${path.searchParams.get("timeoutSeconds")}`
        : `limit=${path.searchParams.get("limit")}`;
      requests.push(`${watch ? "watch" : "list"} ${path.pathname} ${bound}`);
      const refuse = path.pathname.includes("endpointslices") || (watch && path.pathname === "/api/v1/nodes");
      if (refuse) {
        res.writeHead(403, { "Content-Type": "application/json" }).end(forbidden(path.pathname));
      } else if (watch) {
        res.writeHead(200, { "Content-Type": "application/json" }).end();
      } else {
        const kind = path.pathname.endsWith("nodes") ? "NodeList" : "ServiceList";
        res
          .writeHead(200, { "Content-Type": "application/json" })
          .end(JSON.stringify({ kind, apiVersion: "v1", metadata: { resourceVersion: "7" }, items: [] }));
      }
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.close();
  });

  it("gives one error per refused call, naming the resource and the RBAC to apply", async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: "east-a", server: url, skipTLSVerify: true }],
      users: [{ name: "fedns", token: "t" }],
      contexts: [{ name: "east-a", cluster: "east-a", user: "fedns" }],
      currentContext: "east-a",
    });
    const config = parseConfig({
      federation: "myfed",
      domain: "example.com",
      etcd: { endpoints: ["http://127.0.0.1:1"] },
    });
    const report = await runCheck(config, {
      members: [{ name: "east-a", kubeConfig }],
      timeoutMs: 2000,
      skipDns: true,
    });
    const lines = report.findings.filter((f) => f.subject === "cluster east-a").map(formatFinding);
    expect(lines).to.deep.equal([
      "[error] cluster east-a: cannot list endpointslices (403 Forbidden) -> grant list/watch on discovery.k8s.io endpointslices (kubectl --context <member> apply -k deploy/member-cluster)",
      "[error] cluster east-a: cannot watch nodes (403 Forbidden) -> grant list/watch on core nodes (kubectl --context <member> apply -k deploy/member-cluster)",
    ]);
    expect(report.exitCode).to.equal(1);
    // Each resource was listed with limit=1, and the watches asked for a 1 s timeout.
    expect(requests).to.include.members([
      "list /api/v1/services limit=1",
      "watch /api/v1/services timeoutSeconds=1",
      "list /apis/discovery.k8s.io/v1/endpointslices limit=1",
      "list /api/v1/nodes limit=1",
      "watch /api/v1/nodes timeoutSeconds=1",
    ]);
  });
});
