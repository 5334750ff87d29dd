import { expect } from "chai";
import { formatSerialMarkers } from "../../../src/cli/records.ts";

describe("fedns records: serial markers", () => {
  const kvs = [
    { key: "/fedns-serial/example.com", value: '{"owner":"fedns/myfed"}', modRevision: 42 },
    { key: "/fedns-serial/other.org", value: '{"owner":"fedns/myfed"}', modRevision: 7 },
    { key: "/fedns-serial/svc.example.com", value: "{}", modRevision: 50 },
    { key: "/fedns-serial/Bad.Example", value: "{}", modRevision: 9 },
  ];

  it("lists the markers at, above and under a name, with their revisions, and reports keys that are no marker", () => {
    const text = formatSerialMarkers(kvs, "web.default.myfed.svc.example.com.");
    expect(text).to.contain("example.com.  revision 42  /fedns-serial/example.com");
    expect(text).to.contain("svc.example.com.  revision 50");
    expect(text).to.not.contain("other.org");
    expect(text).to.match(/\/fedns-serial\/Bad\.Example {2}ERROR: .*lowercase/);
    // Under the name asked: a zone's serial counts markers below it too.
    expect(formatSerialMarkers(kvs, "example.com")).to.contain("svc.example.com.  revision 50");
  });

  it("lists every marker without a name, and prints nothing when there are none", () => {
    expect(formatSerialMarkers(kvs)).to.contain("other.org.  revision 7");
    expect(formatSerialMarkers([], "example.com")).to.equal("");
    expect(formatSerialMarkers(kvs.slice(1, 2), "example.com")).to.equal("");
  });
});
