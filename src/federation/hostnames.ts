// Which load-balancer hostnames the controller may resolve (docs/trust.md): a hostname a member cluster
// puts in a Service's status is looked up by the controller, from the controller's network, so it is
// held to the syntax of a host name (RFC 1123 letters-digits-hyphen labels, at most 63 octets each,
// 253 in all), must have at least two labels (a single label is only ever completed by search domains
// or /etc/hosts) and must not be under a special-use name that never means a remote host (RFC 6761
// `localhost` and `invalid`, RFC 6762 `local`, the reverse-mapping trees). Its addresses are checked
// afterwards like any load-balancer IP (federation/addresses.ts). Pure.

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Names (and every name below them) that are never resolved. */
const SPECIAL_USE: readonly { suffix: string; reason: string }[] = [
  { suffix: "localhost", reason: "loopback name (RFC 6761)" },
  { suffix: "invalid", reason: "never-existing name (RFC 6761)" },
  { suffix: "local", reason: "multicast DNS name (RFC 6762)" },
  { suffix: "in-addr.arpa", reason: "reverse-mapping name" },
  { suffix: "ip6.arpa", reason: "reverse-mapping name" },
];

/** The form hostnames are keyed and compared in: lowercase, without the trailing dot. */
export function hostnameKey(hostname: string): string {
  const lower = hostname.trim().toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/** The absolute name to query (trailing dot): never completed by search domains. */
export function absoluteHostname(hostname: string): string {
  return `${hostnameKey(hostname)}.`;
}

/** Why `hostname` must not be resolved, or undefined when it may. */
export function hostnameProblem(hostname: string): string | undefined {
  const key = hostnameKey(hostname);
  if (key.length === 0) return "empty hostname";
  if (key.length > 253) return `hostname longer than 253 characters (${key.length})`;
  const labels = key.split(".");
  for (const label of labels) {
    if (!LABEL.test(label)) {
      return `invalid hostname label ${JSON.stringify(label.slice(0, 63))} (letters, digits and inner hyphens, 1-63 characters)`;
    }
  }
  for (const special of SPECIAL_USE) {
    if (key === special.suffix || key.endsWith(`.${special.suffix}`)) return `special-use hostname: ${special.reason}`;
  }
  if (labels.length < 2) return "single-label hostname (only search domains or /etc/hosts would complete it)";
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return "all-numeric top-level label (an address, not a hostname)";
  return undefined;
}
