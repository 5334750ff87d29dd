// Which load-balancer addresses may be published (docs/trust.md): never the special-purpose ranges
// of RFC 6890 and the IANA registries (unspecified, loopback, link-local, multicast, broadcast...),
// whatever a member cluster says; private-use ranges only where the operator allow-lists them for that
// cluster; and, when a cluster has an allow-list, only addresses inside it. The documentation ranges
// (RFC 5737, RFC 3849) stay allowed: the demo and the tests use them.
// Pure; no exceptions: each address is validated before it is parsed, once.
import ipaddr from "ipaddr.js";

/** A parsed network: the address bytes (4 or 16) and the prefix length. */
export interface Network {
  readonly bytes: Uint8Array;
  readonly prefix: number;
  readonly text: string;
}

interface Range extends Network {
  /** Why an address in it is refused. */
  readonly reason: string;
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a single address; undefined when it is neither. */
export function parseNetwork(text: string): Network | undefined {
  const [address = "", prefixText, ...rest] = text.trim().split("/");
  if (rest.length > 0) return undefined;
  const bytes = addressBytes(address);
  if (bytes === undefined) return undefined;
  const max = bytes.length * 8;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return { bytes, prefix, text: `${address}/${prefix}` };
}

/**
 * The bytes of an IP address: 4 for IPv4 (dotted quad, or IPv4-mapped IPv6, which is served as A),
 * 16 for IPv6; undefined when the text is not an address. Zone indexes (`%eth0`) are not addresses.
 */
export function addressBytes(text: string): Uint8Array | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return Uint8Array.from(ipaddr.IPv4.parse(text).toByteArray());
  if (!text.includes(":") || text.includes("%") || !ipaddr.IPv6.isValid(text)) return undefined;
  const v6 = ipaddr.IPv6.parse(text);
  if (v6.isIPv4MappedAddress()) return Uint8Array.from(v6.toIPv4Address().toByteArray());
  return Uint8Array.from(v6.toByteArray());
}

export function contains(network: Network, bytes: Uint8Array): boolean {
  if (network.bytes.length !== bytes.length) return false;
  const whole = network.prefix >> 3;
  for (let i = 0; i < whole; i++) if (network.bytes[i] !== bytes[i]) return false;
  const bits = network.prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return ((network.bytes[whole]! ^ bytes[whole]!) & mask) === 0;
}

function range(text: string, reason: string): Range {
  const network = parseNetwork(text);
  if (network === undefined) throw new Error(`addresses.ts: bad built-in range ${text}`);
  return { ...network, reason };
}

/** Never published, even when a cluster's allow-list covers them. */
const NEVER: readonly Range[] = [
  range("0.0.0.0/8", "unspecified / 'this network' (RFC 6890)"),
  range("127.0.0.0/8", "loopback (RFC 6890)"),
  range("169.254.0.0/16", "link-local (RFC 3927), includes cloud metadata 169.254.169.254"),
  range("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
  range("192.88.99.0/24", "6to4 relay anycast (RFC 7526)"),
  range("198.18.0.0/15", "benchmarking (RFC 2544)"),
  range("224.0.0.0/4", "multicast (RFC 5771)"),
  range("240.0.0.0/4", "reserved (RFC 1112), includes broadcast 255.255.255.255"),
  range("::/128", "unspecified (RFC 4291)"),
  range("::1/128", "loopback (RFC 4291)"),
  range("::/96", "IPv4-compatible IPv6 (deprecated, RFC 4291)"),
  range("64:ff9b::/96", "NAT64 well-known prefix (RFC 6052)"),
  range("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
  range("100::/64", "discard-only (RFC 6666)"),
  range("2001::/23", "IETF protocol assignments (RFC 2928), includes Teredo"),
  range("2002::/16", "6to4 (RFC 3056)"),
  range("fe80::/10", "link-local (RFC 4291)"),
  range("fec0::/10", "site-local (deprecated, RFC 3879)"),
  range("ff00::/8", "multicast (RFC 4291)"),
];

/** Allowed even inside the ranges above: the documentation ranges the demo and the tests use. */
const DOCUMENTATION: readonly Range[] = [
  range("192.0.2.0/24", "documentation (RFC 5737)"),
  range("198.51.100.0/24", "documentation (RFC 5737)"),
  range("203.0.113.0/24", "documentation (RFC 5737)"),
  range("2001:db8::/32", "documentation (RFC 3849)"),
];

/** Published only where the cluster's allow-list covers them (internal load balancers). */
const PRIVATE: readonly Range[] = [
  range("10.0.0.0/8", "private-use (RFC 1918)"),
  range("172.16.0.0/12", "private-use (RFC 1918)"),
  range("192.168.0.0/16", "private-use (RFC 1918)"),
  range("100.64.0.0/10", "shared address space (RFC 6598)"),
  range("fc00::/7", "unique local (RFC 4193)"),
];

function find(ranges: readonly Range[], bytes: Uint8Array): Range | undefined {
  for (const candidate of ranges) if (contains(candidate, bytes)) return candidate;
  return undefined;
}

/**
 * Why `address` must not be published for a cluster with allow-list `allowed` (undefined: no
 * allow-list), or undefined when it may be. `address` is the normalized text plan() publishes.
 */
export function addressProblem(address: string, allowed?: readonly Network[]): string | undefined {
  const bytes = addressBytes(address);
  if (bytes === undefined) return "not an IP address";
  const documentation = find(DOCUMENTATION, bytes) !== undefined;
  if (!documentation) {
    const never = find(NEVER, bytes);
    if (never !== undefined) return `special-purpose address: ${never.reason}`;
  }
  const inAllowList = allowed?.some((network) => contains(network, bytes));
  if (!documentation && inAllowList !== true) {
    const privateRange = find(PRIVATE, bytes);
    if (privateRange !== undefined) {
      return `${privateRange.reason} address, not in the cluster's allowedNetworks`;
    }
  }
  if (allowed !== undefined && inAllowList !== true) return "not in the cluster's allowedNetworks";
  return undefined;
}
