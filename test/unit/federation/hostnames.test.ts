import { expect } from "chai";
import { absoluteHostname, hostnameKey, hostnameProblem } from "../../../src/federation/hostnames.ts";

describe("load-balancer hostname rules", () => {
  it("accepts fully qualified host names, in any case, with or without the trailing dot", () => {
    for (const name of [
      "lb.example.net",
      "LB.Example.NET.",
      "a1b2c3-1234567890.us-east-1.elb.amazonaws.com",
      "xn--bcher-kva.example",
      `${"a".repeat(63)}.example.com`,
    ]) {
      expect(hostnameProblem(name), name).to.equal(undefined);
    }
    expect(hostnameKey("LB.Example.NET.")).to.equal("lb.example.net");
    expect(absoluteHostname("LB.Example.NET")).to.equal("lb.example.net.");
  });

  it("refuses single labels, bad syntax, over-long names, addresses and special-use names", () => {
    const refused: [string, RegExp][] = [
      ["", /empty/],
      [".", /empty/],
      ["localhost", /RFC 6761/],
      ["kubernetes", /single-label/],
      ["LOCALHOST.", /RFC 6761/],
      ["db.localhost", /RFC 6761/],
      ["x.invalid", /RFC 6761/],
      ["printer.local", /RFC 6762/],
      ["1.0.0.127.in-addr.arpa", /reverse/],
      ["127.0.0.1", /all-numeric/],
      ["lb_1.example.net", /invalid hostname label/],
      ["-lb.example.net", /invalid hostname label/],
      ["lb..example.net", /invalid hostname label/],
      ["lb.example.net..", /invalid hostname label/],
      ["*.example.net", /invalid hostname label/],
      ["lb example.net", /invalid hostname label/],
      [`${"a".repeat(64)}.example.com`, /invalid hostname label/],
      [Array.from({ length: 5 }, () => "a".repeat(60)).join("."), /longer than 253/],
    ];
    for (const [name, why] of refused) expect(hostnameProblem(name), name).to.match(why);
  });
});
