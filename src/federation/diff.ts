// diff(): what must change in the store so that it holds exactly the desired records of one unit, as far as
// `owner` may write (SPEC §3: keys of other owners are never changed). Pure; the writer turns the result into
// transactions, `fedns check` prints it as findings. Values are compared in one normalized form (see
// normalizeValue), so formatting differences never count as changes.
import { decodeService, encodeService, ownerOf, type SkydnsService } from "../records/service.ts";

/** What the store holds at a key, as far as diff needs it. */
export interface CurrentRecord {
  /** The value in comparable form (normalizeValue, or a digest of it); undefined if undecodable. */
  value: string | undefined;
  owner: string | undefined;
}

export interface UnitChanges {
  /** Desired keys the store does not hold. */
  create: string[];
  /** Desired keys we own whose value differs. */
  update: string[];
  /** Keys we own in the unit that are not desired. */
  delete: string[];
  /** Desired keys held by another owner (or none): left untouched. */
  foreign: string[];
}

/**
 * `current`: what the store holds at the unit's owned keys and at every desired key (absent: not stored).
 * `owned`: the keys of `owner` the store holds in this unit. `desired`: key -> value in the same form as current.
 */
export function diff(
  current: (key: string) => CurrentRecord | undefined,
  owned: Iterable<string>,
  desired: ReadonlyMap<string, string>,
  owner: string,
): UnitChanges {
  const changes: UnitChanges = { create: [], update: [], delete: [], foreign: [] };
  for (const [key, value] of desired) {
    const have = current(key);
    if (have === undefined) changes.create.push(key);
    else if (have.owner !== owner) changes.foreign.push(key);
    else if (have.value !== value) changes.update.push(key);
  }
  for (const key of owned) if (!desired.has(key)) changes.delete.push(key);
  for (const list of Object.values(changes) as string[][]) list.sort(compareKeys);
  return changes;
}

export function hasChanges(changes: UnitChanges): boolean {
  return changes.create.length + changes.update.length + changes.delete.length > 0;
}

/** A stored value in the one form both sides compare: decoded and re-encoded; undefined if undecodable. */
export function normalizeValue(raw: string): string | undefined {
  const decoded = decodeService(raw);
  return decoded.ok ? encodeService(decoded.service) : undefined;
}

/**
 * A desired record in its stored form, owner set; undefined when the value would not decode. The same string as
 * normalizeValue(encodeService(...)), encoded once: decoding the encoding and encoding it again gives the same
 * bytes, except where a number encodes as null (NaN, Infinity: decoding drops the field) or host is missing.
 */
export function desiredValue(service: SkydnsService, owner: string): string | undefined {
  const raw = ownedEncoding(service, owner);
  const decoded = decodeService(raw);
  if (!decoded.ok) return undefined;
  return typeof service.host !== "string" || raw.includes("null") ? encodeService(decoded.service) : raw;
}

/**
 * The encoding desiredValue() starts from (owner set), before its validity check: where the store holds a value
 * that normalizes to exactly this string, desiredValue() returns this string (a normalized value decodes).
 */
export function ownedEncoding(service: SkydnsService, owner: string): string {
  return encodeService(service.owner === owner ? service : { ...service, owner });
}

/** What the store's view keeps of a stored value: its comparable form, owner and cluster, from one decode. */
export interface ReadValue {
  normalized: string | undefined;
  owner: string | undefined;
  cluster: string | undefined;
}

/** A stored value read once: normalizeValue(), the owner (read loosely when undecodable) and the cluster. */
export function readValue(raw: string): ReadValue {
  const decoded = decodeService(raw);
  if (!decoded.ok) return { normalized: undefined, owner: ownerOf(raw), cluster: undefined };
  const { service } = decoded;
  return { normalized: encodeService(service), owner: service.owner, cluster: service.cluster };
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
