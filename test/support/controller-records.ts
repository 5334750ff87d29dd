// Records exactly as the controller writes them: a small federation run through the real plan()
// and key layout, for tests that serve them from fedns (and from Knot, side by side).
import { plan } from "../../src/federation/plan.ts";
import { encodeService } from "../../src/records/service.ts";
import { federation, OPTIONS, svc, zonal } from "../unit/federation/fixtures.ts";

export const GLOBAL = "nginx.default.myfed.svc.example.com";
export const FOOREGION = "nginx.default.myfed.svc.fooregion.example.com";
export const FOOZONE = "nginx.default.myfed.svc.foozone.fooregion.example.com";
export const BAZZONE = "nginx.default.myfed.svc.bazzone.fooregion.example.com";
export const BARREGION = "nginx.default.myfed.svc.barregion.example.com";
export const BARZONE = "nginx.default.myfed.svc.barzone.barregion.example.com";
/** Every level name of the service. */
export const LEVELS = [GLOBAL, FOOREGION, FOOZONE, BAZZONE, BARREGION, BARZONE];
/** Levels without healthy shards of their own: CNAMEs to the level above. */
export const FALLBACKS = [BARREGION, BARZONE];

const HTTP = { name: "http", protocol: "TCP", port: 80 };

/**
 * Three clusters: c1 (foozone/fooregion) with IPv4+IPv6 and ports http/80 and dns/53 (UDP),
 * c2 (barzone/barregion) without ready endpoints, c3 (bazzone/fooregion) with http on 8080.
 */
export function controllerRecords(): Map<string, string> {
  const state = federation(
    zonal("c1", "foozone", "fooregion", [
      svc({ ips: ["198.51.100.1", "2001:db8::1"], ports: [HTTP, { name: "dns", protocol: "UDP", port: 53 }] }),
    ]),
    zonal("c2", "barzone", "barregion", [svc({ ips: ["198.51.100.2"], endpoints: [], ports: [HTTP] })]),
    zonal("c3", "bazzone", "fooregion", [svc({ ips: ["198.51.100.3"], ports: [{ ...HTTP, port: 8080 }] })]),
  );
  const records = plan(state, OPTIONS).services.get("default/nginx");
  if (records === undefined) throw new Error("plan() published nothing");
  return new Map([...records].map(([key, value]) => [key, encodeService(value)]));
}
