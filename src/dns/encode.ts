// The response encoder of the serving path: writes into one reusable scratch buffer, compresses
// names (RFC 1035 §4.1.4) and truncates by whole RRsets. Byte-for-byte the same output as the
// dns2-based encoder (dns2-codec.ts); a differential test holds the two together.
import ipaddr from "ipaddr.js";
import { logger } from "../obs/log.ts";
import { OPT_RECORD_SIZE, TYPE } from "./constants.ts";
import { extendedErrorOption } from "./edns.ts";
import { type DnsResponse, type Rdata, type ReplyTo, type ResourceRecord, rrsets } from "./message.ts";
import { QNAME_OFFSET } from "./query.ts";

export interface Encoded {
  bytes: Buffer;
  truncated: boolean;
}

/** Compression pointers address only the first 16 KiB of a message. */
const POINTER_LIMIT = 0x4000;
const MAX_MESSAGE = 65535;
/** Room for the biggest single record past the limit before we notice the overflow and roll back. */
const SCRATCH_SLACK = 65535 + 1024;

const scratch = Buffer.allocUnsafe(MAX_MESSAGE + SCRATCH_SLACK);

class Writer {
  pos = 0;
  readonly names = new Map<string, number>();

  u8(value: number): void {
    scratch[this.pos++] = value & 0xff;
  }

  u16(value: number): void {
    scratch.writeUInt16BE(value & 0xffff, this.pos);
    this.pos += 2;
  }

  u32(value: number): void {
    scratch.writeUInt32BE(value >>> 0, this.pos);
    this.pos += 4;
  }

  bytes(source: Buffer): void {
    source.copy(scratch, this.pos);
    this.pos += source.length;
  }

  /** A lowercase dotted name; suffixes already written become pointers, new ones are remembered. */
  name(name: string, compress: boolean): void {
    // Last line of defence: writeRecord checks every record first, so this never throws on served data.
    if (!fitsWire(name)) throw new Error(`name cannot be encoded: ${JSON.stringify(name.slice(0, 80))}`);
    let start = 0;
    while (start < name.length) {
      let end = name.indexOf(".", start);
      if (end === -1) end = name.length;
      if (end === start) {
        start++;
        continue;
      }
      if (compress) {
        const suffix = start === 0 ? name : name.slice(start);
        const pointer = this.names.get(suffix);
        if (pointer !== undefined) {
          this.u16(0xc000 | pointer);
          return;
        }
        if (this.pos < POINTER_LIMIT) this.names.set(suffix, this.pos);
      }
      this.u8(end - start);
      this.pos += scratch.write(name.slice(start, end), this.pos, "latin1");
      start = end + 1;
    }
    this.u8(0);
  }
}

export function encodeResponse(reply: ReplyTo, response: DnsResponse, limit: number): Encoded {
  const writer = new Writer();
  const withQuestion = response.echoQuestion && reply.questionWire !== undefined;
  writer.pos = 12;
  if (withQuestion && reply.questionWire !== undefined) {
    writer.bytes(reply.questionWire);
    if (reply.questionPlain) rememberQuestionSuffixes(writer, reply.questionLabels);
  }
  const optData = optionData(response);
  const reserve = response.edns === undefined ? 0 : OPT_RECORD_SIZE + optData.length;
  const counts = [0, 0, 0];
  let truncated = false;
  const sections = [response.answer, response.authority];
  for (let section = 0; section < 2 && !truncated; section++) {
    for (const set of rrsets(sections[section] ?? [])) {
      const mark = writer.pos;
      let written = 0;
      for (const record of set) if (writeRecord(writer, record)) written++;
      if (writer.pos + reserve > limit) {
        writer.pos = mark;
        truncated = true;
        break;
      }
      counts[section]! += written;
    }
  }
  if (!truncated) {
    for (const set of rrsets(response.additional)) {
      const mark = writer.pos;
      let written = 0;
      for (const record of set) if (writeRecord(writer, record)) written++;
      if (writer.pos + reserve > limit) {
        // Additional data is optional (RFC 2181 §9): leave the rest out without setting TC.
        writer.pos = mark;
        break;
      }
      counts[2]! += written;
    }
  }
  if (response.edns !== undefined) {
    writer.u8(0);
    writer.u16(TYPE.OPT);
    writer.u16(response.edns.payloadSize);
    writer.u32(optTtl(response.rcode, response.edns.dnssecOk));
    writer.u16(optData.length);
    writer.bytes(optData);
    counts[2]!++;
  }
  const end = writer.pos;
  // TC also when the answer was cut short before encoding (the server's work budget).
  truncated ||= response.truncated === true;
  writer.pos = 0;
  writer.u16(reply.id);
  writer.u8(headerFlags(reply, response, truncated));
  writer.u8((reply.checkingDisabled ? 0x10 : 0) | (response.rcode & 0x0f));
  writer.u16(withQuestion ? 1 : 0);
  writer.u16(counts[0]!);
  writer.u16(counts[1]!);
  writer.u16(counts[2]!);
  const bytes = Buffer.allocUnsafe(end);
  scratch.copy(bytes, 0, 0, end);
  return { bytes, truncated };
}

export function headerFlags(reply: ReplyTo, response: DnsResponse, truncated: boolean): number {
  return (
    0x80 |
    ((reply.opcode & 0x0f) << 3) |
    (response.authoritative ? 0x04 : 0) |
    (truncated ? 0x02 : 0) |
    (reply.recursionDesired ? 0x01 : 0)
  );
}

/** The OPT rdata a response itself carries (its Extended DNS Error); per-query options come later (edns.ts). */
export function optionData(response: DnsResponse): Buffer {
  if (response.edns === undefined || response.extendedError === undefined) return NO_OPTIONS;
  return extendedErrorOption(response.extendedError);
}

const NO_OPTIONS = Buffer.alloc(0);

/** OPT TTL: extended rcode (high 8 bits of 12), version 0, DO echoed (RFC 3225). */
export function optTtl(rcode: number, dnssecOk: boolean): number {
  return (((rcode >> 4) & 0xff) << 24) | (dnssecOk ? 0x8000 : 0);
}

/** Every suffix of the question name, at its offset in the question: one lowercased string, sliced (no join per suffix). */
function rememberQuestionSuffixes(writer: Writer, labels: readonly string[]): void {
  const name = labels.join(".").toLowerCase();
  let offset = QNAME_OFFSET;
  let start = 0;
  for (let i = 0; i < labels.length; i++) {
    if (offset >= POINTER_LIMIT) return;
    const suffix = start === 0 ? name : name.slice(start);
    if (!writer.names.has(suffix)) writer.names.set(suffix, offset);
    const length = labels[i]!.length;
    offset += length + 1;
    start += length + 1;
  }
}

/** Records left out of responses because they could not be encoded (a bug upstream: see recordFits). */
export const encoderStats = { droppedRecords: 0 };
const log = logger("dns");
let lastDropLog = 0;

/**
 * Writes one record; false when it was left out because a name or string in it cannot be encoded.
 * Such a record is dropped rather than the whole answer failed: the rest of the answer (other records
 * of the name, the SOA of a negative answer) stays good, and nothing malformed is ever sent.
 */
function writeRecord(writer: Writer, record: ResourceRecord): boolean {
  if (!recordFits(record)) {
    encoderStats.droppedRecords++;
    const now = Date.now();
    if (now - lastDropLog > 1000) {
      lastDropLog = now;
      log.error({ name: record.name.slice(0, 300), type: record.data.type }, "record cannot be encoded; left out");
    }
    return false;
  }
  if (writer.pos + sizeBound(record) > scratch.length) {
    // Cannot fit even in a TCP message: mark the overflow so the caller rolls the RRset back.
    writer.pos = scratch.length;
    return true;
  }
  writer.name(record.name, true);
  writer.u16(record.data.type);
  writer.u16(1);
  writer.u32(clampTtl(record.ttl));
  const lengthAt = writer.pos;
  writer.u16(0);
  writeRdata(writer, record.data);
  scratch.writeUInt16BE(writer.pos - lengthAt - 2, lengthAt);
  return true;
}

const MAX_LABEL = 63;
const MAX_WIRE_NAME = 255;
const MAX_STRING = 255;

/** Whether a dotted name can be written: labels of at most 63 octets, at most 255 octets in wire form. */
export function fitsWire(name: string): boolean {
  let label = 0;
  let wire = 1;
  for (let i = 0; i < name.length; i++) {
    if (name.charCodeAt(i) === 46) {
      if (label > 0) wire += label + 1;
      label = 0;
    } else if (++label > MAX_LABEL) {
      return false;
    }
  }
  if (label > 0) wire += label + 1;
  return wire <= MAX_WIRE_NAME;
}

/** Whether every name and character-string of a record can be written (checked before writing any of it). */
export function recordFits(record: ResourceRecord): boolean {
  if (!fitsWire(record.name)) return false;
  const data = record.data;
  switch (data.type) {
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR:
      return fitsWire(data.target);
    case TYPE.MX:
      return fitsWire(data.exchange);
    case TYPE.SRV:
      return fitsWire(data.target);
    case TYPE.SOA:
      return fitsWire(data.mname) && fitsWire(data.rname);
    case TYPE.TXT:
      return data.strings.every((text) => text.length <= MAX_STRING);
    case TYPE.HINFO:
      return data.cpu.length <= MAX_STRING && data.os.length <= MAX_STRING;
    default:
      return true;
  }
}

/** An upper bound of a record's encoded size (names uncompressed). */
function sizeBound(record: ResourceRecord): number {
  const data = record.data;
  let rdata = 0;
  switch (data.type) {
    case TYPE.TXT:
      for (const text of data.strings) rdata += text.length + 1;
      break;
    case TYPE.HINFO:
      rdata = data.cpu.length + data.os.length + 2;
      break;
    case TYPE.SOA:
      rdata = data.mname.length + data.rname.length + 4 + 20;
      break;
    default:
      rdata = 16 + 6 + 257;
  }
  return record.name.length + 2 + 10 + rdata;
}

export function clampTtl(ttl: number): number {
  return Math.min(ttl >>> 0, 0x7fffffff);
}

function writeRdata(writer: Writer, data: Rdata): void {
  switch (data.type) {
    case TYPE.A:
      for (const part of data.address.split(".")) writer.u8(Number(part));
      return;
    case TYPE.AAAA:
      for (const byte of ipaddr.IPv6.parse(data.address).toByteArray()) writer.u8(byte);
      return;
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR:
      writer.name(data.target, true);
      return;
    case TYPE.MX:
      writer.u16(data.preference);
      writer.name(data.exchange, true);
      return;
    case TYPE.SRV:
      writer.u16(data.priority);
      writer.u16(data.weight);
      writer.u16(data.port);
      // RFC 2782: the target is never compressed.
      writer.name(data.target, false);
      return;
    case TYPE.TXT:
      for (const text of data.strings) {
        writer.u8(text.length);
        writer.bytes(text);
      }
      return;
    case TYPE.HINFO:
      for (const text of [data.cpu, data.os]) {
        writer.u8(text.length);
        writer.pos += scratch.write(text, writer.pos, "latin1");
      }
      return;
    case TYPE.SOA:
      writer.name(data.mname, true);
      writer.name(data.rname, true);
      writer.u32(data.serial);
      writer.u32(data.refresh);
      writer.u32(data.retry);
      writer.u32(data.expire);
      writer.u32(clampTtl(data.minimum));
      return;
  }
}
