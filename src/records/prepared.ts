// Records prepared for the index off the main thread (issue 8). prepareKey() is the one reading of a key and
// its value (the key's segments below the prefix, the name's wire limits, the value's fields): RecordIndex
// calls it for every put, and the loader worker (store/load-worker.ts) calls it for every key of a full load,
// then packs a page of results with packPage(): a table of the page's distinct strings, one row of integers
// per record (typed arrays, transferred without copying), a record's key as the number of leading segments it
// shares with the previous record plus its own. On the main thread readPreparedPage() checks a page (it came
// from another thread: untrusted like any input) and PreparedRecords yields its records for
// RecordIndex.putPrepared(): what is left there is interning and the tree.
import { labelCount, nameOfSegments, segmentsBelow, wireNameProblem } from "./name.ts";
import { BITS_LIMIT, decodeFields, kindOfBits, type RecordFields } from "./stored-record.ts";

/** A key and value read as a record: what the index places. */
export interface PreparedKey {
  /** The key's segments below the prefix (reversed labels), the leaf label last. */
  segments: string[];
  fields: RecordFields;
  /** Labels of the owner name (ownerNameOf): the depth of the node a fedns record answers at. */
  ownerDepth: number;
  /** A fedns record whose group is written otherwise than its owner name (case, trailing dot): kept as written. */
  keepRawGroup: boolean;
}

/** Reads a key below `base` (`<prefix>/`) and its value, or says why it cannot be used. */
export function prepareKey(
  base: string,
  key: string,
  value: string,
  revision: number,
): PreparedKey | { error: string } {
  const segments = segmentsBelow(base, key);
  if ("error" in segments) return segments;
  // The key's name goes on the wire (SRV/MX/NS targets of address records): it must fit there.
  const name = nameOfSegments(segments);
  const problem = wireNameProblem(name);
  if (problem !== undefined) return { error: `key is not a valid DNS name: ${problem}` };
  const decoded = decodeFields(name, segments[segments.length - 1]!, value, revision);
  if (!decoded.ok) return { error: decoded.error };
  const group = decoded.fields.group;
  return {
    segments,
    fields: decoded.fields,
    ownerDepth: labelCount(decoded.owner),
    keepRawGroup: group !== undefined && group !== decoded.owner,
  };
}

/** Integers per record in PreparedPage.rows. */
export const ROW = 12;
const SHARED = 0; // leading segments equal to the previous record's in this page (0 for the first)
const OWN = 1; // segments that follow (string indices in `segments`)
const BITS = 2;
const PW = 3;
const TTL = 4;
const HOST = 5; // IPv4 as int32 (kind A), a string index (AAAA, CNAME), 0 (none)
const OWNER = 6; // string index or -1, as CLUSTER, GROUP, TEXT
const CLUSTER = 7;
const GROUP = 8;
const TEXT = 9;
const TARGETSTRIP = 10; // -1: absent
const PLACE = 11; // ownerDepth << 1 | keepRawGroup

/** Records in one page at most (a worker's page is far smaller). */
export const MAX_PAGE_RECORDS = 200_000;
/** A DNS name has at most 127 labels. */
const MAX_SEGMENTS = 127;
const MAX_LABEL = 63;

/** A key the worker could not use: logged, counted and skipped by the source as any bad value. */
export interface PreparedRejection {
  key: string;
  error: string;
  value: string;
}

/** One page of a full load as the worker posts it. */
export interface PreparedPage {
  type: "page";
  /** The store revision of the whole load (every page is read at the first one's). */
  revision: number;
  count: number;
  strings: string[];
  rows: Int32Array;
  revisions: Float64Array;
  /** String indices of each record's own segments, record after record. */
  segments: Int32Array;
  rejected: PreparedRejection[];
}

/** Packs a page of prepared keys (in the worker). */
export function packPage(revision: number, keys: readonly PreparedKey[], rejected: PreparedRejection[]): PreparedPage {
  // Table entries: a key's own segments as they come (parents are shared through SHARED), the few owner and
  // cluster values through a Map, the rest once per run of equal values (a name's records are adjacent).
  const strings: string[] = [];
  const add = (value: string): number => strings.push(value) - 1;
  const ids = new Map<string, number>();
  const common = (value: string | undefined): number => {
    if (value === undefined) return -1;
    let known = ids.get(value);
    if (known === undefined) {
      known = add(value);
      ids.set(value, known);
    }
    return known;
  };
  const last: (string | undefined)[] = [];
  const lastIds: number[] = [];
  const run = (slot: number, value: string | undefined): number => {
    if (value === undefined) return -1;
    if (last[slot] === value) return lastIds[slot]!;
    const id = add(value);
    last[slot] = value;
    lastIds[slot] = id;
    return id;
  };
  const rows = new Int32Array(keys.length * ROW);
  const revisions = new Float64Array(keys.length);
  const own: number[] = [];
  let previous: readonly string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const { segments, fields, ownerDepth, keepRawGroup } = keys[i]!;
    let shared = 0;
    const limit = Math.min(previous.length, segments.length - 1);
    while (shared < limit && previous[shared] === segments[shared]) shared++;
    for (let s = shared; s < segments.length; s++) own.push(add(segments[s]!));
    const row = i * ROW;
    rows[row + SHARED] = shared;
    rows[row + OWN] = segments.length - shared;
    rows[row + BITS] = fields.bits;
    rows[row + PW] = fields.pw;
    rows[row + TTL] = fields.ttl;
    const host = fields.hostData;
    rows[row + HOST] = typeof host === "number" ? host : host === undefined ? 0 : run(0, host);
    rows[row + OWNER] = common(fields.owner);
    rows[row + CLUSTER] = common(fields.cluster);
    rows[row + GROUP] = run(1, fields.group);
    rows[row + TEXT] = run(2, fields.text);
    rows[row + TARGETSTRIP] = fields.targetstrip ?? -1;
    rows[row + PLACE] = (ownerDepth << 1) | (keepRawGroup ? 1 : 0);
    revisions[i] = fields.modRevision;
    previous = segments;
  }
  return {
    type: "page",
    revision,
    count: keys.length,
    strings,
    rows,
    revisions,
    segments: Int32Array.from(own),
    rejected,
  };
}

/** The buffers of a page, for postMessage's transfer list. */
export function transferablesOf(page: PreparedPage): ArrayBuffer[] {
  return [page.rows.buffer, page.revisions.buffer, page.segments.buffer] as ArrayBuffer[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/**
 * A page from the worker, checked for what the index relies on: shapes and sizes, every index in range, every
 * segment a non-empty label without `/` that fits a DNS label, counts and depths within a DNS name, fields
 * within their encodings. Throws on the first violation (the source then stops using the worker).
 */
export function readPreparedPage(message: unknown): PreparedPage {
  if (!isRecord(message) || message.type !== "page") throw new Error("not a page");
  const { revision, count, strings, rows, revisions, segments, rejected } = message;
  if (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < 0) throw new Error("bad revision");
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0 || count > MAX_PAGE_RECORDS) {
    throw new Error("bad record count");
  }
  if (!Array.isArray(strings)) throw new Error("strings is not an array");
  for (const value of strings) if (typeof value !== "string") throw new Error("a string table entry is no string");
  if (!(rows instanceof Int32Array) || rows.length !== count * ROW) throw new Error("bad rows");
  if (!(revisions instanceof Float64Array) || revisions.length !== count) throw new Error("bad revisions");
  if (!(segments instanceof Int32Array)) throw new Error("bad segments");
  if (!Array.isArray(rejected) || rejected.length > MAX_PAGE_RECORDS) throw new Error("bad rejections");
  for (const entry of rejected) {
    if (!isRecord(entry) || typeof entry.key !== "string" || typeof entry.error !== "string") {
      throw new Error("bad rejection");
    }
    if (typeof entry.value !== "string") throw new Error("bad rejection");
  }
  const table = strings as string[];
  const optional = (index: number): boolean => index === -1 || (index >= 0 && index < table.length);
  /** String table entries seen to be good segments. */
  const checked = new Uint8Array(table.length);
  let previous = 0;
  let at = 0;
  for (let i = 0; i < count; i++) {
    const row = i * ROW;
    const shared = rows[row + SHARED]!;
    const own = rows[row + OWN]!;
    if (shared < 0 || shared > previous || own < 1 || shared + own > MAX_SEGMENTS)
      throw new Error("bad segment counts");
    if (at + own > segments.length) throw new Error("segments run short");
    for (let s = 0; s < own; s++) {
      const index = segments[at + s]!;
      if (checked[index] === 1) continue;
      const label = table[index];
      if (label === undefined || label.length === 0 || label.length > MAX_LABEL || label.includes("/")) {
        throw new Error("bad segment");
      }
      checked[index] = 1;
    }
    at += own;
    previous = shared + own;
    const bits = rows[row + BITS]!;
    if (bits < 0 || bits >= BITS_LIMIT) throw new Error("bad bits");
    const kind = kindOfBits(bits);
    const host = rows[row + HOST]!;
    if ((kind === 2 || kind === 3) && !(host >= 0 && host < table.length && table[host]!.length > 0)) {
      throw new Error("bad host");
    }
    if (rows[row + TTL]! < 0) throw new Error("bad ttl");
    for (const field of [OWNER, CLUSTER, GROUP, TEXT]) {
      if (!optional(rows[row + field]!)) throw new Error("bad string index");
    }
    if (rows[row + TARGETSTRIP]! < -1) throw new Error("bad targetstrip");
    const place = rows[row + PLACE]!;
    if (place < 0 || place >> 1 > previous) throw new Error("bad owner depth");
    const modRevision = revisions[i]!;
    if (!Number.isSafeInteger(modRevision) || modRevision < 0) throw new Error("bad mod revision");
  }
  if (at !== segments.length) throw new Error("segments left over");
  return message as unknown as PreparedPage;
}

/** A checked page's records, one at a time (`next()` undefined at the end); the segments arrays are fresh. */
export class PreparedRecords {
  private readonly page: PreparedPage;
  private index = 0;
  private at = 0;
  private previous: readonly string[] = [];

  constructor(page: PreparedPage) {
    this.page = page;
  }

  get done(): boolean {
    return this.index >= this.page.count;
  }

  /** The records not read yet. */
  *[Symbol.iterator](): Generator<PreparedKey> {
    for (let next = this.next(); next !== undefined; next = this.next()) yield next;
  }

  next(): PreparedKey | undefined {
    const { rows, strings, segments, revisions } = this.page;
    const i = this.index;
    if (i >= this.page.count) return undefined;
    this.index++;
    const row = i * ROW;
    const shared = rows[row + SHARED]!;
    const own = rows[row + OWN]!;
    const keySegments = this.previous.slice(0, shared);
    for (let s = 0; s < own; s++) keySegments.push(strings[segments[this.at + s]!]!);
    this.at += own;
    this.previous = keySegments;
    const bits = rows[row + BITS]!;
    const kind = kindOfBits(bits);
    const host = rows[row + HOST]!;
    const text = (index: number): string | undefined => (index === -1 ? undefined : strings[index]);
    const targetstrip = rows[row + TARGETSTRIP]!;
    const place = rows[row + PLACE]!;
    return {
      segments: keySegments,
      fields: {
        label: keySegments[keySegments.length - 1]!,
        hostData: kind === 1 ? host : kind === 0 ? undefined : strings[host],
        bits,
        pw: rows[row + PW]!,
        ttl: rows[row + TTL]!,
        modRevision: revisions[i]!,
        owner: text(rows[row + OWNER]!),
        cluster: text(rows[row + CLUSTER]!),
        group: text(rows[row + GROUP]!),
        text: text(rows[row + TEXT]!),
        targetstrip: targetstrip === -1 ? undefined : targetstrip,
      },
      ownerDepth: place >> 1,
      keepRawGroup: (place & 1) === 1,
    };
  }
}
