// The zones the server is authoritative for, with SOA and NS settings and SPEC defaults.
import { normalizeName, zoneOf } from "../records/name.ts";

export interface SoaSettings {
  mname: string;
  rname: string;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export interface NameServer {
  name: string;
  /** IPv4 or IPv6 address served as glue when the name is inside the zone. */
  address?: string;
}

export interface ZoneConfig {
  name: string;
  soa?: Partial<SoaSettings>;
  nameservers?: NameServer[];
}

export interface Zone {
  name: string;
  soa: SoaSettings;
  nameservers: NameServer[];
}

export const SOA_DEFAULTS = { refresh: 7200, retry: 1800, expire: 86400, minimum: 30 } as const;

/** Resolves zone entries against shared settings; per-zone settings win, then shared, then defaults. */
export function resolveZones(
  zones: readonly (string | ZoneConfig)[],
  shared: { soa?: Partial<SoaSettings>; nameservers?: NameServer[] } = {},
): Zone[] {
  if (zones.length === 0) throw new Error("at least one zone is required");
  return zones.map((entry) => {
    const config: ZoneConfig = typeof entry === "string" ? { name: entry } : entry;
    const name = normalizeName(config.name);
    const soa = { ...shared.soa, ...definedOnly(config.soa ?? {}) };
    return {
      name,
      soa: {
        mname: normalizeName(soa.mname ?? `ns.dns.${name}`),
        rname: normalizeName(soa.rname ?? `hostmaster.${name}`),
        refresh: soa.refresh ?? SOA_DEFAULTS.refresh,
        retry: soa.retry ?? SOA_DEFAULTS.retry,
        expire: soa.expire ?? SOA_DEFAULTS.expire,
        minimum: soa.minimum ?? SOA_DEFAULTS.minimum,
      },
      nameservers: (config.nameservers ?? shared.nameservers ?? []).map((ns) => ({
        ...ns,
        name: normalizeName(ns.name),
      })),
    };
  });
}

/** The object without its undefined fields, so spreading it over defaults keeps them. */
export function definedOnly<T extends object>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
}

export class ZoneSet {
  private readonly byName: Map<string, Zone>;
  private readonly names: string[];

  constructor(zones: readonly Zone[]) {
    this.byName = new Map(zones.map((zone) => [zone.name, zone]));
    this.names = zones.map((zone) => zone.name);
  }

  /** The most specific zone holding the name. */
  find(name: string): Zone | undefined {
    const zoneName = zoneOf(name, this.names);
    return zoneName === undefined ? undefined : this.byName.get(zoneName);
  }

  get all(): Zone[] {
    return [...this.byName.values()];
  }
}
