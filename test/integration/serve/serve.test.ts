// `fedns serve` as users run it: a child process over a real etcd, asked with dig and kdig,
// and through a real resolver (unbound) that forwards the zone to it.
import { expect } from "chai";
import { dig, kdig } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { eventually, type ServeProcess, startServe } from "../../support/fedns.ts";
import { describeEachUdpTransport } from "../../support/udp-transports.ts";
import { startUnbound, type Unbound } from "../../support/unbound.ts";

const NGINX = "nginx.default.myfed.svc.example.com";
const NGINX_KEY = "/skydns/com/example/svc/myfed/default/nginx";
const REGION = "nginx.default.myfed.svc.us-east-1.example.com";
const REGION_KEY = "/skydns/com/example/us-east-1/svc/myfed/default/nginx";
const ZONE = "nginx.default.myfed.svc.us-east-1a.us-east-1.example.com";
const ZONE_KEY = "/skydns/com/example/us-east-1/us-east-1a/svc/myfed/default/nginx";

function record(host: string, group: string, ttl = 30): string {
  return JSON.stringify({ host, ttl, group, owner: "fedns/myfed" });
}

describeEachUdpTransport("fedns serve (real etcd, dig, kdig, unbound)", function (udpTransport) {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let serve: ServeProcess;

  before(async () => {
    etcd = await startEtcd();
    serve = await startServe({ udpTransport, etcd: etcd.endpoint, zones: ["example.com"] });
  });

  after(async () => {
    await serve?.stop();
    await etcd?.destroy();
  });

  it("answers an etcdctl put within 2 s and NXDOMAIN again after the delete", async () => {
    await etcd.etcdctl(["put", `${NGINX_KEY}/east-a-1`, record("198.51.100.7", NGINX)]);
    const answer = await eventually("A after put", async () => {
      const result = await dig(serve.dns, NGINX, "A");
      expect(result.answer.map((rr) => rr.data)).to.deep.equal(["198.51.100.7"]);
      return result;
    });
    expect(answer.status).to.equal("NOERROR");
    expect(answer.flags).to.include("aa");
    expect(answer.flags).to.not.include("ra");
    expect(answer.answer[0]!.ttl).to.equal(30);

    await etcd.etcdctl(["del", `${NGINX_KEY}/east-a-1`]);
    await eventually("NXDOMAIN after delete", async () => {
      const result = await dig(serve.dns, NGINX, "A");
      expect(result.status).to.equal("NXDOMAIN");
      expect(result.authority.map((rr) => rr.type)).to.deep.equal(["SOA"]);
    });
  });

  it("serves the zone -> region -> global CNAME chain in one answer, over UDP and pipelined TCP", async () => {
    await etcd.etcdctl(["put", `${NGINX_KEY}/east-a-1`, record("198.51.100.7", NGINX)]);
    await etcd.etcdctl(["put", `${NGINX_KEY}/west-a-2`, record("203.0.113.9", NGINX)]);
    await etcd.etcdctl(["put", `${REGION_KEY}/cname`, record(NGINX, REGION)]);
    await etcd.etcdctl(["put", `${ZONE_KEY}/cname`, record(REGION, ZONE)]);
    const expected = [
      `${ZONE}. CNAME ${REGION}.`,
      `${REGION}. CNAME ${NGINX}.`,
      `${NGINX}. A 198.51.100.7`,
      `${NGINX}. A 203.0.113.9`,
    ];
    await eventually("chain", async () => {
      const result = await dig(serve.dns, ZONE, "A");
      expect(result.answer.map((rr) => `${rr.name} ${rr.type} ${rr.data}`)).to.have.members(expected);
    });
    const overTcp = await kdig(serve.dns, ZONE, "A", { tcp: true });
    expect(overTcp.answer).to.have.length(4);
    // dig prints the question as the server echoed it (kdig lowercases it): case is preserved.
    const upper = await dig(serve.dns, ZONE.toUpperCase(), "A", { tcp: true });
    expect(upper.question).to.equal(`${ZONE.toUpperCase()}.`);
    expect(upper.answer).to.have.length(4);

    // kdig sends every query of one invocation over the same TCP connection with +keepopen.
    const { execFile } = await import("node:child_process");
    const output = await new Promise<string>((resolve, reject) =>
      execFile(
        "kdig",
        [
          `@127.0.0.1`,
          "-p",
          String(serve.dns.port),
          "+tcp",
          "+keepopen",
          NGINX,
          "A",
          ZONE,
          "A",
          `nope.example.com`,
          "A",
        ],
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    expect(output.match(/status: NOERROR/g)).to.have.length(2);
    expect(output.match(/status: NXDOMAIN/g)).to.have.length(1);
  });

  it("takes records written with the etcd3 client too", async () => {
    const { Etcd3 } = await import("etcd3");
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      await client
        .put(`${NGINX_KEY}/_tcp/_http/p80`)
        .value(
          JSON.stringify({ host: NGINX, port: 80, priority: 10, weight: 100, ttl: 30, group: `_http._tcp.${NGINX}` }),
        );
      await eventually("SRV", async () => {
        const result = await dig(serve.dns, `_http._tcp.${NGINX}`, "SRV");
        expect(result.answer.map((rr) => rr.data)).to.deep.equal([`10 100 80 ${NGINX}.`]);
        expect(result.additional.filter((rr) => rr.type === "A").map((rr) => rr.data)).to.have.members([
          "198.51.100.7",
          "203.0.113.9",
        ]);
      });
      // The SRV leaf lies below the global name; its group keeps it out of the A answer.
      const a = await dig(serve.dns, NGINX, "A");
      expect(a.answer.map((rr) => rr.type)).to.deep.equal(["A", "A"]);
    } finally {
      client.close();
    }
  });

  it("skips a bad value, counts it, and keeps serving the rest", async () => {
    await etcd.etcdctl(["put", `${NGINX_KEY}/broken`, "{not json"]);
    await eventually("bad record counted", async () => {
      const metrics = await (await fetch(`${serve.metrics}/metrics`)).text();
      expect(metrics).to.match(/fedns_store_bad_records_total(\{[^}]*\})? [1-9]/);
    });
    const result = await dig(serve.dns, NGINX, "A");
    expect(result.answer.map((rr) => rr.data)).to.have.members(["198.51.100.7", "203.0.113.9"]);
    await etcd.etcdctl(["del", `${NGINX_KEY}/broken`]);
  });

  it("keeps answering while etcd is stopped, reports not ready, and catches up when it returns", async () => {
    expect((await fetch(`${serve.metrics}/readyz`)).status).to.equal(200);
    await etcd.stop();
    await eventually(
      "not ready",
      async () => {
        const response = await fetch(`${serve.metrics}/readyz`);
        expect(response.status).to.equal(503);
        expect(await response.text()).to.match(/etcd|disconnect|unavailable/i);
      },
      10_000,
    );
    // Probes that must not pull every replica at once accept the degraded state.
    expect((await fetch(`${serve.metrics}/readyz?degraded=ok`)).status).to.equal(200);
    const whileDown = await dig(serve.dns, NGINX, "A");
    expect(whileDown.answer.map((rr) => rr.data)).to.have.members(["198.51.100.7", "203.0.113.9"]);

    await etcd.start();
    await etcd.etcdctl(["put", `${NGINX_KEY}/east-b-3`, record("198.51.100.8", NGINX)]);
    await eventually(
      "caught up",
      async () => {
        const result = await dig(serve.dns, NGINX, "A");
        expect(result.answer.map((rr) => rr.data)).to.include("198.51.100.8");
        expect((await fetch(`${serve.metrics}/readyz`)).status).to.equal(200);
      },
      15_000,
    );
  });

  describe("through unbound forwarding the zone", () => {
    let unbound: Unbound;
    const resolver = () => ({ host: "127.0.0.1", port: unbound.port });

    before(async () => {
      unbound = await startUnbound({ zones: ["example.com"], upstream: serve.dns });
    });
    after(async () => {
      await unbound?.stop();
    });

    async function viaUnbound(name: string, type: string, extra: string[] = []) {
      return dig(resolver(), name, type, { extra: ["+rec", ...extra] });
    }

    it("resolves an A name and the zone -> region -> global chain", async () => {
      const a = await viaUnbound(NGINX, "A");
      expect(a.status).to.equal("NOERROR");
      expect(a.answer.map((rr) => rr.data)).to.include("198.51.100.7");
      const chain = await viaUnbound(ZONE, "A");
      expect(chain.answer.filter((rr) => rr.type === "CNAME").map((rr) => rr.data)).to.deep.equal([
        `${REGION}.`,
        `${NGINX}.`,
      ]);
      expect(chain.answer.filter((rr) => rr.type === "A").map((rr) => rr.data)).to.include("198.51.100.7");
    });

    it("passes NXDOMAIN through", async () => {
      const result = await viaUnbound(`missing.default.myfed.svc.example.com`, "A");
      expect(result.status).to.equal("NXDOMAIN");
    });

    it("gets an answer too big for UDP by retrying over TCP after TC", async () => {
      const big = "big.default.myfed.svc.example.com";
      const bigKey = "/skydns/com/example/svc/myfed/default/big";
      const puts = [];
      for (let i = 1; i <= 120; i++)
        puts.push(etcd.etcdctl(["put", `${bigKey}/c-${i}`, record(`198.51.100.${i}`, big)]));
      await Promise.all(puts);
      await eventually("all 120 in fedns", async () => {
        const direct = await dig(serve.dns, big, "A", { tcp: true });
        expect(direct.answer).to.have.length(120);
      });
      const udpDirect = await dig(serve.dns, big, "A", { extra: ["+ignore"] });
      expect(udpDirect.flags).to.include("tc");
      const viaResolver = await viaUnbound(big, "A", ["+tcp"]);
      expect(viaResolver.status).to.equal("NOERROR");
      expect(viaResolver.answer.filter((rr) => rr.type === "A")).to.have.length(120);
    });
  });
});
