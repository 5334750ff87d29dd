// The names a federated service gets (SPEC §1) and the deterministic leaves of its keys (SPEC §3).
import { createHash } from "node:crypto";
import { isValidLabel, normalizeName, pathOfName } from "../records/name.ts";

/** Leaf of the fallback CNAME of a zone or region name. */
export const CNAME_LEAF = "cname";

/**
 * Why a label taken from Kubernetes or config cannot be part of a name we write, or undefined.
 * `*` and `any` are refused too: the CoreDNS etcd plugin reads them as wildcards.
 */
export function labelProblem(label: string): string | undefined {
  const lower = label.toLowerCase();
  if (lower === "*" || lower === "any") return `label ${JSON.stringify(label)} would be read as a wildcard`;
  if (!isValidLabel(lower)) return `invalid DNS label ${JSON.stringify(label)}`;
  return undefined;
}

export interface ServiceNames {
  /** `S.N.F.svc.D` */
  readonly global: string;
  /** `S.N.F.svc.R.D` */
  region(region: string): string;
  /** `S.N.F.svc.Z.R.D` */
  zone(zone: string, region: string): string;
}

export function serviceNames(federation: string, domain: string, namespace: string, name: string): ServiceNames {
  const base = [name, namespace, federation, "svc"].map((label) => label.toLowerCase());
  const tail = normalizeName(domain);
  const join = (...labels: string[]): string =>
    [...base, ...labels.map((label) => label.toLowerCase()), tail].filter((part) => part.length > 0).join(".");
  return {
    global: join(),
    region: (region) => join(region),
    zone: (zone, region) => join(zone, region),
  };
}

/** `_<port-name>._<protocol>.<level name>`; the protocol defaults to TCP as in Kubernetes. */
export function srvName(levelName: string, protocol: string, portName: string): string {
  const proto = (protocol.length === 0 ? "tcp" : protocol).toLowerCase();
  return `_${portName.toLowerCase()}._${proto}.${levelName}`;
}

/** 8 hex digits of the SHA-256 of the address: stable across runs, processes and Node versions. */
export function addressHash(address: string): string {
  return createHash("sha256").update(address).digest("hex").slice(0, 8);
}

/** One leaf per (cluster, address): `<cluster>-<8 hex>`. */
export function addressLeaf(cluster: string, address: string): string {
  return `${cluster.toLowerCase()}-${addressHash(address)}`;
}

/** One SRV leaf per distinct port under an SRV name. */
export function srvLeaf(port: number): string {
  return `p${port}`;
}

export function keyOf(prefix: string, name: string, leaf: string): string {
  return `${pathOfName(prefix, name)}/${leaf}`;
}
