// DNS names and their place in the skydns key space (CoreDNS plugin/etcd/msg/path.go).
// Names are handled lowercase, without the trailing dot; "" is the root.

export const DEFAULT_PREFIX = "/skydns";

const LABEL = /^(?:\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)$/;

/** Lowercases and strips the trailing dot: the form every module compares names in. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/** A label fedns may write: letters, digits, hyphen, underscore (service labels `_tcp`), 1..63 chars, no edge hyphen. */
export function isValidLabel(label: string): boolean {
  return LABEL.test(label.toLowerCase());
}

/** Why a name cannot be written, or undefined when it can (all labels valid, at most 253 characters). */
export function nameProblem(name: string): string | undefined {
  const normal = normalizeName(name);
  if (normal.length === 0) return "empty name";
  if (normal.length > 253) return `name longer than 253 characters (${normal.length})`;
  for (const label of normal.split(".")) {
    if (!isValidLabel(label)) return `invalid DNS label ${JSON.stringify(label)}`;
  }
  return undefined;
}

/** labelsOf(name).length for a normalized name, without splitting it. */
export function labelCount(name: string): number {
  if (name.length === 0) return 0;
  let count = 1;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) === 46) count++;
  return count;
}

export function labelsOf(name: string): string[] {
  const normal = normalizeName(name);
  return normal.length === 0 ? [] : normal.split(".");
}

/** `/skydns` or `skydns/` → `/skydns`: one leading slash, no trailing one. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  return trimmed.length === 0 ? "" : `/${trimmed}`;
}

/** The etcd path of a name: `nginx.default.example.com` → `/skydns/com/example/default/nginx`. */
export function pathOfName(prefix: string, name: string): string {
  const labels = labelsOf(name).reverse();
  return [normalizePrefix(prefix), ...labels].join("/");
}

/** The path segments of a key below the prefix (reversed labels: `com`, `example`, …), or why there are none. */
export function keySegments(prefix: string, key: string): string[] | { error: string } {
  return segmentsBelow(`${normalizePrefix(prefix)}/`, key);
}

/** keySegments() for a base already in the form `<normalized prefix>/`. */
export function segmentsBelow(base: string, key: string): string[] | { error: string } {
  if (!key.startsWith(base)) return { error: `key is not below ${base}` };
  const segments = key.slice(base.length).split("/");
  if (segments.some((segment) => segment.length === 0)) return { error: "key has an empty path segment" };
  return segments;
}

/** The DNS name of key segments (leaf included): `com`, `example`, `web` → `web.example.com`. */
export function nameOfSegments(segments: readonly string[]): string {
  return [...segments].reverse().join(".").toLowerCase();
}

/** The DNS name a key stands for (leaf included), or undefined when the key is not below the prefix. */
export function nameOfKey(prefix: string, key: string): string | undefined {
  const segments = keySegments(prefix, key);
  return Array.isArray(segments) ? nameOfSegments(segments) : undefined;
}

const MAX_LABEL_OCTETS = 63;
const MAX_NAME_OCTETS = 253;

/**
 * Why a name (a stored key's, say) cannot go on the wire, or undefined when it can: a label over
 * 63 octets or a name over 253 (255 in wire form). Octets are counted as UTF-8, at least what any
 * encoder writes. Looser than nameProblem: any octets are allowed, as CoreDNS serves them.
 */
export function wireNameProblem(name: string): string | undefined {
  if (fitsAscii(name)) return undefined;
  if (Buffer.byteLength(name, "utf8") > MAX_NAME_OCTETS) return `name longer than ${MAX_NAME_OCTETS} octets`;
  for (const label of name.split(".")) {
    if (Buffer.byteLength(label, "utf8") > MAX_LABEL_OCTETS) {
      return `label longer than ${MAX_LABEL_OCTETS} octets: ${JSON.stringify(label.slice(0, 20))}…`;
    }
  }
  return undefined;
}

/** The common case of wireNameProblem() without encoding: ASCII, short enough, every label short enough. */
function fitsAscii(name: string): boolean {
  if (name.length > MAX_NAME_OCTETS) return false;
  let label = 0;
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code > 127) return false;
    if (code === 46) label = 0;
    else if (++label > MAX_LABEL_OCTETS) return false;
  }
  return true;
}

/** True when `name` equals `zone` or lies below it. */
export function isInZone(name: string, zone: string): boolean {
  if (zone.length === 0) return true;
  return name === zone || name.endsWith(`.${zone}`);
}

/** The longest of `zones` that contains `name`. */
export function zoneOf(name: string, zones: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const zone of zones) {
    if (isInZone(name, zone) && (best === undefined || zone.length > best.length)) best = zone;
  }
  return best;
}
