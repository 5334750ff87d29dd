import { expect } from "chai";
import { type HostnameAnswer, HostnameResolver } from "../../../src/controller/hostnames.ts";
import { ControllerMetrics } from "../../../src/controller/metrics.ts";
import { configureLogging } from "../../../src/obs/log.ts";
import { newRegistry } from "../../../src/obs/metrics.ts";
import { FakeTimers, flush } from "../../support/fake-timers.ts";

/** A lookup answering from a table; a missing name is NXDOMAIN, an Error is thrown as is. */
function tableLookup(answers: Map<string, HostnameAnswer | Error>, asked: string[] = []) {
  return async (hostname: string): Promise<HostnameAnswer> => {
    asked.push(hostname);
    const answer = answers.get(hostname);
    if (answer === undefined) throw Object.assign(new Error(`queryA ENOTFOUND ${hostname}.`), { code: "ENOTFOUND" });
    if (answer instanceof Error) throw answer;
    return answer;
  };
}

describe("HostnameResolver", () => {
  before(() => configureLogging("silent"));
  it("resolves new hostnames, refreshes them on their TTL (clamped) and reports changes", async () => {
    const timers = new FakeTimers();
    const answers = new Map<string, HostnameAnswer | Error>([
      ["lb.example", { addresses: ["192.0.2.2", "192.0.2.1"], ttl: 30 }],
    ]);
    const asked: string[] = [];
    let changes = 0;
    const resolver = new HostnameResolver({
      timers,
      minRefreshMs: 5000,
      maxRefreshMs: 60_000,
      onChange: () => changes++,
      lookup: tableLookup(answers, asked),
    });
    await resolver.settle(["LB.example."]);
    expect(resolver.resolved.get("lb.example")).to.deep.equal(["192.0.2.1", "192.0.2.2"]);
    expect(asked).to.deep.equal(["lb.example"]);
    expect(changes).to.equal(1);
    // Looked up again when the 30 s TTL runs out, not before.
    await timers.advance(29_000);
    expect(asked.length).to.equal(1);
    answers.set("lb.example", { addresses: ["192.0.2.3"], ttl: 1 });
    await timers.advance(1000);
    expect(asked.length).to.equal(2);
    expect(resolver.resolved.get("lb.example")).to.deep.equal(["192.0.2.3"]);
    expect(changes).to.equal(2);
    // A 1 s TTL is raised to the 5 s floor.
    await timers.advance(4000);
    expect(asked.length).to.equal(2);
    await timers.advance(1000);
    expect(asked.length).to.equal(3);
    // A day-long TTL is cut to the 60 s ceiling; an unchanged answer is no change.
    answers.set("lb.example", { addresses: ["192.0.2.3"], ttl: 86_400 });
    await timers.advance(5000);
    expect(asked.length).to.equal(4);
    await timers.advance(59_000);
    expect(asked.length).to.equal(4);
    await timers.advance(1000);
    expect(asked.length).to.equal(5);
    expect(changes).to.equal(2);
    resolver.want([]);
    expect(resolver.resolved.size).to.equal(0);
    resolver.stop();
  });

  it("keeps the last good answer through failures for the grace period, then drops it", async () => {
    const timers = new FakeTimers();
    const answers = new Map<string, HostnameAnswer | Error>([["lb.example", { addresses: ["192.0.2.1"], ttl: 10 }]]);
    const registry = newRegistry();
    const metrics = new ControllerMetrics(registry);
    let changes = 0;
    const resolver = new HostnameResolver({
      timers,
      metrics,
      minRefreshMs: 1000,
      maxRefreshMs: 10_000,
      keepFailedMs: 20_000,
      onChange: () => changes++,
      lookup: tableLookup(answers),
    });
    await resolver.settle(["lb.example"]);
    const goodAt = timers.now();
    answers.set("lb.example", Object.assign(new Error("queryA ESERVFAIL lb.example."), { code: "ESERVFAIL" }));
    await timers.advance(10_000);
    expect(resolver.resolved.get("lb.example")).to.deep.equal(["192.0.2.1"]);
    // Retried with backoff (1, 2, 4, 8 s...), still held just before the grace period ends.
    await timers.advance(goodAt + 20_000 - timers.now() - 1);
    expect(resolver.resolved.get("lb.example")).to.deep.equal(["192.0.2.1"]);
    expect(changes).to.equal(1);
    await timers.advance(1);
    await flush();
    expect(resolver.resolved.has("lb.example")).to.equal(false);
    expect(changes).to.equal(2);
    const text = await registry.metrics();
    expect(text).to.match(/fedns_controller_hostname_lookups_total\{result="ok"\} 1/);
    expect(text).to.match(/fedns_controller_hostname_lookups_total\{result="error"\} [4-9]/);
    // It comes back as soon as it answers again.
    answers.set("lb.example", { addresses: ["192.0.2.9"] });
    await timers.advance(10_000);
    expect(resolver.resolved.get("lb.example")).to.deep.equal(["192.0.2.9"]);
    resolver.stop();
  });

  it("never looks up names the trust rules refuse", async () => {
    const asked: string[] = [];
    const resolver = new HostnameResolver({
      timers: new FakeTimers(),
      onChange: () => {},
      lookup: tableLookup(new Map([["lb.example.net", { addresses: ["203.0.113.1"] }]]), asked),
    });
    await resolver.settle([
      "localhost",
      "db.localhost",
      "kubernetes",
      "printer.local",
      "lb_1.example.net",
      "lb.example.net",
    ]);
    expect(asked).to.deep.equal(["lb.example.net"]);
    expect([...resolver.resolved.keys()]).to.deep.equal(["lb.example.net"]);
    resolver.stop();
  });

  it("runs at most `concurrency` lookups at once, and a lookup that never answers times out", async () => {
    const timers = new FakeTimers();
    const registry = newRegistry();
    const metrics = new ControllerMetrics(registry);
    let inFlight = 0;
    let most = 0;
    const pending: (() => void)[] = [];
    const resolver = new HostnameResolver({
      timers,
      metrics,
      concurrency: 3,
      lookupTimeoutMs: 2000,
      onChange: () => {},
      lookup: (hostname) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        return new Promise<HostnameAnswer>((resolve) => {
          // "hang-*" never answers; the others answer when released.
          if (hostname.startsWith("hang-")) return;
          pending.push(() => {
            inFlight -= 1;
            resolve({ addresses: ["198.51.100.1"], ttl: 300 });
          });
        });
      },
    });
    const names = Array.from({ length: 20 }, (_, i) => `lb-${i}.example.net`);
    resolver.add(["hang-1.example.net", ...names]);
    await flush();
    expect(most).to.equal(3);
    expect(resolver.queued).to.equal(18);
    while (pending.length > 0 || resolver.queued > 0) {
      for (const release of pending.splice(0)) release();
      await flush();
      expect(inFlight).to.be.at.most(3);
    }
    expect(most).to.equal(3);
    // The hanging lookup still holds its slot until its timeout.
    expect(resolver.resolved.size).to.equal(20);
    await timers.advance(2000);
    expect(await registry.metrics()).to.match(/fedns_controller_hostname_lookups_total\{result="timeout"\} 1/);
    resolver.stop();
  });
});
