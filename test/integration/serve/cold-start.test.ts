// `fedns serve` on a large data set in a real etcd, reached through a proxy that can hold or cut the
// connection: polled with dig from the moment it listens, it never says NXDOMAIN (or NODATA) for a name
// that exists, neither before its first load is complete nor during a reload forced by compaction, which
// also loses no query under dnsperf load.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { Etcd3 } from "etcd3";
import { parseDnsperfOutput } from "../../../bench/qps/dnsperf.ts";
import { loadRecords } from "../../../bench/qps/etcd.ts";
import { dig } from "../../support/dns.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { eventually, type ServeProcess, startServe } from "../../support/fedns.ts";
import { startTcpProxy, type TcpProxy } from "../../support/tcp-proxy.ts";

const run = promisify(execFile);
/** Enough keys for the range read to take many pages. */
const KEYS = 60_000;
const NAMESPACES = 100;

function nameOf(i: number): string {
  return `s${i}.ns${i % NAMESPACES}.myfed.svc.example.com`;
}
function keyOf(i: number): string {
  return `/skydns/com/example/svc/myfed/ns${i % NAMESPACES}/s${i}/c1`;
}
function addressOf(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}
function recordOf(i: number): string {
  return JSON.stringify({ host: addressOf(i), ttl: 30, group: nameOf(i), owner: "fedns/myfed" });
}

/** Names spread over the key order (the range read returns keys sorted), the last key included. */
const PROBED = [0, 1, 99, 12_345, 29_999, 30_000, 45_678, 59_901, 59_998, KEYS - 1];

interface Poll {
  status: string;
  answers: string[];
  name: number;
}

/** Loops of dig over the probed names until stopped; a timeout counts as no answer. */
function pollWithDig(server: ServeProcess, loops: number): { polls: Poll[]; stop: () => Promise<void> } {
  const polls: Poll[] = [];
  let running = true;
  const loop = async (offset: number): Promise<void> => {
    for (let n = offset; running; n++) {
      const name = PROBED[n % PROBED.length]!;
      try {
        const result = await dig(server.dns, nameOf(name), "A", { extra: ["+time=1"] });
        polls.push({ status: result.status, answers: result.answer.map((rr) => rr.data), name });
      } catch {
        polls.push({ status: "no answer", answers: [], name });
      }
    }
  };
  const workers = Array.from({ length: loops }, (_, i) => loop(i));
  return {
    polls,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

async function readyz(server: ServeProcess): Promise<number> {
  return (await fetch(`${server.metrics}/readyz`)).status;
}

async function metric(server: ServeProcess, name: string): Promise<number> {
  const text = await (await fetch(`${server.metrics}/metrics`)).text();
  const line = text.split("\n").find((entry) => entry.startsWith(`${name} `));
  return Number(line?.split(" ")[1] ?? Number.NaN);
}

function expectNoNegativeAnswer(polls: readonly Poll[]): void {
  for (const poll of polls) {
    expect(["SERVFAIL", "NOERROR", "no answer"], `${nameOf(poll.name)}: ${poll.status}`).to.include(poll.status);
    if (poll.status === "NOERROR") expect(poll.answers, nameOf(poll.name)).to.deep.equal([addressOf(poll.name)]);
  }
}

describe("fedns serve: large data set, cold start and reload (real etcd, dig, dnsperf)", function () {
  this.timeout(300_000);
  let etcd: EtcdProcess;
  let proxy: TcpProxy;
  let serve: ServeProcess | undefined;

  before(async () => {
    etcd = await startEtcd();
    const records = Array.from({ length: KEYS }, (_, i) => ({ key: keyOf(i), value: recordOf(i) }));
    expect(await loadRecords(etcd.endpoint, "/skydns", records)).to.equal(KEYS);
    const port = Number(new URL(etcd.endpoint).port);
    proxy = await startTcpProxy({ host: "127.0.0.1", port });
  });

  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
  });

  after(async () => {
    await proxy?.close();
    await etcd?.destroy();
  });

  it("answers SERVFAIL and is not ready until the whole data set is loaded, never NXDOMAIN or NODATA", async () => {
    proxy.hold(); // etcd does not answer yet: the server listens with nothing loaded
    serve = await startServe({ etcd: proxy.endpoint, zones: ["example.com"] });
    const poller = pollWithDig(serve, 3);
    try {
      await eventually(
        "SERVFAIL before the load",
        async () => expect(poller.polls.filter((p) => p.status === "SERVFAIL").length).to.be.at.least(6),
        20_000,
      );
      expect(await readyz(serve)).to.equal(503);
      proxy.release();
      const running = serve;
      await eventually("ready", async () => expect(await readyz(running)).to.equal(200), 120_000);
      const afterReady = poller.polls.length;
      // Once ready, every probed name is answered (a dig that timed out on this busy machine is asked again).
      const answeredSinceReady = (): number[] => [
        ...new Set(
          poller.polls
            .slice(afterReady)
            .filter((p) => p.status === "NOERROR")
            .map((p) => p.name),
        ),
      ];
      await eventually(
        "answers after ready",
        async () => expect(answeredSinceReady().sort()).to.deep.equal([...PROBED].sort()),
        30_000,
      );
      await poller.stop();
      expectNoNegativeAnswer(poller.polls);
      expect(await metric(serve, "fedns_store_records")).to.equal(KEYS);
    } finally {
      proxy.release();
      await poller.stop();
    }
  });

  it("keeps answering every query during a reload forced by compaction, under dnsperf load", async () => {
    serve = await startServe({ etcd: proxy.endpoint, zones: ["example.com"] });
    const running = serve;
    await eventually("ready", async () => expect(await readyz(running)).to.equal(200), 120_000);
    const queryFile = join(tmpdir(), `fedns-reload-${process.pid}.queries`);
    await writeFile(queryFile, PROBED.map((i) => `${nameOf(i)} A\n`).join(""));
    const dnsperf = run(
      "dnsperf",
      ["-s", "127.0.0.1", "-p", String(serve.dns.port), "-d", queryFile, "-l", "12", "-Q", "2000", "-t", "2"],
      { timeout: 60_000 },
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Cut the server off, change other names and compact the history its watch would resume from.
    proxy.cut();
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      await client.put("/skydns/com/example/svc/myfed/fresh/s0/c1").value(
        JSON.stringify({
          host: addressOf(7),
          ttl: 30,
          group: "s0.fresh.myfed.svc.example.com",
          owner: "fedns/myfed",
        }),
      );
      await client.delete().key(keyOf(2));
    } finally {
      client.close();
    }
    await etcd.compact();
    proxy.release();
    await eventually(
      "the reload",
      async () => expect(await metric(running, "fedns_store_reloads_total")).to.equal(1),
      8_000,
    );
    await eventually("ready again", async () => expect(await readyz(running)).to.equal(200), 8_000);
    const result = parseDnsperfOutput((await dnsperf).stdout);
    expect(result.sent).to.be.greaterThan(1000);
    expect(result.lost).to.equal(0);
    expect(result.completed).to.equal(result.sent);
    expect(result.rcodes).to.deep.equal({ NOERROR: result.completed });
    // The reload brought what changed while the server was cut off.
    expect((await dig(running.dns, "s0.fresh.myfed.svc.example.com", "A")).answer.map((rr) => rr.data)).to.deep.equal([
      addressOf(7),
    ]);
    expect((await dig(running.dns, nameOf(2), "A")).status).to.equal("NXDOMAIN");
  });
});
