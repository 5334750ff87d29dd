// EDNS options in replies (RFC 6891 §6.1.2): the option TLVs we write and the step that adds the
// per-query ones (NSID, COOKIE) to an encoded reply. Replies are encoded, and cached, without the
// per-query options, their OPT record last; the options are appended to that OPT afterwards, on a
// fresh reply and on a cached one alike, so a cached reply never carries another client's cookie
// or an NSID nobody asked for. The encoder leaves room for them (the size limit is reduced by
// their length), so appending never pushes a reply past its limit.
import { EDNS_OPTION, TYPE } from "./constants.ts";
import { skipRecord } from "./query.ts";

const OPTION_HEADER = 4;

/** One option: code, length, data. */
export function option(code: number, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(OPTION_HEADER + data.length);
  out.writeUInt16BE(code, 0);
  out.writeUInt16BE(data.length, 2);
  data.copy(out, OPTION_HEADER);
  return out;
}

/** RFC 8914 §2: info-code, then UTF-8 text (may be empty). */
export function extendedErrorOption(error: { code: number; text: string }): Buffer {
  const text = Buffer.from(error.text, "utf8");
  const data = Buffer.allocUnsafe(2 + text.length);
  data.writeUInt16BE(error.code & 0xffff, 0);
  text.copy(data, 2);
  return option(EDNS_OPTION.EXTENDED_ERROR, data);
}

/**
 * The reply with `options` added to its OPT record, which must be its last record (our encoders
 * always write it last). Returns the reply unchanged when there is nothing to add or no OPT.
 */
export function appendOptions(reply: Buffer, options: Buffer): Buffer {
  if (options.length === 0 || reply.length < 12) return reply;
  const records = reply.readUInt16BE(6) + reply.readUInt16BE(8) + reply.readUInt16BE(10);
  if (records === 0) return reply;
  let offset = 12;
  if (reply.readUInt16BE(4) === 1) {
    offset = skipQuestion(reply, offset);
    if (offset < 0) return reply;
  }
  for (let i = 0; i < records - 1 && offset >= 0; i++) offset = skipRecord(reply, offset);
  // The last record: the root name (one zero byte), then type OPT.
  if (offset < 0 || offset + 11 > reply.length || reply[offset] !== 0) return reply;
  if (reply.readUInt16BE(offset + 1) !== TYPE.OPT) return reply;
  const lengthAt = offset + 9;
  const rdlength = reply.readUInt16BE(lengthAt);
  if (lengthAt + 2 + rdlength !== reply.length || rdlength + options.length > 0xffff) return reply;
  const out = Buffer.allocUnsafe(reply.length + options.length);
  reply.copy(out);
  options.copy(out, reply.length);
  out.writeUInt16BE(rdlength + options.length, lengthAt);
  return out;
}

function skipQuestion(reply: Buffer, start: number): number {
  let offset = start;
  while (offset < reply.length) {
    const length = reply[offset]!;
    if (length === 0) return offset + 5 <= reply.length ? offset + 5 : -1;
    if (length > 63) return -1;
    offset += length + 1;
  }
  return -1;
}
