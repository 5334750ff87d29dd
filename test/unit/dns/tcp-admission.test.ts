// The per-source TCP cap and the block list it keeps for node:net (tcp-admission.ts).
import type { BlockList } from "node:net";
import { expect } from "chai";
import { SourceAdmission } from "../../../src/dns/tcp-admission.ts";

describe("SourceAdmission (per-source TCP cap)", () => {
  let installed: BlockList | undefined;
  let installs = 0;
  const admission = () => {
    installed = undefined;
    installs = 0;
    return new SourceAdmission((list) => {
      installed = list;
      installs++;
    }, 2);
  };

  it("takes connections up to the cap, refuses the next and blocks only that source", () => {
    const caps = admission();
    expect(caps.admit("192.0.2.1", "IPv4")).to.equal(undefined);
    expect(caps.admit("192.0.2.1", "IPv4")).to.equal(undefined);
    expect(installed, "nothing blocked below the cap").to.equal(undefined);
    expect(caps.admit("192.0.2.1", "IPv4")).to.equal("source");
    expect(installed?.check("192.0.2.1", "ipv4")).to.equal(true);
    expect(installed?.check("192.0.2.2", "ipv4")).to.equal(false);
    expect(caps.admit("192.0.2.2", "IPv4"), "another source").to.equal(undefined);
    expect(caps.blockedSources).to.equal(1);
  });

  it("unblocks a source as soon as one of its connections closes, and counts right after", () => {
    const caps = admission();
    caps.admit("2001:db8::1", "IPv6");
    caps.admit("2001:db8::1", "IPv6");
    caps.admit("2001:db8::1", "IPv6");
    expect(installed?.check("2001:db8::1", "ipv6")).to.equal(true);
    caps.release("2001:db8::1");
    expect(installed?.check("2001:db8::1", "ipv6")).to.equal(false);
    expect(caps.blockedSources).to.equal(0);
    expect(caps.admit("2001:db8::1", "IPv6"), "the freed slot").to.equal(undefined);
    expect(caps.admit("2001:db8::1", "IPv6"), "back at the cap").to.equal("source");
    caps.release("2001:db8::1");
    caps.release("2001:db8::1");
    expect(caps.admit("2001:db8::1", "IPv6")).to.equal(undefined);
  });

  it("rebuilds the list once per source blocked, not per refusal", () => {
    const caps = admission();
    caps.admit("198.51.100.7", "IPv4");
    caps.admit("198.51.100.7", "IPv4");
    for (let i = 0; i < 10; i++) expect(caps.admit("198.51.100.7", "IPv4")).to.equal("source");
    expect(installs).to.equal(1);
  });

  it("still refuses (in JS) a source whose family node did not report", () => {
    const caps = admission();
    caps.admit("weird", undefined);
    caps.admit("weird", undefined);
    expect(caps.admit("weird", undefined)).to.equal("source");
    expect(installs).to.equal(0);
  });
});
