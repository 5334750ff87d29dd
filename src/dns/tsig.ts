// TSIG (RFC 8945): the one home for transaction signatures. Verifies signed requests (queries,
// transfer requests) and signed replies (NOTIFY acknowledgements), and signs replies, single or a
// multi-message stream (zone transfers: each message's MAC chains on the previous one, §5.3.1).
// HMAC-SHA256/384/512 only. Secrets are held as Buffers here and never logged or put in errors.
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { normalizeName } from "../records/name.ts";
import { RCODE, TYPE } from "./constants.ts";
import { skipName } from "./query.ts";

const TYPE_TSIG = TYPE.TSIG;
const CLASS_ANY = 255;
/** RFC 8945 §5.2: rcode of a reply to a request whose TSIG failed. */
export const RCODE_NOTAUTH = RCODE.NOTAUTH;
/** TSIG error codes (RFC 8945 §3). */
export const TSIG_ERROR = { NONE: 0, BADSIG: 16, BADKEY: 17, BADTIME: 18, BADTRUNC: 22 } as const;
/** Seconds of clock skew accepted (and announced in what we sign): the RFC 8945 §10 recommendation. */
export const DEFAULT_FUDGE = 300;

export const ALGORITHMS = { "hmac-sha256": "sha256", "hmac-sha384": "sha384", "hmac-sha512": "sha512" } as const;
export type Algorithm = keyof typeof ALGORITHMS;

export interface TsigKey {
  /** Lowercase, no trailing dot. */
  name: string;
  algorithm: Algorithm;
  secret: Buffer;
}

/** Keys by name. toString/JSON never show a secret. */
export class TsigKeyring {
  private readonly keys = new Map<string, TsigKey>();

  constructor(keys: readonly TsigKey[] = []) {
    for (const key of keys) this.keys.set(normalizeName(key.name), { ...key, name: normalizeName(key.name) });
  }

  get(name: string): TsigKey | undefined {
    return this.keys.get(normalizeName(name));
  }

  get size(): number {
    return this.keys.size;
  }

  toJSON(): string[] {
    return [...this.keys.keys()];
  }
}

/**
 * A key whose secret (base64, as `tsig-keygen`/`keymgr` print it) is in a file (a mounted Secret).
 * The error names the key and the file, never the content.
 */
export function loadKey(name: string, algorithm: Algorithm, secretFile: string): TsigKey {
  let text: string;
  try {
    text = readFileSync(secretFile, "utf8").trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "read error";
    throw new Error(`TSIG key ${name}: secret file ${secretFile} cannot be read (${code})`);
  }
  if (!/^[A-Za-z0-9+/]+=*$/.test(text)) throw new Error(`TSIG key ${name}: ${secretFile} must hold one base64 secret`);
  const secret = Buffer.from(text, "base64");
  if (secret.length < 16) throw new Error(`TSIG key ${name}: the secret in ${secretFile} is shorter than 16 bytes`);
  return { name: normalizeName(name), algorithm, secret };
}

/** The parsed TSIG record at the end of a message. */
export interface TsigRecord {
  /** Offset of the TSIG record in the message (the message without it ends here). */
  start: number;
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
}

/** Reads a possibly compressed name (pointers followed, backwards only), lowercase dotted; undefined if bad. */
function readName(packet: Buffer, start: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let offset = start;
  let end = -1;
  let hops = 0;
  let octets = 0;
  while (offset < packet.length) {
    const length = packet[offset]!;
    if (length === 0) return { name: labels.join(".").toLowerCase(), end: end === -1 ? offset + 1 : end };
    if ((length & 0xc0) === 0xc0) {
      if (offset + 2 > packet.length || ++hops > 32) return undefined;
      const target = ((length & 0x3f) << 8) | packet[offset + 1]!;
      if (target >= offset) return undefined;
      if (end === -1) end = offset + 2;
      offset = target;
      continue;
    }
    if (length > 63 || offset + 1 + length > packet.length) return undefined;
    octets += length + 1;
    if (octets > 255) return undefined;
    labels.push(packet.toString("latin1", offset + 1, offset + 1 + length));
    offset += length + 1;
  }
  return undefined;
}

/** The TSIG record starting at `start`, which must end the packet; undefined when malformed. */
export function parseTsig(packet: Buffer, start: number): TsigRecord | undefined {
  const owner = readName(packet, start);
  if (owner === undefined || owner.end + 10 > packet.length) return undefined;
  let offset = owner.end;
  if (packet.readUInt16BE(offset) !== TYPE_TSIG || packet.readUInt16BE(offset + 2) !== CLASS_ANY) return undefined;
  if (packet.readUInt32BE(offset + 4) !== 0) return undefined;
  const rdlength = packet.readUInt16BE(offset + 8);
  offset += 10;
  const rdataEnd = offset + rdlength;
  if (rdataEnd !== packet.length) return undefined;
  const algorithm = readName(packet, offset);
  if (algorithm === undefined || algorithm.end + 10 > rdataEnd) return undefined;
  offset = algorithm.end;
  const timeSigned = packet.readUIntBE(offset, 6);
  const fudge = packet.readUInt16BE(offset + 6);
  const macSize = packet.readUInt16BE(offset + 8);
  offset += 10;
  if (offset + macSize + 6 > rdataEnd) return undefined;
  const mac = packet.subarray(offset, offset + macSize);
  offset += macSize;
  const originalId = packet.readUInt16BE(offset);
  const error = packet.readUInt16BE(offset + 2);
  const otherLength = packet.readUInt16BE(offset + 4);
  offset += 6;
  if (offset + otherLength !== rdataEnd) return undefined;
  return {
    start,
    keyName: owner.name,
    algorithm: algorithm.name,
    timeSigned,
    fudge,
    mac: Buffer.from(mac),
    originalId,
    error,
    other: Buffer.from(packet.subarray(offset, rdataEnd)),
  };
}

/** Offset of the last additional record when it is a TSIG record, else undefined. */
export function findTsig(packet: Buffer): number | undefined {
  if (packet.length < 12) return undefined;
  const counts = [4, 6, 8, 10].map((at) => packet.readUInt16BE(at));
  const arcount = counts[3]!;
  if (arcount === 0) return undefined;
  let offset = 12;
  for (let i = 0; i < counts[0]!; i++) {
    const end = skipName(packet, offset);
    if (end < 0) return undefined;
    offset = end + 4;
  }
  const records = counts[1]! + counts[2]! + arcount;
  for (let i = 0; i < records - 1; i++) {
    const end = skipName(packet, offset);
    if (end < 0 || end + 10 > packet.length) return undefined;
    offset = end + 10 + packet.readUInt16BE(end + 8);
  }
  const end = skipName(packet, offset);
  if (end < 0 || end + 10 > packet.length) return undefined;
  return packet.readUInt16BE(end) === TYPE_TSIG ? offset : undefined;
}

/** A name in canonical wire form (lowercase, uncompressed). */
function wireName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of normalizeName(name).split(".")) {
    if (label === "") continue;
    parts.push(Buffer.from([label.length]), Buffer.from(label, "latin1"));
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function u16(value: number): Buffer {
  const out = Buffer.allocUnsafe(2);
  out.writeUInt16BE(value & 0xffff, 0);
  return out;
}

function u48(value: number): Buffer {
  const out = Buffer.allocUnsafe(6);
  out.writeUIntBE(Math.max(0, Math.floor(value)), 0, 6);
  return out;
}

/** The message a MAC covers: without its TSIG record, the additional count one less, the original ID. */
function unsignedPart(packet: Buffer, tsig: TsigRecord): Buffer {
  const body = Buffer.from(packet.subarray(0, tsig.start));
  body.writeUInt16BE(tsig.originalId, 0);
  body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
  return body;
}

interface Variables {
  timeSigned: number;
  fudge: number;
  error: number;
  other: Buffer;
}

/** RFC 8945 §4.3.3 TSIG variables (or, for later messages of a stream, the timers only). */
function variables(key: TsigKey, values: Variables, timersOnly: boolean): Buffer {
  const timers = Buffer.concat([u48(values.timeSigned), u16(values.fudge)]);
  if (timersOnly) return timers;
  return Buffer.concat([
    wireName(key.name),
    u16(CLASS_ANY),
    Buffer.alloc(4),
    wireName(key.algorithm),
    timers,
    u16(values.error),
    u16(values.other.length),
    values.other,
  ]);
}

function hmac(key: TsigKey, parts: readonly Buffer[]): Buffer {
  const h = createHmac(ALGORITHMS[key.algorithm], key.secret);
  for (const part of parts) h.update(part);
  return h.digest();
}

function withLength(mac: Buffer): Buffer {
  return Buffer.concat([u16(mac.length), mac]);
}

/** The TSIG record bytes appended to a message. */
function tsigRecord(key: TsigKey, values: Variables, mac: Buffer, originalId: number): Buffer {
  const rdata = Buffer.concat([
    wireName(key.algorithm),
    u48(values.timeSigned),
    u16(values.fudge),
    withLength(mac),
    u16(originalId),
    u16(values.error),
    u16(values.other.length),
    values.other,
  ]);
  return Buffer.concat([wireName(key.name), u16(TYPE_TSIG), u16(CLASS_ANY), Buffer.alloc(4), u16(rdata.length), rdata]);
}

function appendRecord(message: Buffer, record: Buffer): Buffer {
  const out = Buffer.concat([message, record]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

/** How a signed request checked out. */
export type Verified =
  | { ok: true; key: TsigKey; tsig: TsigRecord }
  /** FORMERR: the TSIG record is malformed or the MAC absurdly short (RFC 8945 §5.2.2.1). */
  | { ok: false; error: "formerr" }
  /** NOTAUTH with this TSIG error; `key` set when replies must still be signed (BADTIME, BADTRUNC). */
  | { ok: false; error: number; tsig: TsigRecord; key: TsigKey | undefined };

/**
 * Checks a request's TSIG (RFC 8945 §5.2): known key and algorithm (else BADKEY), MAC length (too
 * short for the algorithm: FORMERR; truncated at all: BADTRUNC, our policy), MAC (BADSIG), then
 * time within fudge (BADTIME). `now` in seconds.
 */
export function verifyRequest(packet: Buffer, start: number, keys: TsigKeyring, now: number): Verified {
  const tsig = parseTsig(packet, start);
  if (tsig === undefined) return { ok: false, error: "formerr" };
  return verifyMessage(packet, tsig, keys, now, undefined);
}

function verifyMessage(
  packet: Buffer,
  tsig: TsigRecord,
  keys: TsigKeyring,
  now: number,
  requestMac: Buffer | undefined,
): Verified {
  const key = keys.get(tsig.keyName);
  if (key === undefined || key.algorithm !== tsig.algorithm) {
    return { ok: false, error: TSIG_ERROR.BADKEY, tsig, key: undefined };
  }
  const full = hmac(key, []).length;
  if (tsig.mac.length < Math.max(10, full / 2) || tsig.mac.length > full) return { ok: false, error: "formerr" };
  const parts = [unsignedPart(packet, tsig), variables(key, tsig, false)];
  if (requestMac !== undefined) parts.unshift(withLength(requestMac));
  const expected = hmac(key, parts).subarray(0, tsig.mac.length);
  if (!timingSafeEqual(expected, tsig.mac)) return { ok: false, error: TSIG_ERROR.BADSIG, tsig, key: undefined };
  if (tsig.mac.length < full) return { ok: false, error: TSIG_ERROR.BADTRUNC, tsig, key };
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge) return { ok: false, error: TSIG_ERROR.BADTIME, tsig, key };
  return { ok: true, key, tsig };
}

/**
 * Verifies a signed reply to a request we signed with `requestMac` (a NOTIFY acknowledgement).
 * True only for a good MAC within the time window; an unsigned or otherwise failed reply is false.
 */
export function verifyReply(packet: Buffer, key: TsigKey, requestMac: Buffer, now: number): boolean {
  const start = findTsig(packet);
  if (start === undefined) return false;
  const tsig = parseTsig(packet, start);
  if (tsig === undefined || tsig.error !== TSIG_ERROR.NONE) return false;
  return verifyMessage(packet, tsig, new TsigKeyring([key]), now, requestMac).ok;
}

/** Signs a request (a NOTIFY we send); returns the signed message and its MAC (to check the reply with). */
export function signRequest(message: Buffer, key: TsigKey, now: number): { bytes: Buffer; mac: Buffer } {
  const values: Variables = { timeSigned: now, fudge: DEFAULT_FUDGE, error: 0, other: Buffer.alloc(0) };
  const mac = hmac(key, [message, variables(key, values, false)]);
  return { bytes: appendRecord(message, tsigRecord(key, values, mac, message.readUInt16BE(0))), mac };
}

/**
 * Signs the replies to one verified request: the first (or only) message with the request MAC and
 * all variables, each later one chained on the previous MAC with the timers only (RFC 8945 §5.3.1).
 */
export class ReplySigner {
  private previous: Buffer;
  private first = true;
  private readonly originalId: number;
  private readonly key: TsigKey;
  private readonly now: () => number;
  private readonly error: number;

  constructor(key: TsigKey, request: TsigRecord, now: () => number, error = 0) {
    this.key = key;
    this.now = now;
    this.error = error;
    this.previous = request.mac;
    this.originalId = request.originalId;
  }

  sign(message: Buffer): Buffer {
    const timeSigned = this.now();
    // BADTIME replies carry our time (RFC 8945 §5.2.3).
    const other = this.error === TSIG_ERROR.BADTIME ? u48(timeSigned) : Buffer.alloc(0);
    const values: Variables = { timeSigned, fudge: DEFAULT_FUDGE, error: this.error, other };
    const mac = hmac(this.key, [withLength(this.previous), message, variables(this.key, values, !this.first)]);
    this.first = false;
    this.previous = mac;
    return appendRecord(message, tsigRecord(this.key, values, mac, this.originalId));
  }
}

/** Room a TSIG record of this key takes in a reply (owner, fixed fields, algorithm, MAC, other data). */
export function tsigSize(key: TsigKey): number {
  return wireName(key.name).length + 10 + wireName(key.algorithm).length + 16 + hmac(key, []).length + 6;
}

/**
 * The unsigned TSIG of a NOTAUTH reply for BADKEY/BADSIG (RFC 8945 §5.3.2): the request's key and
 * algorithm names and time, no MAC.
 */
export function unsignedError(message: Buffer, request: TsigRecord, error: number): Buffer {
  const rdata = Buffer.concat([
    wireName(request.algorithm),
    u48(request.timeSigned),
    u16(request.fudge),
    u16(0),
    u16(request.originalId),
    u16(error),
    u16(0),
  ]);
  const record = Buffer.concat([
    wireName(request.keyName),
    u16(TYPE_TSIG),
    u16(CLASS_ANY),
    Buffer.alloc(4),
    u16(rdata.length),
    rdata,
  ]);
  return appendRecord(message, record);
}
