import { expect } from "chai";
import { HostnameResolver } from "../../../src/controller/hostnames.ts";
import { FakeTimers, flush } from "./fake-timers.ts";

describe("HostnameResolver", () => {
  it("resolves new hostnames, refreshes them, reports changes and keeps results through short failures", async () => {
    const timers = new FakeTimers();
    const answers = new Map<string, string[] | Error>([["lb.example", ["192.0.2.2", "192.0.2.1"]]]);
    let changes = 0;
    const resolver = new HostnameResolver({
      timers,
      refreshMs: 1000,
      keepFailedMs: 2500,
      onChange: () => changes++,
      lookup: async (hostname) => {
        const answer = answers.get(hostname);
        if (answer === undefined || answer instanceof Error) throw answer ?? new Error("ENOTFOUND");
        return answer;
      },
    });
    await resolver.settle(["LB.example"]);
    expect(resolver.resolved.get("lb.example")).to.deep.equal(["192.0.2.1", "192.0.2.2"]);
    expect(changes).to.equal(1);
    await timers.advance(1000);
    expect(changes).to.equal(1);
    answers.set("lb.example", ["192.0.2.3"]);
    await timers.advance(1000);
    expect(resolver.resolved.get("lb.example")).to.deep.equal(["192.0.2.3"]);
    expect(changes).to.equal(2);
    answers.set("lb.example", new Error("SERVFAIL"));
    await timers.advance(2000);
    expect(resolver.resolved.get("lb.example")).to.deep.equal(["192.0.2.3"]);
    await timers.advance(1000);
    await flush();
    expect(resolver.resolved.has("lb.example")).to.equal(false);
    expect(changes).to.equal(3);
    resolver.want([]);
    expect(resolver.resolved.size).to.equal(0);
    resolver.stop();
  });
});
