// The CoreDNS `msg.Service` value stored under every skydns key, plus fedns's `owner` and `cluster`.
import { isIPv4 } from "node:net";
import ipaddr from "ipaddr.js";
import { nameProblem, normalizeName } from "./name.ts";

export interface SkydnsService {
  host: string;
  port?: number;
  priority?: number;
  weight?: number;
  text?: string;
  mail?: boolean;
  ttl?: number;
  targetstrip?: number;
  group?: string;
  owner?: string;
  cluster?: string;
}

export type HostType =
  | { kind: "A"; address: string }
  | { kind: "AAAA"; address: string }
  | { kind: "CNAME"; target: string }
  | { kind: "invalid"; reason: string };

export type DecodeResult = { ok: true; service: SkydnsService } | { ok: false; error: string };

/** decodeService() plus what it found `host` to be (undefined without host), for callers that need both. */
export type DecodedValue =
  | { ok: true; service: SkydnsService; host: HostType | undefined }
  | { ok: false; error: string };

const NUMBER_FIELDS = ["port", "priority", "weight", "ttl", "targetstrip"] as const;
const STRING_FIELDS = ["host", "text", "group", "owner", "cluster"] as const;
const UINT16_FIELDS = new Set(["port", "priority", "weight"]);

/** Parses a stored value; any shape CoreDNS would reject (or that would make us serve garbage) is an error. */
export function decodeService(raw: string): DecodeResult {
  const decoded = decodeValue(raw);
  return decoded.ok ? { ok: true, service: decoded.service } : decoded;
}

/** decodeService() that also returns hostType(host), computed once. */
export function decodeValue(raw: string): DecodedValue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    return { ok: false, error: `invalid JSON: ${(err as Error).message}` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { ok: false, error: "value is not a JSON object" };
  }
  const object = parsed as Record<string, unknown>;
  const service: SkydnsService = { host: "" };
  for (const field of STRING_FIELDS) {
    const value = object[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") return { ok: false, error: `field "${field}" must be a string` };
    service[field] = value;
  }
  for (const field of NUMBER_FIELDS) {
    const value = object[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== "number" || !Number.isInteger(value)) {
      return { ok: false, error: `field "${field}" must be an integer` };
    }
    const max = UINT16_FIELDS.has(field) ? 0xffff : 0x7fffffff;
    // CoreDNS uses port -1 for "no port"; keep it so SRV can skip the record as CoreDNS does.
    const min = field === "port" ? -1 : 0;
    if (value < min || value > max) return { ok: false, error: `field "${field}" out of range: ${value}` };
    service[field] = value;
  }
  if (object.mail !== undefined && object.mail !== null) {
    if (typeof object.mail !== "boolean") return { ok: false, error: 'field "mail" must be a boolean' };
    service.mail = object.mail;
  }
  if (service.host === "" && service.text === undefined) {
    return { ok: false, error: 'neither "host" nor "text" is set' };
  }
  if (service.host !== "") {
    const host = hostType(service.host);
    if (host.kind === "invalid") return { ok: false, error: host.reason };
    return { ok: true, service, host };
  }
  return { ok: true, service, host: undefined };
}

/** Serializes with a fixed field order and no undefined fields, so equal services give equal bytes. */
export function encodeService(service: SkydnsService): string {
  const ordered: Record<string, string | number | boolean> = { host: service.host };
  if (service.port !== undefined) ordered.port = service.port;
  if (service.priority !== undefined) ordered.priority = service.priority;
  if (service.weight !== undefined) ordered.weight = service.weight;
  if (service.text !== undefined) ordered.text = service.text;
  if (service.mail !== undefined) ordered.mail = service.mail;
  if (service.ttl !== undefined) ordered.ttl = service.ttl;
  if (service.targetstrip !== undefined) ordered.targetstrip = service.targetstrip;
  if (service.group !== undefined) ordered.group = service.group;
  if (service.owner !== undefined) ordered.owner = service.owner;
  if (service.cluster !== undefined) ordered.cluster = service.cluster;
  return JSON.stringify(ordered);
}

/** What record type a `host` makes (CoreDNS `Service.HostType`): an IP gives A/AAAA, a name gives CNAME. */
export function hostType(host: string): HostType {
  // node:net's check first: ipaddr.js's isValid throws and catches for every name (issue 8: a third of a
  // controller's time). isIPv4 accepts exactly the four-part decimal form without leading zeros.
  if (isIPv4(host)) return { kind: "A", address: host };
  if (host.includes(":")) {
    if (!ipaddr.IPv6.isValid(host)) return { kind: "invalid", reason: `invalid IPv6 address ${JSON.stringify(host)}` };
    const parsed = ipaddr.IPv6.parse(host);
    if (parsed.isIPv4MappedAddress()) return { kind: "A", address: parsed.toIPv4Address().toString() };
    return { kind: "AAAA", address: parsed.toString() };
  }
  // A name whose last label is numeric is a mistyped address (`198.51.100.300`), never a host name (RFC 3696).
  if (/(^|\.)\d+\.?$/.test(host)) return { kind: "invalid", reason: `invalid IPv4 address ${JSON.stringify(host)}` };
  const problem = nameProblem(host);
  if (problem !== undefined)
    return { kind: "invalid", reason: `host is neither an IP address nor a valid name: ${problem}` };
  return { kind: "CNAME", target: normalizeName(host) };
}

/** The `owner` field of a stored value, read loosely so that a writer's records stay its own even when otherwise invalid. */
export function ownerOf(raw: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const owner = (parsed as Record<string, unknown>).owner;
    return typeof owner === "string" ? owner : undefined;
  } catch {
    return undefined;
  }
}
