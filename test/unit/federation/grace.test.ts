// The grace period decided in plan() (federation/grace.ts): unreachable clusters by their unreachableSince,
// clusters not synced by the last known records the store holds of them; the last addresses always stay.
import { expect } from "chai";
import { plan } from "../../../src/federation/plan.ts";
import type { FederationState } from "../../../src/federation/state.ts";
import { federation, OPTIONS, svc, zonal } from "./fixtures.ts";

const X = "192.0.2.10";
const Y = "198.51.100.20";
const GRACE = { ...OPTIONS, graceMs: 60_000 };
const addressesOf = (result: ReturnType<typeof plan>, unit = "default/nginx") =>
  [...(result.services.get(unit)?.values() ?? [])].flatMap((r) => (r.cluster === undefined ? [] : [r.cluster]));

describe("plan(): the grace period (federation/grace.ts)", () => {
  describe("an unreachable cluster", () => {
    const state = (now: number): FederationState => ({
      ...federation(zonal("c1", "z1", "r1", [svc({ ips: [X] })]), {
        ...zonal("c2", "z2", "r2", [svc({ ips: [Y] })]),
        unreachableSince: 1_000,
      }),
      now,
    });

    it("keeps its shards within the grace period and says when to plan again", () => {
      const result = plan(state(60_999), GRACE);
      expect(new Set(addressesOf(result))).to.deep.equal(new Set(["c1", "c2"]));
      expect(result.recheckAt).to.equal(61_000);
    });

    it("is withdrawn once the grace period is over, without any timer", () => {
      const result = plan(state(61_000), GRACE);
      expect(new Set(addressesOf(result))).to.deep.equal(new Set(["c1"]));
      expect(result.recheckAt).to.equal(undefined);
    });

    it("keeps the last addresses of a service past the grace period", () => {
      const only: FederationState = {
        ...federation({ ...zonal("c2", "z2", "r2", [svc({ ips: [Y] })]), unreachableSince: 0 }),
        now: 1_000_000,
      };
      expect(new Set(addressesOf(plan(only, GRACE)))).to.deep.equal(new Set(["c2"]));
    });

    it("without a clock, no grace period ends", () => {
      const { now: _now, ...clockless } = state(1_000_000);
      expect(new Set(addressesOf(plan(clockless, GRACE)))).to.deep.equal(new Set(["c1", "c2"]));
    });
  });

  describe("a cluster that has not synced (its last known records)", () => {
    // The store holds x's records for nginx (which c1 also has) and for solo (only x has it).
    const state = (now: number): FederationState => ({
      ...federation(zonal("c1", "z1", "r1", [svc({ ips: [X] })])),
      unseen: new Map([["x", 5_000]]),
      lastKnown: new Map([
        ["default/nginx", new Set(["x", "c1", undefined])],
        ["default/solo", new Set(["x"])],
        ["default/other", new Set(["c1"])],
      ]),
      now,
    });

    it("within the grace period holds every unit with records of it, exactly as the store has them", () => {
      const result = plan(state(64_999), GRACE);
      expect([...result.held.keys()].sort()).to.deep.equal(["default/nginx", "default/solo"]);
      expect(result.held.get("default/nginx")).to.deep.equal({ reason: "syncing", clusters: ["x"] });
      expect(result.services.has("default/nginx")).to.equal(false);
      expect(result.recheckAt).to.equal(65_000);
    });

    it("past the grace period withdraws it, except where it holds a service's last addresses", () => {
      const result = plan(state(65_000), GRACE);
      expect([...result.held.keys()]).to.deep.equal(["default/solo"]);
      expect(result.held.get("default/solo")).to.deep.equal({ reason: "last-addresses", clusters: ["x"] });
      expect(new Set(addressesOf(result))).to.deep.equal(new Set(["c1"]));
      expect(result.recheckAt).to.equal(undefined);
    });

    it("a unit whose desired records from synced clusters have no address keeps the lapsed cluster's", () => {
      const unhealthy: FederationState = {
        ...state(1_000_000),
        ...federation(zonal("c1", "z1", "r1", [svc({ ips: [X], endpoints: [] })])),
      };
      expect(plan(unhealthy, GRACE).held.get("default/nginx")?.reason).to.equal("last-addresses");
    });
  });
});
