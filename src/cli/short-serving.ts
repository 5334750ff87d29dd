// The DNS server's short-name part (SPEC §4a), from the config: the zone `<F>.svc.<clusterDomain>`, the data
// the controller publishes (followed from etcd into memory) and the answerer the query handler asks first.
// Off when `shortNames.enabled` is false, or when the config names no federation and domain.
import type { FednsConfig } from "../config/schema.ts";
import { ShortAnswerer } from "../dns/short-answer.ts";
import { resolveZones } from "../dns/zones.ts";
import type { Logger } from "../obs/log.ts";
import type { Registry } from "../obs/metrics.ts";
import type { KvBackend } from "../store/kv.ts";
import { type ShortSource, startShortSource } from "../store/short-source.ts";

export interface ShortServing {
  answerer: ShortAnswerer;
  source: ShortSource;
}

/** The short zone's name: `<federation>.svc.<cluster domain>`. */
export function shortZoneName(federation: string, clusterDomain: string): string {
  return `${federation}.svc.${clusterDomain}`;
}

export function startShortServing(
  config: FednsConfig,
  backend: KvBackend,
  registry: Registry,
  log: Logger,
): ShortServing | undefined {
  const short = config.shortNames;
  if (!short.enabled) return undefined;
  if (config.federation === undefined || config.domain === undefined) {
    log.info("short names off: the config names no federation and domain");
    return undefined;
  }
  const [zone] = resolveZones([shortZoneName(config.federation, short.clusterDomain)], {
    soa: config.dns.soa,
    nameservers: config.dns.nameservers,
  });
  const source = startShortSource({ backend, prefix: short.prefix, federation: config.federation, registry });
  const answerer = new ShortAnswerer(
    { zone: zone!, federation: config.federation, domain: config.domain, srv: config.controller.srv },
    source,
    registry,
  );
  return { answerer, source };
}
