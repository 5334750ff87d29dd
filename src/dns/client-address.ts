// A query's source address as bytes (4 for IPv4, 16 for IPv6; IPv4-mapped IPv6 as IPv4), and the
// networks it may belong to. Used by cookies (the address is hashed into the server cookie) and
// response-rate limiting (buckets per network prefix, exempt networks).
import ipaddr from "ipaddr.js";

const NO_ADDRESS = new Uint8Array(0);

/** The address's bytes; empty when it is not an IP address (never on a real socket). */
export function addressBytes(address: string): Uint8Array {
  const v4 = parseIPv4(address);
  if (v4 !== undefined) return v4;
  if (!ipaddr.IPv6.isValid(address)) return NO_ADDRESS;
  const v6 = ipaddr.IPv6.parse(address);
  if (v6.isIPv4MappedAddress()) return Uint8Array.from(v6.toIPv4Address().toByteArray());
  return Uint8Array.from(v6.toByteArray());
}

/** Dotted-quad IPv4 without allocation beyond the result (the common case on the hot path). */
function parseIPv4(address: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= address.length; i++) {
    const code = i === address.length ? 46 : address.charCodeAt(i);
    if (code === 46) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (code >= 48 && code <= 57 && digits < 3) {
      value = value * 10 + code - 48;
      digits++;
      if (value > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return part === 4 ? out : undefined;
}

/** A network as address bytes and a prefix length (IPv4-mapped networks stay IPv6). */
export interface Network {
  bytes: Uint8Array;
  prefixLength: number;
}

/** Parses "10.0.0.0/8", "2001:db8::/32" or a single address; throws a message naming the value when invalid. */
export function parseNetwork(text: string): Network {
  const [address, prefix] = text.includes("/") ? ipaddr.parseCIDR(text) : [ipaddr.parse(text), undefined];
  const bytes = Uint8Array.from(address.toByteArray());
  return { bytes, prefixLength: prefix ?? bytes.length * 8 };
}

export function inNetwork(address: Uint8Array, network: Network): boolean {
  if (address.length !== network.bytes.length) return false;
  let bits = network.prefixLength;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & mask) !== (network.bytes[i]! & mask)) return false;
  }
  return true;
}
