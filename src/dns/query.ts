// Parsing of incoming queries, by hand and without throwing: every length is checked against the
// packet before it is read. The common shape (one question, optional OPT) allocates nothing but
// the result object; names are turned into strings only when an answer must be computed.

import { CLIENT_COOKIE_SIZE, EDNS_OPTION, OPCODE_QUERY, TYPE } from "./constants.ts";

/** The EDNS options of a query that change the reply. */
export interface EdnsOptions {
  /** The query asked for our NSID (RFC 5001). */
  nsid?: boolean;
  /** RFC 7873 cookies (views into the packet); "malformed" for a COOKIE option of a bad length. */
  cookie?: { client: Buffer; server: Buffer | undefined } | "malformed";
  /** RFC 7871 EDNS Client Subnet; "malformed" when it breaks §6 (FORMERR). */
  clientSubnet?: ClientSubnet | "malformed";
}

/** An EDNS Client Subnet option as sent (RFC 7871 §6). */
export interface ClientSubnet {
  /** 1: IPv4, 2: IPv6. */
  family: 1 | 2;
  sourcePrefix: number;
  scopePrefix: number;
  /** The address, padded with zeros to 4 or 16 bytes. */
  address: Uint8Array;
}

export interface Edns extends EdnsOptions {
  /** Requestor's UDP payload size as sent (may be below 512). */
  payloadSize: number;
  version: number;
  dnssecOk: boolean;
}

export interface Query {
  /** The whole packet; the question name is at `QNAME_OFFSET` up to `qnameEnd`. */
  packet: Buffer;
  id: number;
  opcode: number;
  recursionDesired: boolean;
  checkingDisabled: boolean;
  /** Offset just past the question name's terminating zero byte. */
  qnameEnd: number;
  qtype: number;
  qclass: number;
  edns: Edns | undefined;
  /** Offset of the TSIG record (RFC 8945), when the query is signed: always the last record. */
  tsig?: number;
}

/** What to do with a packet that is not a query we can answer. */
export interface Rejected {
  /** "drop": no usable header, or a response; "formerr"/"notimp": answer with that rcode. */
  action: "drop" | "formerr" | "notimp";
  reason: string;
  /** Present for formerr/notimp: enough to build the reply header. */
  id: number;
  opcode: number;
  recursionDesired: boolean;
  checkingDisabled: boolean;
  /** The question, when it parsed, so the reply can echo it. */
  question: { qnameEnd: number; qtype: number; qclass: number } | undefined;
  /** The query's OPT, when it had a valid one: the reply then carries OPT too (RFC 6891 §7). */
  edns: Edns | undefined;
}

export type ParseResult = { ok: true; query: Query } | { ok: false; rejected: Rejected };

export const HEADER_SIZE = 12;
export const QNAME_OFFSET = 12;
const MAX_NAME_OCTETS = 255;
/** The smallest possible resource record: root name, type, class, TTL, rdlength. */
const MIN_RR_SIZE = 11;

export function parseQuery(packet: Buffer): ParseResult {
  if (packet.length < HEADER_SIZE) return drop("shorter than a header");
  const flags = packet[2]!;
  const flags2 = packet[3]!;
  const id = (packet[0]! << 8) | packet[1]!;
  const opcode = (flags >> 3) & 0x0f;
  const recursionDesired = (flags & 0x01) !== 0;
  const checkingDisabled = (flags2 & 0x10) !== 0;
  if ((flags & 0x80) !== 0) return drop("QR set: a response, not a query");
  const qdcount = packet.readUInt16BE(4);
  const ancount = packet.readUInt16BE(6);
  const nscount = packet.readUInt16BE(8);
  const arcount = packet.readUInt16BE(10);
  let question: Rejected["question"];
  if (qdcount >= 1) {
    const qnameEnd = skipQuestionName(packet, QNAME_OFFSET);
    if (qnameEnd > 0 && qnameEnd + 4 <= packet.length) {
      question = { qnameEnd, qtype: packet.readUInt16BE(qnameEnd), qclass: packet.readUInt16BE(qnameEnd + 2) };
    }
  }
  // Walk to the additional section even for packets we reject, so that their reply can carry
  // an OPT when the query had a valid one (RFC 6891 §7).
  const records = readRecords(packet, qdcount, ancount, nscount, arcount);
  const edns = records.problem === undefined ? records.edns : undefined;
  const reject = (
    action: "formerr" | "notimp",
    reason: string,
    echo?: Rejected["question"],
    withEdns: Edns | undefined = edns,
  ): { ok: false; rejected: Rejected } => ({
    ok: false,
    rejected: { action, reason, id, opcode, recursionDesired, checkingDisabled, question: echo, edns: withEdns },
  });
  if (opcode !== OPCODE_QUERY) return reject("notimp", `opcode ${opcode} not implemented`, question);
  if (qdcount !== 1) return reject("formerr", `${qdcount} questions`);
  if (question === undefined) return reject("formerr", "malformed question");
  if ((ancount + nscount + arcount) * MIN_RR_SIZE > packet.length - question.qnameEnd - 4) {
    return reject("formerr", "record counts exceed the packet", question);
  }
  if (records.problem !== undefined) return reject("formerr", records.problem, question);
  // RFC 7873 §5.2.2: a COOKIE option of a bad length is FORMERR (the reply still carries OPT).
  if (edns?.cookie === "malformed") return reject("formerr", "malformed COOKIE option", question, edns);
  if (edns?.clientSubnet === "malformed") {
    return reject("formerr", "malformed EDNS Client Subnet option", question, { ...edns, clientSubnet: undefined });
  }
  return {
    ok: true,
    query: {
      packet,
      id,
      opcode,
      recursionDesired,
      checkingDisabled,
      qnameEnd: question.qnameEnd,
      qtype: question.qtype,
      qclass: question.qclass,
      edns,
      ...(records.tsig === undefined ? {} : { tsig: records.tsig }),
    },
  };
}

/** The OPT record of the additional section, or the first reason the record sections do not parse. */
function readRecords(
  packet: Buffer,
  qdcount: number,
  ancount: number,
  nscount: number,
  arcount: number,
): { edns: Edns | undefined; problem: string | undefined; tsig?: number } {
  const fail = (problem: string) => ({ edns: undefined, problem });
  let offset = QNAME_OFFSET;
  for (let i = 0; i < qdcount; i++) {
    const nameEnd = skipName(packet, offset);
    if (nameEnd < 0 || nameEnd + 4 > packet.length) return fail("malformed question");
    offset = nameEnd + 4;
  }
  for (let i = 0; i < ancount + nscount; i++) {
    offset = skipRecord(packet, offset);
    if (offset < 0) return fail("malformed answer/authority record");
  }
  let edns: Edns | undefined;
  let tsig: number | undefined;
  for (let i = 0; i < arcount; i++) {
    const nameEnd = skipName(packet, offset);
    if (nameEnd < 0 || nameEnd + 10 > packet.length) return fail("malformed additional record");
    const type = packet.readUInt16BE(nameEnd);
    const rdlength = packet.readUInt16BE(nameEnd + 8);
    const end = nameEnd + 10 + rdlength;
    if (end > packet.length) return fail("record data runs past the packet");
    if (type === TYPE.TSIG) {
      if (i !== arcount - 1) return fail("TSIG is not the last record");
      tsig = offset;
    }
    if (type === TYPE.OPT) {
      if (edns !== undefined) return fail("more than one OPT record");
      if (nameEnd - offset !== 1) return fail("OPT owner is not the root");
      const options = readOptions(packet, nameEnd + 10, end);
      if (options === undefined) return fail("malformed EDNS options");
      edns = {
        payloadSize: packet.readUInt16BE(nameEnd + 2),
        version: packet[nameEnd + 5]!,
        dnssecOk: (packet[nameEnd + 6]! & 0x80) !== 0,
        ...options,
      };
    }
    offset = end;
  }
  return tsig === undefined ? { edns, problem: undefined } : { edns, problem: undefined, tsig };
}

function drop(reason: string): ParseResult {
  return {
    ok: false,
    rejected: {
      action: "drop",
      reason,
      id: 0,
      opcode: 0,
      recursionDesired: false,
      checkingDisabled: false,
      question: undefined,
      edns: undefined,
    },
  };
}

/** End offset of an uncompressed name (the question may not use pointers: nothing precedes it), or -1. */
function skipQuestionName(packet: Buffer, start: number): number {
  let offset = start;
  while (offset < packet.length) {
    const length = packet[offset]!;
    if (length === 0) return offset + 1 - start > MAX_NAME_OCTETS ? -1 : offset + 1;
    if (length > 63) return -1;
    offset += length + 1;
    if (offset - start >= MAX_NAME_OCTETS) return -1;
  }
  return -1;
}

/** End offset of a possibly compressed name in the record sections (pointers are not followed), or -1. */
export function skipName(packet: Buffer, start: number): number {
  let offset = start;
  while (offset < packet.length) {
    const length = packet[offset]!;
    if (length === 0) return offset + 1;
    if ((length & 0xc0) === 0xc0) {
      if (offset + 2 > packet.length) return -1;
      const target = ((length & 0x3f) << 8) | packet[offset + 1]!;
      return target < offset ? offset + 2 : -1;
    }
    if (length > 63) return -1;
    offset += length + 1;
    if (offset - start >= MAX_NAME_OCTETS) return -1;
  }
  return -1;
}

/** End offset of the record starting at `start` (names may use backward pointers), or -1. */
export function skipRecord(packet: Buffer, start: number): number {
  const nameEnd = skipName(packet, start);
  if (nameEnd < 0 || nameEnd + 10 > packet.length) return -1;
  const end = nameEnd + 10 + packet.readUInt16BE(nameEnd + 8);
  return end > packet.length ? -1 : end;
}

/** The options we act on (NSID, COOKIE), or undefined when the option list is not well formed. */
function readOptions(packet: Buffer, start: number, end: number): EdnsOptions | undefined {
  const found: EdnsOptions = {};
  let offset = start;
  while (offset < end) {
    if (offset + 4 > end) return undefined;
    const code = packet.readUInt16BE(offset);
    const length = packet.readUInt16BE(offset + 2);
    const data = offset + 4;
    offset = data + length;
    if (offset > end) return undefined;
    if (code === EDNS_OPTION.NSID) found.nsid = true;
    else if (code === EDNS_OPTION.CLIENT_SUBNET) {
      // RFC 7871 §7.1.1: more than one is FORMERR.
      found.clientSubnet = found.clientSubnet === undefined ? readClientSubnet(packet, data, length) : "malformed";
    } else if (code === EDNS_OPTION.COOKIE && found.cookie === undefined)
      found.cookie = readCookie(packet, data, length);
  }
  return found;
}

/**
 * RFC 7871 §6: FAMILY (1 or 2), SOURCE PREFIX-LENGTH within the family, SCOPE PREFIX-LENGTH, then exactly
 * ceil(source / 8) address bytes with no bit set past the source prefix; anything else is malformed (§7.1.1).
 */
function readClientSubnet(packet: Buffer, data: number, length: number): ClientSubnet | "malformed" {
  if (length < 4) return "malformed";
  const family = packet.readUInt16BE(data);
  if (family !== 1 && family !== 2) return "malformed";
  const sourcePrefix = packet[data + 2]!;
  const scopePrefix = packet[data + 3]!;
  const size = family === 1 ? 4 : 16;
  if (sourcePrefix > size * 8 || scopePrefix > size * 8) return "malformed";
  const bytes = length - 4;
  if (bytes !== Math.ceil(sourcePrefix / 8)) return "malformed";
  const address = new Uint8Array(size);
  address.set(packet.subarray(data + 4, data + 4 + bytes));
  const spare = bytes * 8 - sourcePrefix;
  if (spare > 0 && (address[bytes - 1]! & ((1 << spare) - 1)) !== 0) return "malformed";
  return { family, sourcePrefix, scopePrefix, address };
}

/** RFC 7873 §4: an 8-byte client cookie, optionally followed by an 8 to 32-byte server cookie. */
function readCookie(packet: Buffer, data: number, length: number): EdnsOptions["cookie"] {
  if (length === CLIENT_COOKIE_SIZE) return { client: packet.subarray(data, data + length), server: undefined };
  if (length < CLIENT_COOKIE_SIZE + 8 || length > CLIENT_COOKIE_SIZE + 32) return "malformed";
  return {
    client: packet.subarray(data, data + CLIENT_COOKIE_SIZE),
    server: packet.subarray(data + CLIENT_COOKIE_SIZE, data + length),
  };
}

/** The question name's labels as sent (latin1, one char per octet). */
export function questionLabels(packet: Buffer, qnameEnd: number): string[] {
  const labels: string[] = [];
  let offset = QNAME_OFFSET;
  while (offset < qnameEnd - 1) {
    const length = packet[offset]!;
    labels.push(packet.toString("latin1", offset + 1, offset + 1 + length));
    offset += length + 1;
  }
  return labels;
}

const PLAIN_LABEL = /^[A-Za-z0-9_*-]+$/;

/** ASCII-only lowercasing, as DNS compares names (RFC 4343). */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

/**
 * The lowercase dotted name to look up, or undefined when a label holds octets no stored name can
 * have (dots, spaces, binary): such a name cannot exist in the index and must not alias one that does.
 */
export function lookupNameOf(labels: readonly string[]): string | undefined {
  for (const label of labels) if (!PLAIN_LABEL.test(label)) return undefined;
  return asciiLower(labels.join("."));
}
