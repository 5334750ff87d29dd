import { expect } from "chai";
import {
  isValidLabel,
  nameOfKey,
  nameProblem,
  normalizeName,
  normalizePrefix,
  pathOfName,
  zoneOf,
} from "../../../src/records/name.ts";

describe("records/name", () => {
  it("normalizes case and the trailing dot", () => {
    expect(normalizeName("NGINX.Default.Example.COM.")).to.equal("nginx.default.example.com");
    expect(normalizeName(".")).to.equal("");
  });

  it("maps a name to its skydns path with reversed labels", () => {
    expect(pathOfName("/skydns", "nginx.default.myfed.svc.us-east-1a.us-east-1.example.com")).to.equal(
      "/skydns/com/example/us-east-1/us-east-1a/svc/myfed/default/nginx",
    );
    expect(pathOfName("skydns/", "Example.com.")).to.equal("/skydns/com/example");
    expect(pathOfName("/a/b", "x.y")).to.equal("/a/b/y/x");
  });

  it("maps a key back to the name it stands for, leaf included", () => {
    expect(nameOfKey("/skydns", "/skydns/com/example/svc/myfed/default/nginx/east-a-1a2b3c4d")).to.equal(
      "east-a-1a2b3c4d.nginx.default.myfed.svc.example.com",
    );
    expect(nameOfKey("/skydns", "/other/com/example/x")).to.equal(undefined);
    expect(nameOfKey("/skydns", "/skydns/com//x")).to.equal(undefined);
  });

  it("accepts DNS labels and rejects what is not one", () => {
    for (const good of ["nginx", "a", "_tcp", "us-east-1a", "x".repeat(63), "*"])
      expect(isValidLabel(good), good).to.equal(true);
    for (const bad of ["", "-a", "a-", "a.b", "x".repeat(64), "a b", "é"])
      expect(isValidLabel(bad), bad).to.equal(false);
    expect(nameProblem(`${"a".repeat(60)}.`.repeat(5))).to.match(/longer than 253/);
    expect(nameProblem("ok.example.com")).to.equal(undefined);
  });

  it("finds the most specific zone of a name", () => {
    const zones = ["example.com", "svc.example.com", "other.org"];
    expect(zoneOf("a.svc.example.com", zones)).to.equal("svc.example.com");
    expect(zoneOf("example.com", zones)).to.equal("example.com");
    expect(zoneOf("badexample.com", zones)).to.equal(undefined);
    expect(normalizePrefix("///")).to.equal("");
  });
});
