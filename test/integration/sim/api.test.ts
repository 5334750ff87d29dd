// The simulated API server over plain HTTP: status errors, list resourceVersions and watch semantics.

import { type IncomingMessage, request } from "node:http";
import { connect } from "node:net";
import { expect } from "chai";
import { applyFault } from "../../../src/sim/control.ts";
import type { SimCluster, Simulation } from "../../support/sim.ts";
import { startTestSimulation, waitFor } from "../../support/sim.ts";

interface RawWatch {
  status: number;
  events: {
    type: string;
    object: { metadata?: { name?: string; resourceVersion?: string }; code?: number; reason?: string };
  }[];
  ended: Promise<"end" | "error">;
  close(): void;
}

/** Opens a watch and resolves once the response headers arrive (before any event). */
function openWatch(cluster: SimCluster, path: string): Promise<RawWatch> {
  return new Promise((resolve, reject) => {
    const req = request(`${cluster.url}${path}`, { headers: { authorization: `Bearer ${cluster.token}` } });
    req.on("error", reject);
    req.on("response", (res: IncomingMessage) => {
      const events: RawWatch["events"] = [];
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let newline = buffer.indexOf("\n");
        while (newline >= 0) {
          events.push(JSON.parse(buffer.slice(0, newline)));
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf("\n");
        }
      });
      const ended = new Promise<"end" | "error">((done) => {
        res.on("end", () => done("end"));
        res.on("error", () => done("error"));
        res.on("aborted", () => done("error"));
      });
      resolve({ status: res.statusCode ?? 0, events, ended, close: () => req.destroy() });
    });
    req.end();
  });
}

async function call(
  cluster: SimCluster,
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
  token: string | null = cluster.token,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { "content-type": contentType };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${cluster.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

const SERVICES = "/api/v1/namespaces/default/services";

/** Writes raw bytes to the API server; resolves with what came back once the server closes (or 5 s pass). */
function rawRequest(cluster: SimCluster, bytes: string): Promise<{ text: string; closedByServer: boolean }> {
  const { hostname, port } = new URL(cluster.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closedByServer: false });
    }, 5000);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      text += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closedByServer: true });
    });
    socket.write(bytes);
  });
}

function svc(name: string, labels: Record<string, string> = {}): unknown {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, labels },
    spec: { type: "LoadBalancer", ports: [{ port: 80 }] },
  };
}

describe("sim API server (HTTP)", function () {
  this.timeout(15000);
  let sim: Simulation;
  let cluster: SimCluster;
  const watches: RawWatch[] = [];

  before(async () => {
    sim = await startTestSimulation({ tls: false, bookmarkIntervalMs: 100 });
    cluster = sim.cluster("east-a");
  });
  after(async () => {
    for (const w of watches) w.close();
    await sim.stop();
  });
  const watch = async (path: string): Promise<RawWatch> => {
    const w = await openWatch(cluster, path);
    watches.push(w);
    return w;
  };

  it("answers 401 Unauthorized without the bearer token", async () => {
    const { status, json } = await call(cluster, "GET", SERVICES, undefined, "application/json", null);
    expect(status).to.equal(401);
    expect(json).to.include({ kind: "Status", reason: "Unauthorized", code: 401 });
    expect((await call(cluster, "GET", SERVICES, undefined, "application/json", "wrong")).status).to.equal(401);
  });

  it("authenticates before it parses anything but the health paths: path, query and body", async () => {
    // A path that does not decode: 401 without the token (never a 500 from parsing it), 404 with it.
    expect((await call(cluster, "GET", "/api/%E0", undefined, "application/json", null)).status).to.equal(401);
    expect((await call(cluster, "GET", "/api/%E0")).status).to.equal(404);
    expect((await fetch(`${cluster.url}/healthz?verbose`)).status).to.equal(200);
    // A huge body announced (1 GiB, a few bytes sent) that is not JSON: 401 at once, and the server
    // closes the connection instead of reading (or parsing) the body.
    const reply = await rawRequest(
      cluster,
      [
        `POST ${SERVICES} HTTP/1.1`,
        `Host: ${new URL(cluster.url).host}`,
        "Content-Type: application/json",
        `Content-Length: ${2 ** 30}`,
        "",
        "{not json",
      ].join("\r\n"),
    );
    expect(reply.text.split("\r\n")[0]).to.equal("HTTP/1.1 401 Unauthorized");
    expect(reply.text).to.include('"reason":"Unauthorized"');
    expect(reply.closedByServer).to.equal(true);
    // The same request with the token is read as a body (and found wanting), proving the body was unread above.
    const authorized = await rawRequest(
      cluster,
      [
        `POST ${SERVICES} HTTP/1.1`,
        `Host: ${new URL(cluster.url).host}`,
        `Authorization: Bearer ${cluster.token}`,
        "Content-Type: application/json",
        "Content-Length: 9",
        "Connection: close",
        "",
        "{not json",
      ].join("\r\n"),
    );
    expect(authorized.text.split("\r\n")[0]).to.equal("HTTP/1.1 400 Bad Request");
  });

  it("returns Status objects with reason and code for 404, 409, 400, 422, 415", async () => {
    const missing = await call(cluster, "GET", `${SERVICES}/nope`);
    expect(missing.json).to.include({ kind: "Status", status: "Failure", reason: "NotFound", code: 404 });
    expect(missing.status).to.equal(404);
    expect((await call(cluster, "POST", SERVICES, svc("dup"))).status).to.equal(201);
    const dup = await call(cluster, "POST", SERVICES, svc("dup"));
    expect([dup.status, dup.json.reason]).to.deep.equal([409, "AlreadyExists"]);
    const wrongName = await call(cluster, "PUT", `${SERVICES}/other`, svc("dup"));
    expect([wrongName.status, wrongName.json.reason]).to.deep.equal([400, "BadRequest"]);
    const invalid = await call(cluster, "POST", SERVICES, {
      metadata: { name: "bad" },
      spec: { ports: [{ port: -1 }] },
    });
    expect([invalid.status, invalid.json.reason]).to.deep.equal([422, "Invalid"]);
    expect(JSON.stringify(invalid.json.details)).to.include("spec.ports[0].port");
    const ssa = await call(cluster, "PATCH", `${SERVICES}/dup`, {}, "application/apply-patch+yaml");
    expect(ssa.status).to.equal(415);
    const badSelector = await call(cluster, "GET", `${SERVICES}?fieldSelector=spec.nope%3Dx`);
    expect(badSelector.status).to.equal(400);
  });

  it("stamps the list resourceVersion and one increasing resourceVersion per write", async () => {
    const before = await call(cluster, "GET", "/api/v1/services");
    const listRv = Number((before.json.metadata as { resourceVersion: string }).resourceVersion);
    expect(listRv).to.equal(cluster.revision());
    const created = await call(cluster, "POST", SERVICES, svc("rv"));
    expect((created.json.metadata as { resourceVersion: string }).resourceVersion).to.equal(String(listRv + 1));
    const noop = await call(
      cluster,
      "PATCH",
      `${SERVICES}/rv`,
      { metadata: { labels: {} } },
      "application/merge-patch+json",
    );
    expect((noop.json.metadata as { resourceVersion: string }).resourceVersion).to.equal(String(listRv + 1));
    expect(cluster.revision()).to.equal(listRv + 1);
  });

  it("pages lists under setListPageLimit with continue tokens, and expires a token once the list changed", async () => {
    const all = await call(cluster, "GET", "/api/v1/nodes");
    const names = (all.json.items as { metadata: { name: string } }[]).map((item) => item.metadata.name);
    expect(names.length).to.be.at.least(2);
    cluster.setListPageLimit(1);
    try {
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const query = token === undefined ? "?limit=500" : `?limit=500&continue=${encodeURIComponent(token)}`;
        const page = await call(cluster, "GET", `/api/v1/nodes${query}`);
        const items = page.json.items as { metadata: { name: string } }[];
        expect(items).to.have.length(1);
        seen.push(items[0]!.metadata.name);
        token = (page.json.metadata as { continue?: string }).continue;
      } while (token !== undefined);
      expect(seen).to.deep.equal(names);

      const first = await call(cluster, "GET", "/api/v1/nodes");
      const stale = (first.json.metadata as { continue: string }).continue;
      await call(cluster, "POST", SERVICES, svc("pages-changed"));
      const expired = await call(cluster, "GET", `/api/v1/nodes?continue=${encodeURIComponent(stale)}`);
      expect(expired.status).to.equal(410);
      expect(expired.json.reason).to.equal("Expired");
    } finally {
      cluster.setListPageLimit(undefined);
    }
  });

  it("flushes watch headers at once and starts a resourceVersion=0 watch with synthetic ADDED events", async () => {
    const w = await watch("/api/v1/nodes?watch=true&resourceVersion=0");
    expect(w.status).to.equal(200);
    await waitFor("initial nodes", () => w.events.length === 2);
    expect(w.events.map((e) => [e.type, e.object.metadata?.name])).to.deep.equal([
      ["ADDED", "east-a-node-1"],
      ["ADDED", "east-a-node-2"],
    ]);
  });

  it("replays events after a resourceVersion, then streams live ones", async () => {
    const from = cluster.revision();
    cluster.apply(svc("replayed") as never);
    cluster.patch("Service", "default", "replayed", { metadata: { labels: { a: "1" } } });
    const w = await watch(`${SERVICES}?watch=true&resourceVersion=${from}`);
    await waitFor("replay", () => w.events.length === 2);
    cluster.delete("Service", "default", "replayed");
    await waitFor("live delete", () => w.events.length === 3);
    expect(w.events.map((e) => e.type)).to.deep.equal(["ADDED", "MODIFIED", "DELETED"]);
    expect(w.events.map((e) => Number(e.object.metadata?.resourceVersion))).to.deep.equal([
      from + 1,
      from + 2,
      from + 3,
    ]);
  });

  it("answers a watch older than the compaction point with 200 + ERROR 410 Expired, then closes", async () => {
    const old = cluster.revision();
    cluster.apply(svc("after-compact") as never);
    cluster.compact();
    const w = await watch(`${SERVICES}?watch=true&resourceVersion=${old}`);
    expect(w.status).to.equal(200);
    expect(await w.ended).to.equal("end");
    expect(w.events).to.have.length(1);
    expect(w.events[0]?.type).to.equal("ERROR");
    expect(w.events[0]?.object).to.include({ code: 410, reason: "Expired" });
  });

  it("reports objects moving in and out of a label selector as ADDED and DELETED", async () => {
    cluster.apply(svc("mover") as never);
    const w = await watch(`${SERVICES}?watch=true&resourceVersion=${cluster.revision()}&labelSelector=tier%3Dfront`);
    cluster.patch("Service", "default", "mover", { metadata: { labels: { tier: "front" } } });
    cluster.patch("Service", "default", "mover", { metadata: { annotations: { note: "x" } } });
    cluster.patch("Service", "default", "mover", { metadata: { labels: { tier: "back" } } });
    cluster.apply(svc("other-back", { tier: "back" }) as never);
    await waitFor("three events", () => w.events.length >= 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(w.events.map((e) => e.type)).to.deep.equal(["ADDED", "MODIFIED", "DELETED"]);
  });

  it("honours fieldSelector on watches", async () => {
    const w = await watch(
      `${SERVICES}?watch=true&resourceVersion=${cluster.revision()}&fieldSelector=metadata.name%3Dpicked`,
    );
    cluster.apply(svc("not-picked") as never);
    cluster.apply(svc("picked") as never);
    await waitFor("picked", () => w.events.length === 1);
    expect(w.events[0]?.object.metadata?.name).to.equal("picked");
  });

  it("sends bookmarks only when allowed, and ends the watch after timeoutSeconds", async () => {
    const rv = cluster.revision();
    const withBookmarks = await watch(`/api/v1/nodes?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`);
    const without = await watch(`/api/v1/nodes?watch=true&resourceVersion=${rv}&timeoutSeconds=1`);
    await waitFor("a bookmark", () => withBookmarks.events.some((e) => e.type === "BOOKMARK"));
    const bookmark = withBookmarks.events.find((e) => e.type === "BOOKMARK");
    expect(bookmark?.object.metadata?.resourceVersion).to.equal(String(cluster.revision()));
    expect(await without.ended).to.equal("end");
    expect(without.events).to.deep.equal([]);
  });

  it("closes watches cleanly or with a reset on demand", async () => {
    const clean = await watch(`/api/v1/nodes?watch=true&resourceVersion=${cluster.revision()}`);
    expect(cluster.closeWatches("clean")).to.be.greaterThan(0);
    expect(await clean.ended).to.equal("end");
    const reset = await watch(`/api/v1/nodes?watch=true&resourceVersion=${cluster.revision()}`);
    cluster.closeWatches("reset");
    expect(await reset.ended).to.equal("error");
  });

  it("refuses connections while unreachable and comes back on the same URL", async () => {
    const url = cluster.url;
    await cluster.setReachable(false);
    let refused = false;
    try {
      await call(cluster, "GET", SERVICES);
    } catch {
      refused = true;
    }
    expect(refused).to.equal(true);
    await cluster.setReachable(true);
    expect(cluster.url).to.equal(url);
    expect((await call(cluster, "GET", SERVICES)).status).to.equal(200);
  });

  it("hangs on demand: accepts connections, answers nothing, silences open watches; recovers on up", async () => {
    const open = await watch(`/api/v1/nodes?watch=true&resourceVersion=${cluster.revision()}&allowWatchBookmarks=true`);
    await waitFor("a bookmark before the hang", () => open.events.some((e) => e.type === "BOOKMARK"));
    cluster.setHanging(true);
    const seen = open.events.length;
    // A write and several bookmark intervals (100 ms) pass: the open watch stays silent.
    cluster.apply(svc("during-hang") as Parameters<SimCluster["apply"]>[0]);
    const pending = fetch(`${cluster.url}${SERVICES}`, {
      headers: { authorization: `Bearer ${cluster.token}` },
      signal: AbortSignal.timeout(600),
    });
    let outcome = "answered";
    try {
      await pending;
    } catch (err) {
      outcome = (err as Error).name;
    }
    expect(outcome).to.equal("TimeoutError");
    expect(open.events.length).to.equal(seen);
    // Back: the silenced watch is reset (its client re-watches), new requests are answered.
    await applyFault(cluster, "up");
    expect(await open.ended).to.equal("error");
    expect((await call(cluster, "GET", SERVICES)).status).to.equal(200);
    cluster.delete("Service", "default", "during-hang");
  });

  it("serves discovery and OpenAPI v3 documents", async () => {
    const core = await call(cluster, "GET", "/api/v1");
    const names = (core.json.resources as { name: string }[]).map((r) => r.name);
    expect(names).to.include.members(["services", "services/status", "nodes", "namespaces"]);
    const root = await call(cluster, "GET", "/openapi/v3");
    const paths = root.json.paths as Record<string, { serverRelativeURL: string }>;
    const doc = await call(cluster, "GET", paths["apis/discovery.k8s.io/v1"]?.serverRelativeURL ?? "");
    expect(doc.json.components).to.have.nested.property("schemas.io\\.k8s\\.api\\.discovery\\.v1\\.EndpointSlice");
  });
});
