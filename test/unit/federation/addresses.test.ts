import { expect } from "chai";
import { addressProblem, contains, type Network, parseNetwork } from "../../../src/federation/addresses.ts";

function networks(...texts: string[]): Network[] {
  return texts.map((text) => {
    const network = parseNetwork(text);
    if (network === undefined) throw new Error(text);
    return network;
  });
}

describe("federation/addresses", () => {
  // One address inside each special-purpose range (first, inner and last addresses where it matters).
  const NEVER: [string, RegExp][] = [
    ["0.0.0.0", /unspecified/],
    ["0.255.255.255", /this network/],
    ["127.0.0.1", /loopback/],
    ["127.255.255.254", /loopback/],
    ["169.254.169.254", /link-local.*metadata/],
    ["192.0.0.8", /IETF/],
    ["192.88.99.1", /6to4/],
    ["198.18.0.1", /benchmarking/],
    ["198.19.255.255", /benchmarking/],
    ["224.0.0.1", /multicast/],
    ["239.255.255.250", /multicast/],
    ["240.0.0.1", /reserved/],
    ["255.255.255.255", /broadcast/],
    ["::", /unspecified/],
    ["::1", /loopback/],
    ["::ffff:127.0.0.1", /loopback/],
    ["::ffff:169.254.169.254", /link-local/],
    ["::a00:1", /IPv4-compatible/],
    ["64:ff9b::198.51.100.1", /NAT64/],
    ["64:ff9b:1::1", /NAT64/],
    ["100::1", /discard/],
    ["2001::1", /IETF/],
    ["2001:2::1", /IETF/],
    ["2002:c633:6401::1", /6to4/],
    ["fe80::1", /link-local/],
    ["febf:ffff::1", /link-local/],
    ["fec0::1", /site-local/],
    ["ff02::1", /multicast/],
    ["ff0e::fb", /multicast/],
  ];
  for (const [address, reason] of NEVER) {
    it(`refuses ${address} (${reason.source}), even when the allow-list covers it`, () => {
      expect(addressProblem(address)).to.match(reason);
      expect(addressProblem(address, networks("0.0.0.0/0", "::/0"))).to.match(reason);
    });
  }

  const PRIVATE = [
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",
    "100.127.255.254",
    "fd00::1",
    "fc00::1",
  ];
  for (const address of PRIVATE) {
    it(`refuses private ${address} unless the cluster's allow-list covers it`, () => {
      expect(addressProblem(address)).to.match(/not in the cluster's allowedNetworks/);
      expect(addressProblem(address, networks("198.51.100.0/24"))).to.match(/allowedNetworks/);
      expect(
        addressProblem(address, networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")),
      ).to.equal(undefined);
    });
  }

  const DOCUMENTATION = [
    "192.0.2.1",
    "198.51.100.255",
    "203.0.113.7",
    "2001:db8::1",
    "2001:db8:ffff::1",
    "::ffff:198.51.100.7",
  ];
  for (const address of DOCUMENTATION) {
    it(`publishes documentation address ${address}`, () => {
      expect(addressProblem(address)).to.equal(undefined);
    });
  }

  it("publishes ordinary public addresses, and just outside the special ranges", () => {
    for (const address of [
      "1.1.1.1",
      "8.8.8.8",
      "172.32.0.1",
      "172.15.255.255",
      "100.128.0.1",
      "198.20.0.1",
      "223.255.255.255",
      "2606:4700::1111",
      "2001:200::1",
      "fbff::1",
    ]) {
      expect(addressProblem(address), address).to.equal(undefined);
    }
  });

  it("with an allow-list, publishes only what it covers", () => {
    const allowed = networks("198.51.100.0/25", "2001:db8:1::/48");
    expect(addressProblem("198.51.100.1", allowed)).to.equal(undefined);
    expect(addressProblem("198.51.100.129", allowed)).to.match(/not in the cluster's allowedNetworks/);
    expect(addressProblem("8.8.8.8", allowed)).to.match(/allowedNetworks/);
    expect(addressProblem("2001:db8:1::5", allowed)).to.equal(undefined);
    expect(addressProblem("2001:db8:2::5", allowed)).to.match(/allowedNetworks/);
    expect(addressProblem("198.51.100.1", [])).to.match(/allowedNetworks/);
  });

  it("is not fooled by text that is not an address", () => {
    for (const text of ["", "junk", "1.2.3", "01.2.3.4", "fe80::1%eth0", "1.2.3.4/32", "::ffff:999.1.1.1"]) {
      expect(addressProblem(text), text).to.equal("not an IP address");
    }
  });

  it("parses networks and matches prefixes bit by bit", () => {
    expect(parseNetwork("10.0.0.0/33")).to.equal(undefined);
    expect(parseNetwork("10.0.0.0/x")).to.equal(undefined);
    expect(parseNetwork("2001:db8::/129")).to.equal(undefined);
    expect(parseNetwork("nonsense/8")).to.equal(undefined);
    const [slash12] = networks("172.16.0.0/12");
    expect(contains(slash12!, Uint8Array.from([172, 31, 0, 0]))).to.equal(true);
    expect(contains(slash12!, Uint8Array.from([172, 32, 0, 0]))).to.equal(false);
    expect(contains(slash12!, new Uint8Array(16))).to.equal(false);
    const [single] = networks("198.51.100.9");
    expect(single!.prefix).to.equal(32);
    expect(contains(single!, Uint8Array.from([198, 51, 100, 9]))).to.equal(true);
    expect(contains(single!, Uint8Array.from([198, 51, 100, 8]))).to.equal(false);
  });
});
