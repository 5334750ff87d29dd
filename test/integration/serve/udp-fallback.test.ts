// Without the native UDP addon (not built: no compiler at `npm ci`), `fedns serve` with
// dns.udpTransport auto serves UDP with node:dgram, says so once, and exports the choice;
// with dns.udpTransport native it refuses to start, naming the reason.
import { expect } from "chai";
import { dig } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { eventually, FEDNS_MAIN, type ServeProcess, startServe } from "../../support/fedns.ts";
import { freePort } from "../../support/ports.ts";
import { startProcess } from "../../support/processes.ts";

const NO_ADDON = { FEDNS_UDP_ADDON: "/nonexistent/fedns_udp.node" };
const KEY = "/skydns/com/example/svc/myfed/default/web/a";

describe("fedns serve without the native UDP addon (real etcd, dig)", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let serve: ServeProcess | undefined;

  before(async () => {
    etcd = await startEtcd();
    await etcd.etcdctl(["put", KEY, JSON.stringify({ host: "192.0.2.7", ttl: 30 })]);
  });

  after(async () => {
    await serve?.stop();
    await etcd?.destroy();
  });

  it('auto: answers over node:dgram, warns once, exports fedns_dns_udp_transport{transport="dgram"}', async () => {
    serve = await startServe({ etcd: etcd.endpoint, zones: ["example.com"], udpTransport: "auto", env: NO_ADDON });
    const result = await eventually(
      "the A record over UDP",
      async () => {
        const reply = await dig(serve!.dns, "web.default.myfed.svc.example.com", "A");
        expect(reply.answer.map((record) => record.data)).to.deep.equal(["192.0.2.7"]);
        return reply;
      },
      10_000,
    );
    expect(result.status).to.equal("NOERROR");
    const metrics = await (await fetch(`${serve.metrics}/metrics`)).text();
    expect(metrics).to.match(/^fedns_dns_udp_transport\{transport="dgram"\} 1$/m);
    expect(metrics).to.not.match(/^fedns_dns_udp_transport\{transport="native"\}/m);
    const warnings = serve.process
      .output()
      .split("\n")
      .filter((line) => line.includes("native UDP transport unavailable"));
    expect(warnings, serve.process.output()).to.have.length(1);
    expect(warnings[0]).to.include("/nonexistent/fedns_udp.node");
    expect(serve.process.output()).to.match(/"udpTransport":"dgram"/);
  });

  it("native: does not start, and says why", async () => {
    const child = startProcess(
      process.execPath,
      [
        FEDNS_MAIN,
        "serve",
        "--zone",
        "example.com",
        "--etcd",
        etcd.endpoint,
        "--listen",
        `127.0.0.1:${await freePort()}`,
        "--metrics",
        `127.0.0.1:${await freePort()}`,
        "--udp-transport",
        "native",
      ],
      { env: { ...process.env, ...NO_ADDON } },
    );
    const code = await new Promise<number | null>((resolve) => child.child.once("exit", (exit) => resolve(exit)));
    expect(code).to.not.equal(0);
    expect(child.output()).to.include("dns.udpTransport is native, but the addon is unavailable");
  });
});
