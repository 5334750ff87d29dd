// A transfer's records split into DNS messages of at most 64 KiB (RFC 5936 §2.2): the question in
// the first one only, names compressed within each message, RRsets split across messages only when
// one does not fit in a message by itself. Each message is signed when the request was.
import { TCP_LIMIT, TYPE } from "../dns/constants.ts";
import { encodeResponse } from "../dns/encode.ts";
import type { DnsResponse, ReplyTo, ResourceRecord } from "../dns/message.ts";

const TC_BIT = 0x02;

/** A rough size of a record with names uncompressed (compression makes it smaller). */
function estimate(record: ResourceRecord): number {
  const data = record.data;
  let rdata: number;
  switch (data.type) {
    case TYPE.A:
      rdata = 4;
      break;
    case TYPE.AAAA:
      rdata = 16;
      break;
    case TYPE.TXT:
      rdata = data.strings.reduce((sum, text) => sum + text.length + 1, 0);
      break;
    case TYPE.SOA:
      rdata = data.mname.length + data.rname.length + 24;
      break;
    case TYPE.MX:
      rdata = data.exchange.length + 4;
      break;
    case TYPE.SRV:
      rdata = data.target.length + 8;
      break;
    case TYPE.HINFO:
      rdata = data.cpu.length + data.os.length + 2;
      break;
    default:
      rdata = data.target.length + 2;
  }
  return record.name.length + 12 + rdata;
}

/**
 * The messages carrying `records` in order. `reserve`: bytes left free in each (the TSIG record).
 * Lazily produced, so a slow reader holds at most one message beyond what the socket buffers.
 */
export function* transferMessages(
  reply: ReplyTo,
  records: Iterable<ResourceRecord>,
  reserve: number,
  rcode = 0,
): Generator<Buffer> {
  const limit = TCP_LIMIT - reserve;
  let pending: ResourceRecord[] = [];
  let pendingSize = 0;
  let first = true;
  const encode = (chunk: ResourceRecord[]): { bytes: Buffer; written: number } => {
    const response: DnsResponse = {
      rcode,
      authoritative: true,
      echoQuestion: first,
      answer: chunk,
      authority: [],
      additional: [],
      edns: undefined,
    };
    const encoded = encodeResponse(reply, response, limit);
    // A message cut short here is continued in the next one: never TC (RFC 5936 §2.2).
    encoded.bytes[2] = encoded.bytes[2]! & ~TC_BIT;
    return { bytes: encoded.bytes, written: encoded.truncated ? encoded.bytes.readUInt16BE(6) : chunk.length };
  };
  /** Sends messages until at most a message's worth is pending (`all`: until nothing is). */
  function* flush(all: boolean): Generator<Buffer> {
    while (pending.length > 0 && (all || pendingSize > limit)) {
      let take = pending.length;
      let result = encode(pending);
      // One RRset bigger than a message: send part of it.
      while (result.written === 0 && take > 1) {
        take = Math.ceil(take / 2);
        result = encode(pending.slice(0, take));
      }
      if (result.written === 0) throw new Error(`record at ${pending[0]?.name} does not fit in a message`);
      first = false;
      yield result.bytes;
      pending = pending.slice(result.written);
      pendingSize = pending.reduce((sum, record) => sum + estimate(record), 0);
    }
  }
  for (const record of records) {
    pending.push(record);
    pendingSize += estimate(record);
    // Compression roughly halves the size: collect up to twice the limit, then let the encoder cut.
    if (pendingSize > 2 * limit) yield* flush(false);
  }
  yield* flush(true);
  if (first) yield encode([]).bytes;
}
