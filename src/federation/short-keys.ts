// What the controller publishes for short names (SPEC §4a), and where: the one definition of the key layout
// and the value codec, shared by the controller's publisher and the DNS server's reader.
// Keys live under their own prefix (default `/fedns-short`), outside the skydns prefix CoreDNS serves:
//   <prefix>/<federation>/clients/<cluster>/<network with "/" as "_">  -> a network of the cluster's askers
//   <prefix>/<federation>/services/<cluster>/<namespace>/<service>     -> ClusterIPs of a healthy shard
// Every key of a cluster is one unit (written in one transaction, healed like the records).
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { normalizePrefix } from "../records/name.ts";
import type { UnitOf } from "./keys.ts";
import type { NetworkBytes } from "./prefix-trie.ts";

export const DEFAULT_SHORT_PREFIX = "/fedns-short";

/** Where a client network came from; on equal prefixes config wins, then node addresses, then pod CIDRs. */
export type NetworkSource = "config" | "node" | "pod";
export const NETWORK_SOURCES: readonly NetworkSource[] = ["config", "node", "pod"];

export interface ClientNetworkValue {
  /** Canonical `address/length`. */
  network: string;
  source: NetworkSource;
  zone?: string;
  region?: string;
  owner?: string;
  cluster?: string;
}

export interface ShortPort {
  name: string;
  /** Lowercase: tcp, udp, sctp. */
  protocol: string;
  port: number;
}

export interface ClusterServiceValue {
  /** ClusterIPs (IPv4 and/or IPv6), sorted. */
  addresses: string[];
  /** Named ports, for SRV. */
  ports: ShortPort[];
  owner?: string;
  cluster?: string;
}

export type ShortValue = ClientNetworkValue | ClusterServiceValue;

export function isClientNetwork(value: ShortValue): value is ClientNetworkValue {
  return "network" in value;
}

/** `<prefix>/<federation>/`: everything the federation publishes for short names. */
export function shortBase(prefix: string, federation: string): string {
  return `${normalizePrefix(prefix)}/${federation}/`;
}

export function clientKey(prefix: string, federation: string, cluster: string, network: string): string {
  return `${shortBase(prefix, federation)}clients/${cluster}/${network.replace("/", "_")}`;
}

export function serviceKey(prefix: string, federation: string, cluster: string, namespace: string, name: string) {
  return `${shortBase(prefix, federation)}services/${cluster}/${namespace}/${name}`;
}

export type ParsedShortKey =
  | { kind: "client"; cluster: string }
  | { kind: "service"; cluster: string; namespace: string; name: string };

/** What a key under the base holds, or undefined for keys outside the layout. */
export function parseShortKey(base: string, key: string): ParsedShortKey | undefined {
  if (!key.startsWith(base)) return undefined;
  const parts = key.slice(base.length).split("/");
  if (parts[0] === "clients" && parts.length === 3 && parts[1] !== "") return { kind: "client", cluster: parts[1]! };
  if (parts[0] === "services" && parts.length === 4 && parts.every((part) => part !== "")) {
    return { kind: "service", cluster: parts[1]!, namespace: parts[2]!, name: parts[3]! };
  }
  return undefined;
}

/**
 * The writer's unit of a key: a cluster's client networks (`clients/<cluster>`, written together), or one of
 * its shards (`services/<cluster>/<namespace>/<name>`), so a Service's change is one small transaction.
 */
export function shortKeyUnit(prefix: string, federation: string): UnitOf {
  const base = shortBase(prefix, federation);
  return (key) => {
    const parsed = parseShortKey(base, key);
    if (parsed === undefined) return undefined;
    return parsed.kind === "client"
      ? clientUnit(parsed.cluster)
      : serviceUnit(parsed.cluster, parsed.namespace, parsed.name);
  };
}

export function clientUnit(cluster: string): string {
  return `clients/${cluster}`;
}

export function serviceUnit(cluster: string, namespace: string, name: string): string {
  return `services/${cluster}/${namespace}/${name}`;
}

/** What a unit of shortKeyUnit() names, or undefined. */
export function parseShortUnit(unit: string): ParsedShortKey | undefined {
  const parts = unit.split("/");
  if (parts[0] === "clients" && parts.length === 2 && parts[1] !== "") return { kind: "client", cluster: parts[1]! };
  if (parts[0] === "services" && parts.length === 4 && parts.every((part) => part !== "")) {
    return { kind: "service", cluster: parts[1]!, namespace: parts[2]!, name: parts[3]! };
  }
  return undefined;
}

export function clusterOfShortUnit(unit: string): string | undefined {
  return parseShortUnit(unit)?.cluster;
}

/** The cluster of a key. */
export function shortUnitOf(prefix: string, federation: string): UnitOf {
  const base = shortBase(prefix, federation);
  return (key) => parseShortKey(base, key)?.cluster;
}

type Json = Record<string, unknown>;

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PROTOCOLS = new Set(["tcp", "udp", "sctp"]);
/** Per value, at most: a bad value must not make the reader allocate without bound. */
const MAX_ADDRESSES = 16;
const MAX_PORTS = 64;

/** `address/length` in canonical form (host bits cleared, RFC 5952 text), or undefined when it is not a network. */
export function canonicalNetwork(text: string): string | undefined {
  const parsed = networkBytes(text);
  if (parsed === undefined) return undefined;
  return `${ipaddr.fromByteArray([...parsed.bytes]).toString()}/${parsed.prefixLength}`;
}

/** A network's bytes with host bits cleared; IPv4-mapped IPv6 becomes IPv4. Undefined when invalid. */
export function networkBytes(text: string): NetworkBytes | undefined {
  const [address, length, ...rest] = text.split("/");
  if (address === undefined || rest.length > 0) return undefined;
  const family = isIP(address);
  if (family === 0) return undefined;
  let bytes = Uint8Array.from(ipaddr.parse(address).toByteArray());
  let max = family === 4 ? 32 : 128;
  let prefix = length === undefined ? max : /^\d{1,3}$/.test(length) ? Number(length) : Number.NaN;
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  if (family === 6 && prefix >= 96 && ipaddr.IPv6.parse(address).isIPv4MappedAddress()) {
    bytes = bytes.slice(12);
    max = 32;
    prefix -= 96;
  }
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3] = bytes[bit >> 3]! & ~(0x80 >> (bit & 7));
  return { bytes, prefixLength: prefix };
}

/** A stored value, checked field by field (it comes from etcd: anybody with write access may have put it). */
export function decodeShortValue(raw: string): { ok: true; value: ShortValue } | { ok: false; error: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    return { ok: false, error: `invalid JSON: ${(err as Error).message}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { ok: false, error: "value is not a JSON object" };
  }
  const object = parsed as Json;
  const common: { owner?: string; cluster?: string } = {};
  for (const field of ["owner", "cluster"] as const) {
    const value = object[field];
    if (value === undefined) continue;
    if (typeof value !== "string") return { ok: false, error: `field "${field}" must be a string` };
    common[field] = value;
  }
  if (object.network !== undefined) {
    const network = typeof object.network === "string" ? canonicalNetwork(object.network) : undefined;
    if (network === undefined) return { ok: false, error: `field "network" is not a network` };
    const source = object.source;
    if (typeof source !== "string" || !(NETWORK_SOURCES as readonly string[]).includes(source)) {
      return { ok: false, error: `field "source" must be one of ${NETWORK_SOURCES.join(", ")}` };
    }
    const value: ClientNetworkValue = { network, source: source as NetworkSource };
    for (const field of ["zone", "region"] as const) {
      const label = object[field];
      if (label === undefined) continue;
      if (typeof label !== "string" || !LABEL.test(label))
        return { ok: false, error: `field "${field}" is not a label` };
      value[field] = label;
    }
    if (value.zone !== undefined && value.region === undefined) return { ok: false, error: "a zone needs its region" };
    return { ok: true, value: { ...value, ...common } };
  }
  if (!Array.isArray(object.addresses) || !Array.isArray(object.ports)) {
    return { ok: false, error: 'needs "network", or "addresses" and "ports"' };
  }
  if (object.addresses.length > MAX_ADDRESSES || object.ports.length > MAX_PORTS) {
    return { ok: false, error: `more than ${MAX_ADDRESSES} addresses or ${MAX_PORTS} ports` };
  }
  const addresses: string[] = [];
  for (const address of object.addresses) {
    const canonical = typeof address === "string" ? canonicalNetwork(address) : undefined;
    if (canonical === undefined || !/\/(32|128)$/.test(canonical)) {
      return { ok: false, error: `address ${JSON.stringify(address)} is not an IP address` };
    }
    addresses.push(canonical.slice(0, canonical.lastIndexOf("/")));
  }
  const ports: ShortPort[] = [];
  for (const item of object.ports) {
    const port = typeof item === "object" && item !== null ? (item as Json) : {};
    const { name, protocol, port: number } = port;
    if (typeof name !== "string" || !LABEL.test(name) || typeof protocol !== "string" || !PROTOCOLS.has(protocol)) {
      return { ok: false, error: "a port needs a label name and a protocol tcp, udp or sctp" };
    }
    if (typeof number !== "number" || !Number.isInteger(number) || number < 1 || number > 65535) {
      return { ok: false, error: `port ${JSON.stringify(number)} out of range` };
    }
    ports.push({ name, protocol, port: number });
  }
  return { ok: true, value: { addresses: [...new Set(addresses)].sort(), ports: sortedPorts(ports), ...common } };
}

function sortedPorts(ports: ShortPort[]): ShortPort[] {
  const key = (port: ShortPort) => `${port.protocol}/${port.name}/${String(port.port).padStart(5, "0")}`;
  return [...new Map(ports.map((port) => [key(port), port])).entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, port]) => port);
}

/** Fixed field order, no undefined fields: equal values give equal bytes. */
export function encodeShortValue(value: ShortValue): string {
  if (isClientNetwork(value)) {
    return JSON.stringify({
      network: value.network,
      source: value.source,
      ...(value.zone === undefined ? {} : { zone: value.zone }),
      ...(value.region === undefined ? {} : { region: value.region }),
      ...(value.owner === undefined ? {} : { owner: value.owner }),
      ...(value.cluster === undefined ? {} : { cluster: value.cluster }),
    });
  }
  return JSON.stringify({
    addresses: value.addresses,
    ports: value.ports.map((port) => ({ name: port.name, protocol: port.protocol, port: port.port })),
    ...(value.owner === undefined ? {} : { owner: value.owner }),
    ...(value.cluster === undefined ? {} : { cluster: value.cluster }),
  });
}

/** The normalized stored form (decoded, re-encoded), undefined when it does not decode: the writer's codec. */
export function normalizeShortValue(raw: string): string | undefined {
  const decoded = decodeShortValue(raw);
  return decoded.ok ? encodeShortValue(decoded.value) : undefined;
}
