// The response encoder of the serving path: writes into one reusable scratch buffer, compresses
// names (RFC 1035 §4.1.4) and truncates by whole RRsets. Byte-for-byte the same output as the
// dns2-based encoder (dns2-codec.ts); a differential test holds the two together.
import ipaddr from "ipaddr.js";
import { OPT_RECORD_SIZE, TYPE } from "./constants.ts";
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
  const reserve = response.edns === undefined ? 0 : OPT_RECORD_SIZE;
  const counts = [0, 0, 0];
  let truncated = false;
  const sections = [response.answer, response.authority];
  for (let section = 0; section < 2 && !truncated; section++) {
    for (const set of rrsets(sections[section] ?? [])) {
      const mark = writer.pos;
      for (const record of set) writeRecord(writer, record);
      if (writer.pos + reserve > limit) {
        writer.pos = mark;
        truncated = true;
        break;
      }
      counts[section]! += set.length;
    }
  }
  if (!truncated) {
    for (const set of rrsets(response.additional)) {
      const mark = writer.pos;
      for (const record of set) writeRecord(writer, record);
      if (writer.pos + reserve > limit) {
        // Additional data is optional (RFC 2181 §9): leave the rest out without setting TC.
        writer.pos = mark;
        break;
      }
      counts[2]! += set.length;
    }
  }
  if (response.edns !== undefined) {
    writer.u8(0);
    writer.u16(TYPE.OPT);
    writer.u16(response.edns.payloadSize);
    writer.u32(optTtl(response.rcode, response.edns.dnssecOk));
    writer.u16(0);
    counts[2]!++;
  }
  const end = writer.pos;
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

/** OPT TTL: extended rcode (high 8 bits of 12), version 0, DO echoed (RFC 3225). */
export function optTtl(rcode: number, dnssecOk: boolean): number {
  return (((rcode >> 4) & 0xff) << 24) | (dnssecOk ? 0x8000 : 0);
}

function rememberQuestionSuffixes(writer: Writer, labels: readonly string[]): void {
  let offset = QNAME_OFFSET;
  for (let i = 0; i < labels.length; i++) {
    if (offset >= POINTER_LIMIT) return;
    const suffix = labels.slice(i).join(".").toLowerCase();
    if (!writer.names.has(suffix)) writer.names.set(suffix, offset);
    offset += labels[i]!.length + 1;
  }
}

function writeRecord(writer: Writer, record: ResourceRecord): void {
  if (writer.pos + sizeBound(record) > scratch.length) {
    // Cannot fit even in a TCP message: mark the overflow so the caller rolls the RRset back.
    writer.pos = scratch.length;
    return;
  }
  writer.name(record.name, true);
  writer.u16(record.data.type);
  writer.u16(1);
  writer.u32(clampTtl(record.ttl));
  const lengthAt = writer.pos;
  writer.u16(0);
  writeRdata(writer, record.data);
  scratch.writeUInt16BE(writer.pos - lengthAt - 2, lengthAt);
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
