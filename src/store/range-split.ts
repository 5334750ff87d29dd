// Paging a prefix so that etcd 3.4 walks each key about once (issue 8). etcd 3.4 serves a limited range by
// collecting every key from the request's start to its range_end out of its index, then returning the first
// `limit` of them: paging a whole prefix with only the start moving walks the rest of the prefix for every page
// (quadratic in pages: 5–15 s of etcd CPU for 650k keys). So every page after the first asks for a sub-range
// with a tight end, guessed from the key density of the page before it (keys read as base-256 fractions):
// a page that comes back full (`more`) continues after its last key, one that holds fewer keys than asked
// continues from its end with a wider guess. Any end is correct (the next page starts exactly there); only
// the cost depends on the guess. etcd 3.5 and later stop at `limit` by themselves and lose nothing by this.

/** Bytes of a key that take part in the density arithmetic (longer keys are cut, which only blurs the guess). */
const WIDTH = 512;
/** Aim a page at this much more than the limit, so that it usually comes back full with one round trip. */
const AIM_NUMERATOR = 5n;
const AIM_DENOMINATOR = 4n;
/** A guess grows at most this much per page (one byte of key per page across a gap without keys). */
const MAX_GROWTH = 256n;

/** One page's bounds: [start, end), `final` when end is the prefix's own end. */
export interface PagePlan {
  start: Buffer;
  end: Buffer;
  final: boolean;
}

/** What came back for a PagePlan: the keys (at most `limit`) and whether the sub-range held more. */
export interface PageOutcome {
  /** The page's raw keys in order; only the first, the last and the count are read. */
  keys: ArrayLike<Buffer>;
  more: boolean;
  limit: number;
}

/** A key as an integer of WIDTH bytes (the key's bytes then zeros). */
function fraction(key: Buffer): bigint {
  const padded = Buffer.alloc(WIDTH);
  key.copy(padded, 0, 0, Math.min(key.length, WIDTH));
  return BigInt(`0x${padded.toString("hex")}`);
}

/** The shortest key whose fraction is `value`, or the full WIDTH bytes when trailing zeros make a difference. */
function keyOf(value: bigint, above: Buffer): Buffer {
  const full = Buffer.from(value.toString(16).padStart(WIDTH * 2, "0"), "hex");
  let length = full.length;
  while (length > 0 && full[length - 1] === 0) length--;
  const short = full.subarray(0, length);
  return Buffer.compare(short, above) > 0 ? short : full;
}

/** `start:span` (base64 key, hexadecimal span); a cursor without a span reads to the prefix's end. */
function cursorOf(start: Buffer, span: bigint | undefined): string {
  return span === undefined ? start.toString("base64") : `${start.toString("base64")}:${span.toString(16)}`;
}

function parseSpan(text: string): bigint | undefined {
  if (!/^[0-9a-f]{1,1100}$/.test(text)) return undefined;
  const span = BigInt(`0x${text}`);
  return span > 0n ? span : undefined;
}

/** The bounds of the page a cursor (undefined: the first page) asks for, within [prefixStart, prefixEnd). */
export function planPage(prefixStart: Buffer, prefixEnd: Buffer, cursor: string | undefined): PagePlan {
  if (cursor === undefined) return { start: prefixStart, end: prefixEnd, final: true };
  const [startText = "", spanText] = cursor.split(":", 2);
  const start = Buffer.from(startText, "base64");
  const span = spanText === undefined ? undefined : parseSpan(spanText);
  if (span === undefined) return { start, end: prefixEnd, final: true };
  const guess = fraction(start) + span;
  // etcd's range_end "\0" (the end of a prefix of all 0xff bytes) means: every key from the start on.
  const open = prefixEnd.length === 1 && prefixEnd[0] === 0;
  if (guess >= (open ? 1n << BigInt(WIDTH * 8) : fraction(prefixEnd))) return { start, end: prefixEnd, final: true };
  const end = keyOf(guess, start);
  if (!open && Buffer.compare(end, prefixEnd) >= 0) return { start, end: prefixEnd, final: true };
  return { start, end, final: false };
}

/** The cursor of the page after `plan`, or undefined when the prefix has been read to its end. */
export function cursorAfter(plan: PagePlan, outcome: PageOutcome): string | undefined {
  const { keys, more, limit } = outcome;
  if (more) {
    // Full: the next page gets a sub-range as wide as `limit` keys took here, a bit more.
    const last = keys[keys.length - 1]!;
    const first = keys.length >= 2 ? keys[0]! : plan.start;
    const perKey = (fraction(last) - fraction(first)) / BigInt(Math.max(1, keys.length - 1));
    const span = (perKey * BigInt(limit) * AIM_NUMERATOR) / AIM_DENOMINATOR + 1n;
    return cursorOf(Buffer.concat([last, Buffer.from([0])]), span);
  }
  if (plan.final) return undefined;
  // Every key of [start, end) came: widen in proportion to what was missing, at most MAX_GROWTH-fold.
  const width = fraction(plan.end) - fraction(plan.start);
  const wanted = (BigInt(limit) * AIM_NUMERATOR) / AIM_DENOMINATOR;
  const growth = keys.length === 0 ? MAX_GROWTH : wanted / BigInt(keys.length);
  const factor = growth < 1n ? 1n : growth > MAX_GROWTH ? MAX_GROWTH : growth;
  return cursorOf(plan.end, width * factor + 1n);
}

/** The end of etcd's range of keys starting with `prefix`: the prefix with its last byte below 0xff incremented. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff: every key from the prefix on
}

/** What one range request returned, as pagedRange() needs it. */
export interface FetchedRange {
  /** The store's current revision (the response header's). */
  headerRevision: number;
  kvs: { key: string; value: string; modRevision: number }[];
  /** The raw keys (PageOutcome.keys). */
  keys: ArrayLike<Buffer>;
  more: boolean;
}

/** One page of a prefix (kv.ts RangeOptions): the request `fetch` makes for it, and the cursor of the next page. */
export async function pagedRange(
  prefix: string,
  options: { limit?: number; revision?: number; after?: string },
  fetch: (start: Buffer, end: Buffer, limit: number, revision: number) => Promise<FetchedRange>,
): Promise<{ kvs: FetchedRange["kvs"]; revision: number; more?: boolean; next?: string }> {
  const start = Buffer.from(prefix);
  const limit = options.limit ?? 0;
  const end = prefixEnd(start);
  const bounds = planPage(start, end, options.after);
  const plan = limit > 0 ? bounds : { start: bounds.start, end, final: true };
  const response = await fetch(plan.start, plan.end, limit, options.revision ?? 0);
  // A read at a past revision reflects that revision; the header carries the store's current one.
  const result: { kvs: FetchedRange["kvs"]; revision: number; more?: boolean; next?: string } = {
    revision: options.revision ?? response.headerRevision,
    kvs: response.kvs,
  };
  if (limit > 0) {
    // The raw bytes, not the decoded strings: a key that is not UTF-8 must not move the cursor.
    const next = cursorAfter(plan, { keys: response.keys, more: response.more, limit });
    if (next !== undefined) {
      result.more = true;
      result.next = next;
    }
  }
  return result;
}
