import { expect } from "chai";
import { desiredValue, normalizeValue, readValue } from "../../../src/federation/diff.ts";
import { encodeService, ownerOf, type SkydnsService } from "../../../src/records/service.ts";

const OWNER = "fedns/f";

/** What desiredValue() computed before it encoded once: encode, decode, encode. */
function slowDesired(service: SkydnsService, owner: string): string | undefined {
  return normalizeValue(encodeService({ ...service, owner }));
}

const SERVICES: SkydnsService[] = [
  { host: "10.0.0.1", ttl: 30, group: "a.example.com", owner: OWNER, cluster: "c1" },
  { host: "a.example.com", port: 80, priority: 10, weight: 100, ttl: 30, group: "_http._tcp.a", owner: OWNER },
  { host: "2001:db8::1", ttl: 5 },
  { host: "10.0.0.1", ttl: Number.NaN, owner: "someone/else" },
  { host: "10.0.0.1", ttl: Number.POSITIVE_INFINITY },
  { host: "", text: "only text" },
  { text: "no host" } as unknown as SkydnsService,
  { host: "10.0.0.1", port: 70_000 },
  { host: "not a valid..name" },
  { host: "10.0.0.1", text: 'a "quoted" \\ text with null inside', mail: true, targetstrip: 1 },
  { host: "10.0.0.1", ttl: -0 },
];

describe("diff: stored forms", () => {
  it("desiredValue() gives what encode → decode → encode gave, for valid and invalid records", () => {
    for (const service of SERVICES) {
      expect(desiredValue(service, OWNER), JSON.stringify(service)).to.equal(slowDesired(service, OWNER));
    }
  });

  it("readValue() gives normalizeValue(), the owner read loosely and the cluster field", () => {
    const raws = [
      ...SERVICES.map((service) => encodeService(service)),
      '{ "cluster": "c2", "host": "10.0.0.2", "owner": "fedns/f" }',
      '{"host": 5, "owner": "fedns/f", "cluster": "c3"}',
      "not json",
      '{"owner": 7}',
    ];
    for (const raw of raws) {
      const read = readValue(raw);
      const normalized = normalizeValue(raw);
      expect(read.normalized, raw).to.equal(normalized);
      expect(read.owner, raw).to.equal(ownerOf(raw));
      const cluster = normalized === undefined ? undefined : (JSON.parse(normalized) as SkydnsService).cluster;
      expect(read.cluster, raw).to.equal(cluster);
    }
  });
});
