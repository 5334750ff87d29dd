// The general-path encoder built on dns2's Packet writer (the project's codec of record). It is
// exact but slow (dns2 writes one array element per bit), so the server uses it only when
// configured with `codec: "dns2"`; encode.ts must produce the very same bytes (differential test).
//
// Where dns2 falls short of the SPEC, this wrapper complements it:
//  - SRV targets: dns2 compresses them, RFC 2782 forbids it, so SRV records are written field by field.
//  - HINFO has no dns2 encoder: its rdata is passed as raw bytes.
//  - Truncation: dns2 has none; whole RRsets are added while the message fits, as encode.ts does.
//  - OPT: dns2 encodes no EDNS option but Client Subnet, so the OPT record is written field by field.
//  - Questions with octets outside letters/digits/-/_/* would not survive dns2's dotted-string
//    names, so they are copied verbatim.
// dns2's parser is not used on the serving path at all: it silently drops records it cannot parse
// (so FORMERR cannot be detected) and reads names bit by bit; query.ts parses every query.
import { Packet } from "dns2";
import { TYPE } from "./constants.ts";
import { clampTtl, type Encoded, headerFlags, optionData, optTtl, recordFits } from "./encode.ts";
import { type DnsResponse, type ReplyTo, type ResourceRecord, rrsets } from "./message.ts";

/** The parts of dns2's BufferWriter this wrapper relies on (not in dns2's type declarations). */
interface Dns2Writer {
  names: Map<string, number> | undefined;
  write(value: number, bits: number): void;
  toBuffer(): Buffer;
}

type WriterArg = Parameters<typeof Packet.Name.encode>[1];
type ResourceArg = Parameters<typeof Packet.Resource.encode>[0];
type QuestionArg = Parameters<typeof Packet.Question.encode>[0];

interface Sections {
  answer: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

export function encodeWithDns2(reply: ReplyTo, response: DnsResponse, limit: number): Encoded {
  const chosen: Sections = { answer: [], authority: [], additional: [] };
  let truncated = false;
  for (const section of ["answer", "authority"] as const) {
    for (const set of rrsets(response[section].filter(recordFits))) {
      const trial = { ...chosen, [section]: [...chosen[section], ...set] };
      if (build(reply, response, trial, false).length > limit) {
        truncated = true;
        break;
      }
      chosen[section] = trial[section];
    }
    if (truncated) break;
  }
  if (!truncated) {
    for (const set of rrsets(response.additional.filter(recordFits))) {
      const trial = { ...chosen, additional: [...chosen.additional, ...set] };
      if (build(reply, response, trial, false).length > limit) break;
      chosen.additional = trial.additional;
    }
  }
  truncated ||= response.truncated === true;
  return { bytes: build(reply, response, chosen, truncated), truncated };
}

function build(reply: ReplyTo, response: DnsResponse, sections: Sections, truncated: boolean): Buffer {
  const writer = new Packet.Writer() as unknown as Dns2Writer;
  writer.names = new Map();
  const withQuestion = response.echoQuestion && reply.questionWire !== undefined;
  const flags = headerFlags(reply, response, truncated);
  const header = new Packet.Header({
    id: reply.id,
    qr: 1,
    opcode: reply.opcode,
    aa: flags & 0x04 ? 1 : 0,
    tc: truncated ? 1 : 0,
    rd: reply.recursionDesired ? 1 : 0,
    ra: 0,
    rcode: response.rcode & 0x0f,
    qdcount: withQuestion ? 1 : 0,
    ancount: sections.answer.length,
    nscount: sections.authority.length,
    arcount: sections.additional.length + (response.edns === undefined ? 0 : 1),
  });
  Object.assign(header, { ad: 0, cd: reply.checkingDisabled ? 1 : 0 });
  header.toBuffer(writer as unknown as WriterArg);
  if (withQuestion && reply.questionWire !== undefined) {
    if (reply.questionPlain) {
      Packet.Question.encode(
        { name: reply.questionLabels.join("."), type: reply.qtype, class: reply.qclass } as QuestionArg,
        writer as unknown as WriterArg,
      );
    } else {
      for (const byte of reply.questionWire) writer.write(byte, 8);
    }
  }
  for (const record of [...sections.answer, ...sections.authority, ...sections.additional]) {
    writeRecord(writer, record);
  }
  if (response.edns !== undefined) {
    // Written field by field: dns2 encodes no EDNS option but Client Subnet.
    const data = optionData(response);
    writer.write(0, 8);
    writer.write(TYPE.OPT, 16);
    writer.write(response.edns.payloadSize, 16);
    writer.write(optTtl(response.rcode, response.edns.dnssecOk), 32);
    writer.write(data.length, 16);
    for (const byte of data) writer.write(byte, 8);
  }
  return writer.toBuffer();
}

function writeRecord(writer: Dns2Writer, record: ResourceRecord): void {
  const base = { name: record.name, type: record.data.type, class: 1, ttl: record.ttl };
  const data = record.data;
  let resource: object;
  switch (data.type) {
    case TYPE.A:
    case TYPE.AAAA:
      resource = { ...base, address: data.address };
      break;
    case TYPE.CNAME:
    case TYPE.PTR:
      resource = { ...base, domain: data.target };
      break;
    case TYPE.NS:
      resource = { ...base, ns: data.target };
      break;
    case TYPE.MX:
      resource = { ...base, priority: data.preference, exchange: data.exchange };
      break;
    case TYPE.TXT:
      resource = { ...base, data: data.strings };
      break;
    case TYPE.HINFO:
      resource = { ...base, data: characterStrings([data.cpu, data.os]) };
      break;
    case TYPE.SOA:
      resource = {
        ...base,
        primary: data.mname,
        admin: data.rname,
        serial: data.serial,
        refresh: data.refresh,
        retry: data.retry,
        expiration: data.expire,
        minimum: data.minimum,
      };
      break;
    case TYPE.SRV: {
      Packet.Name.encode(record.name, writer as unknown as WriterArg);
      writer.write(TYPE.SRV, 16);
      writer.write(1, 16);
      writer.write(clampTtl(record.ttl), 32);
      writer.write(6 + uncompressedLength(data.target), 16);
      writer.write(data.priority, 16);
      writer.write(data.weight, 16);
      writer.write(data.port, 16);
      const names = writer.names;
      writer.names = undefined;
      Packet.Name.encode(data.target, writer as unknown as WriterArg);
      writer.names = names;
      return;
    }
  }
  Packet.Resource.encode(resource as ResourceArg, writer as unknown as WriterArg);
}

function uncompressedLength(name: string): number {
  let length = 1;
  for (const label of name.split(".")) if (label.length > 0) length += label.length + 1;
  return length;
}

function characterStrings(texts: string[]): Buffer {
  return Buffer.concat(texts.flatMap((text) => [Buffer.from([text.length]), Buffer.from(text, "latin1")]));
}
