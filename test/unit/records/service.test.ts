import { expect } from "chai";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { decodeService, encodeService, hostType } from "../../../src/records/service.ts";

describe("records/service", () => {
  it("decodes a CoreDNS msg.Service value with fedns fields", () => {
    const decoded = decodeService(
      '{"host":"198.51.100.7","port":80,"ttl":30,"group":"nginx.default.myfed.svc.example.com","owner":"fedns/myfed","cluster":"east-a"}',
    );
    expect(decoded).to.deep.equal({
      ok: true,
      service: {
        host: "198.51.100.7",
        port: 80,
        ttl: 30,
        group: "nginx.default.myfed.svc.example.com",
        owner: "fedns/myfed",
        cluster: "east-a",
      },
    });
  });

  it("rejects bad values with a reason", () => {
    const cases: Array<[string, RegExp]> = [
      ["not json", /invalid JSON/],
      ["[1]", /not a JSON object/],
      ['{"host":7}', /"host" must be a string/],
      ['{"host":"1.2.3.4","ttl":"30"}', /"ttl" must be an integer/],
      ['{"host":"1.2.3.4","port":70000}', /"port" out of range/],
      ['{"host":"1.2.3.4","mail":"yes"}', /"mail" must be a boolean/],
      ["{}", /neither "host" nor "text"/],
      ['{"host":"2001:db8::zz"}', /invalid IPv6/],
      ['{"host":"198.51.100.300"}', /invalid IPv4/],
      ['{"host":"bad name!.example.com"}', /neither an IP address nor a valid name/],
    ];
    for (const [raw, reason] of cases) {
      const decoded = decodeService(raw);
      expect(decoded.ok, raw).to.equal(false);
      if (!decoded.ok) expect(decoded.error, raw).to.match(reason);
    }
  });

  it("accepts a TXT-only record and port -1", () => {
    expect(decodeService('{"text":"hello"}').ok).to.equal(true);
    expect(decodeService('{"host":"a.example.com","port":-1}').ok).to.equal(true);
  });

  it("encodes deterministically whatever the field order", () => {
    const a = encodeService({ ttl: 30, host: "198.51.100.7", owner: "fedns/x", group: "g" });
    const b = encodeService({ group: "g", owner: "fedns/x", host: "198.51.100.7", ttl: 30 });
    expect(a).to.equal(b);
    expect(a).to.equal('{"host":"198.51.100.7","ttl":30,"group":"g","owner":"fedns/x"}');
  });

  it("types hosts as CoreDNS does", () => {
    expect(hostType("198.51.100.7")).to.deep.equal({ kind: "A", address: "198.51.100.7" });
    expect(hostType("2001:DB8::1")).to.deep.equal({ kind: "AAAA", address: "2001:db8::1" });
    expect(hostType("::ffff:198.51.100.7")).to.deep.equal({ kind: "A", address: "198.51.100.7" });
    expect(hostType("Target.Example.com.")).to.deep.equal({ kind: "CNAME", target: "target.example.com" });
  });

  it("types as A exactly the dotted quads ipaddr.js accepts in four-part decimal (leading zeros, ranges)", () => {
    const part = fc.oneof(fc.nat(300).map(String), fc.constantFrom("00", "01", "007", "-1", "1e2", " 1", "0x1", ""));
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 6 }), fc.constantFrom("", ".", " "), (parts, tail) => {
        const host = parts.join(".") + tail;
        expect(hostType(host).kind === "A", host).to.equal(ipaddr.IPv4.isValidFourPartDecimal(host));
      }),
      { numRuns: 5000 },
    );
    expect(hostType("198.51.100.300").kind).to.equal("invalid");
    expect(hostType("010.1.2.3").kind).to.equal("invalid");
  });
});
