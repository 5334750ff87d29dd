// The whole product as users run it: simulated member clusters (3 clusters, 2 regions, 3 zones),
// a real etcd, `fedns controller` and `fedns serve` as child processes, answers checked with dig.
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { stringify } from "yaml";
import { type DigResult, dig } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { eventually, FEDNS_MAIN, type ServeProcess, startServe, waitForHttp } from "../../support/fedns.ts";
import { type Knot, startKnot } from "../../support/knot.ts";
import { freePort } from "../../support/ports.ts";
import { type Started, startProcess } from "../../support/processes.ts";
import { type Simulation, startTestSimulation } from "../../support/sim.ts";

const WEB = "web.default.myfed.svc.example.com";
const WEB_EAST = "web.default.myfed.svc.us-east-1.example.com";
const WEB_EAST_1A = "web.default.myfed.svc.us-east-1a.us-east-1.example.com";
const WEB_EAST_1B = "web.default.myfed.svc.us-east-1b.us-east-1.example.com";
const WEB_WEST = "web.default.myfed.svc.us-west-2.example.com";
const WEB_WEST_2A = "web.default.myfed.svc.us-west-2a.us-west-2.example.com";
const CART = "cart.shop.myfed.svc.example.com";
const CART_EAST_1A = "cart.shop.myfed.svc.us-east-1a.us-east-1.example.com";
const CART_WEST_2A = "cart.shop.myfed.svc.us-west-2a.us-west-2.example.com";
const CART_EAST = "cart.shop.myfed.svc.us-east-1.example.com";
const CART_WEST = "cart.shop.myfed.svc.us-west-2.example.com";

/** "A 1.2.3.4" / "CNAME x." lines of an answer, order-free. */
function rrs(result: DigResult): string[] {
  return result.answer.map((rr) => `${rr.name} ${rr.type} ${rr.data}`).sort();
}

describe("end to end: simulated clusters -> fedns controller -> etcd -> fedns serve -> dig", function () {
  this.timeout(90_000);
  let etcd: EtcdProcess;
  /** The DNS server controller.resolver names: it serves the cloud load balancers' hostnames. */
  let knot: Knot;
  let sim: Simulation;
  let serve: ServeProcess;
  let controller: Started;
  let configPath: string;
  const answers = (name: string, type = "A") => dig(serve.dns, name, type);

  function writeConfig(clusters: string[]): Promise<void> {
    return writeFile(
      configPath,
      stringify({
        federation: "myfed",
        domain: "example.com",
        etcd: { endpoints: [etcd.endpoint] },
        controller: {
          gracePeriodSeconds: 2,
          batchMs: 20,
          leaderElection: { enabled: false },
          resolver: { servers: [`${knot.dns.host}:${knot.dns.port}`], minRefreshSeconds: 1 },
        },
        clusters: clusters.map((name) => ({ name, kubeconfig: sim.kubeconfigPath, context: name })),
      }),
    );
  }

  before(async () => {
    etcd = await startEtcd();
    knot = await startKnot({
      zone: "example.net",
      zoneFile: [
        "$ORIGIN example.net.",
        "@ 30 IN SOA ns.example.net. hostmaster.example.net. 1 7200 1800 86400 30",
        "@ 30 IN NS ns.example.net.",
        "ns 30 IN A 192.0.2.53",
        "cart-lb 5 IN A 203.0.113.77",
        "",
      ].join("\n"),
    });
    sim = await startTestSimulation();
    configPath = join(tmpdir(), `fedns-e2e-${process.pid}.yaml`);
    await writeConfig(["east-a", "east-b", "west-a"]);
    const metrics = await freePort();
    controller = startProcess(process.execPath, [
      FEDNS_MAIN,
      "controller",
      "--config",
      configPath,
      "--metrics",
      `127.0.0.1:${metrics}`,
    ]);
    await waitForHttp(`http://127.0.0.1:${metrics}/readyz`, controller, 30_000);
    serve = await startServe({ etcd: etcd.endpoint, zones: ["example.com"] });
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") {
      console.error(`--- fedns controller output ---\n${controller?.output().slice(-6000)}`);
      console.error(`--- fedns serve output ---\n${serve?.process.output().slice(-3000)}`);
    }
  });

  after(async () => {
    await serve?.stop();
    await controller?.stop();
    await sim?.stop();
    await knot?.stop();
    await etcd?.destroy();
    if (configPath !== undefined) await rm(configPath, { force: true });
  });

  it("answers every level of a healthy service, nearest first, in both families and with SRV", async () => {
    await eventually(
      "global web",
      async () => {
        expect(rrs(await answers(WEB))).to.deep.equal([
          `${WEB}. A 198.51.100.10`,
          `${WEB}. A 198.51.100.30`,
          `${WEB}. A 203.0.113.10`,
        ]);
      },
      20_000,
    );
    expect(rrs(await answers(WEB, "AAAA"))).to.deep.equal([`${WEB}. AAAA 2001:db8:1::10`]);
    expect(rrs(await answers(WEB_EAST))).to.deep.equal([
      `${WEB_EAST}. A 198.51.100.10`,
      `${WEB_EAST}. A 198.51.100.30`,
    ]);
    expect(rrs(await answers(WEB_EAST_1A))).to.deep.equal([`${WEB_EAST_1A}. A 198.51.100.10`]);
    expect(rrs(await answers(WEB_WEST_2A))).to.deep.equal([`${WEB_WEST_2A}. A 203.0.113.10`]);
    const srv = await answers(`_http._tcp.${WEB_EAST_1A}`, "SRV");
    expect(srv.answer.map((rr) => rr.data)).to.deep.equal([`10 100 80 ${WEB_EAST_1A}.`]);
    expect(srv.additional.map((rr) => rr.data)).to.include("198.51.100.10");
  });

  it("falls back by CNAME where a service is unhealthy, and never publishes the LB hostname localhost", async () => {
    // cart: east-a has no ready endpoint, east-b is healthy, west-a has only the LB hostname "localhost",
    // which the trust model never resolves (a special-use name, docs/trust.md), so west-a's zone falls back too.
    expect(rrs(await answers(CART_EAST_1A))).to.deep.equal([
      `${CART_EAST}. A 198.51.100.40`,
      `${CART_EAST_1A}. CNAME ${CART_EAST}.`,
    ]);
    expect(rrs(await answers(CART_WEST_2A))).to.deep.equal([
      `${CART}. A 198.51.100.40`,
      `${CART_WEST}. CNAME ${CART}.`,
      `${CART_WEST_2A}. CNAME ${CART_WEST}.`,
    ]);
    expect(rrs(await answers(CART))).to.deep.equal([`${CART}. A 198.51.100.40`]);
  });

  it("publishes a hostname LB resolved through controller.resolver, and refuses it again as localhost", async () => {
    const westA = sim.cluster("west-a");
    const lb = (hostname: string) => ({ loadBalancer: { ingress: [{ hostname }] } });
    westA.patchStatus("Service", "shop", "cart", lb("cart-lb.example.net"));
    await eventually("cart's west zone from its LB hostname", async () => {
      expect(rrs(await answers(CART_WEST_2A))).to.deep.equal([`${CART_WEST_2A}. A 203.0.113.77`]);
      expect(rrs(await answers(CART))).to.deep.equal([`${CART}. A 198.51.100.40`, `${CART}. A 203.0.113.77`]);
    });
    westA.patchStatus("Service", "shop", "cart", lb("localhost"));
    await eventually("cart's west zone falls back again", async () => {
      expect(rrs(await answers(CART))).to.deep.equal([`${CART}. A 198.51.100.40`]);
      expect((await answers(CART_WEST_2A)).answer.map((rr) => rr.type)).to.include("CNAME");
    });
  });

  it("follows endpoints going unready and ready again", async () => {
    const eastA = sim.cluster("east-a");
    const unready = [0, 1].map((i) => ({ op: "replace", path: `/endpoints/${i}/conditions/ready`, value: false }));
    eastA.patch("EndpointSlice", "default", "web-ipv4", unready, "json");
    await eventually("zone falls back", async () => {
      expect(rrs(await answers(WEB_EAST_1A))).to.deep.equal([
        `${WEB_EAST}. A 198.51.100.30`,
        `${WEB_EAST_1A}. CNAME ${WEB_EAST}.`,
      ]);
    });
    expect(rrs(await answers(WEB))).to.deep.equal([`${WEB}. A 198.51.100.30`, `${WEB}. A 203.0.113.10`]);
    const aaaa = await answers(WEB, "AAAA");
    expect(aaaa.status).to.equal("NOERROR");
    expect(aaaa.answer).to.deep.equal([]);

    const ready = [0, 1].map((i) => ({ op: "replace", path: `/endpoints/${i}/conditions/ready`, value: true }));
    eastA.patch("EndpointSlice", "default", "web-ipv4", ready, "json");
    await eventually("zone back", async () => {
      expect(rrs(await answers(WEB_EAST_1A))).to.deep.equal([`${WEB_EAST_1A}. A 198.51.100.10`]);
    });
  });

  it("follows a load-balancer address change", async () => {
    sim
      .cluster("east-b")
      .patchStatus("Service", "default", "web", { loadBalancer: { ingress: [{ ip: "198.51.100.31" }] } });
    await eventually("new address", async () => {
      expect(rrs(await answers(WEB))).to.deep.equal([
        `${WEB}. A 198.51.100.10`,
        `${WEB}. A 198.51.100.31`,
        `${WEB}. A 203.0.113.10`,
      ]);
    });
  });

  it("withdraws a cluster unreachable past the grace period and takes it back on recovery", async () => {
    const eastB = sim.cluster("east-b");
    eastB.closeWatches("clean");
    eastB.setReachable(false);
    // Grace is 2 s in this config; then east-b's cart address goes and its zone falls back.
    await eventually(
      "east-b withdrawn",
      async () => {
        expect(rrs(await answers(WEB))).to.deep.equal([`${WEB}. A 198.51.100.10`, `${WEB}. A 203.0.113.10`]);
        expect((await answers(WEB_EAST_1B)).answer.map((rr) => rr.type)).to.include("CNAME");
        // cart has no other publishable copy: a service's last addresses are never withdrawn.
        expect(rrs(await answers(CART))).to.deep.equal([`${CART}. A 198.51.100.40`]);
      },
      30_000,
    );
    eastB.setReachable(true);
    await eventually(
      "east-b back",
      async () => {
        expect(rrs(await answers(WEB))).to.deep.equal([
          `${WEB}. A 198.51.100.10`,
          `${WEB}. A 198.51.100.31`,
          `${WEB}. A 203.0.113.10`,
        ]);
        expect(rrs(await answers(WEB_EAST_1B))).to.deep.equal([`${WEB_EAST_1B}. A 198.51.100.31`]);
      },
      30_000,
    );
  });

  it("removes a service deleted in one cluster from its names, and every key once deleted in all", async () => {
    sim.cluster("west-a").delete("Service", "default", "web");
    await eventually("west zone falls back twice", async () => {
      expect(rrs(await answers(WEB_WEST_2A))).to.have.members([
        `${WEB_WEST_2A}. CNAME ${WEB_WEST}.`,
        `${WEB_WEST}. CNAME ${WEB}.`,
        `${WEB}. A 198.51.100.10`,
        `${WEB}. A 198.51.100.31`,
      ]);
    });
    sim.cluster("east-a").delete("Service", "default", "web");
    sim.cluster("east-b").delete("Service", "default", "web");
    await eventually("NXDOMAIN everywhere", async () => {
      for (const name of [WEB, WEB_EAST, WEB_EAST_1A, WEB_WEST_2A])
        expect((await answers(name)).status, name).to.equal("NXDOMAIN");
    });
    const keys = await etcd.etcdctl(["get", "--prefix", "--keys-only", "/skydns/com/example/"]);
    expect(keys.split("\n").filter((key) => key.includes("/default/web/"))).to.deep.equal([]);
  });

  it("withdraws a cluster removed from the config file without a restart", async () => {
    await writeConfig(["east-a", "east-b"]);
    await eventually(
      "west-a gone",
      async () => {
        expect(rrs(await answers(CART))).to.deep.equal([`${CART}. A 198.51.100.40`]);
      },
      15_000,
    );
  });
});
