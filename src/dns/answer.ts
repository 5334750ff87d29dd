// answer(): the whole DNS decision for one question, as a pure function of the question, the record
// index and the zone settings. No I/O; the transports and encoders live elsewhere.
import { CLASS_IN, RCODE, TYPE } from "./constants.ts";
import type { DnsResponse, ResourceRecord } from "./message.ts";
import type { Edns } from "./query.ts";
import { asciiLower, lookupNameOf } from "./query.ts";
import {
  cnameAt,
  type Lookup,
  mxRecords,
  nameExists,
  nsRecords,
  RecordSet,
  recordsAt,
  resolveChain,
  soaRecord,
  srvRecords,
  type WithAdditional,
} from "./records.ts";
import type { Zone } from "./zones.ts";

export type Transport = "udp" | "tcp";

export interface Question {
  /** Labels as received (any case, latin1). */
  labels: readonly string[];
  qtype: number;
  qclass: number;
  edns: Edns | undefined;
  transport: Transport;
}

export interface AnswerContext extends Lookup {
  /** Our EDNS payload size, advertised in every OPT we send. */
  udpPayloadSize: number;
}

export function answer(question: Question, context: AnswerContext): DnsResponse {
  const response: DnsResponse = {
    rcode: RCODE.NOERROR,
    authoritative: false,
    echoQuestion: true,
    answer: [],
    authority: [],
    additional: [],
    edns:
      question.edns === undefined
        ? undefined
        : { payloadSize: context.udpPayloadSize, dnssecOk: question.edns.dnssecOk },
  };
  if (question.edns !== undefined && question.edns.version > 0) {
    response.rcode = RCODE.BADVERS;
    return response;
  }
  const name = lookupNameOf(question.labels);
  const zone = context.zones.find(name ?? asciiLower(question.labels.join(".")));
  // Class other than IN, like names outside our zones, is not ours to answer (Knot does the same).
  if (zone === undefined || question.qclass !== CLASS_IN) {
    response.rcode = RCODE.REFUSED;
    return response;
  }
  if (question.qtype === TYPE.OPT) {
    response.rcode = RCODE.FORMERR;
    return response;
  }
  if (question.qtype === TYPE.AXFR || question.qtype === TYPE.IXFR) {
    response.rcode = RCODE.REFUSED;
    return response;
  }
  response.authoritative = true;
  if (name === undefined) return negative(response, context, zone, true);
  return answerInZone(response, context, zone, name, question);
}

function answerInZone(
  response: DnsResponse,
  context: AnswerContext,
  zone: Zone,
  name: string,
  question: Question,
): DnsResponse {
  const apex = name === zone.name;
  switch (question.qtype) {
    case TYPE.A:
    case TYPE.AAAA:
    case TYPE.TXT:
      return chained(response, context, name, question.qtype);
    case TYPE.CNAME: {
      const stored = recordsAt(context, name);
      if (stored === undefined) return negative(response, context, zone, true);
      const cname = cnameAt(name, stored);
      if (cname === undefined) return negative(response, context, zone, false);
      response.answer.push({ name, ttl: cname.ttl, data: { type: TYPE.CNAME, target: cname.target } });
      return response;
    }
    case TYPE.SRV:
      return withAdditional(response, context, zone, srvRecords(context, name));
    case TYPE.MX:
      return withAdditional(response, context, zone, mxRecords(context, name));
    case TYPE.SOA:
      if (!apex) return negative(response, context, zone, !nameExists(context, name));
      response.answer.push(soaRecord(context, zone));
      return response;
    case TYPE.NS:
      if (!apex) return negative(response, context, zone, !nameExists(context, name));
      return withAdditional(response, context, zone, nsRecords(context, zone));
    case TYPE.ANY:
      return any(response, context, zone, name, question.transport);
    default:
      return negative(response, context, zone, !nameExists(context, name));
  }
}

function chained(response: DnsResponse, context: AnswerContext, name: string, qtype: number): DnsResponse {
  const chain = resolveChain(context, name, qtype);
  response.answer = chain.records;
  if (chain.end === "answer" || chain.end === "external" || chain.end === "stopped") return response;
  // The chain ended inside our zones without data: the rcode and SOA belong to its last name (RFC 6604).
  const zone = context.zones.find(chain.lastName);
  if (zone === undefined) return response;
  return negative(response, context, zone, chain.end === "nxdomain");
}

function withAdditional(
  response: DnsResponse,
  context: AnswerContext,
  zone: Zone,
  found: WithAdditional | undefined,
): DnsResponse {
  if (found === undefined) return negative(response, context, zone, true);
  if (found.answer.length === 0) return negative(response, context, zone, false);
  response.answer = found.answer;
  response.additional = found.additional;
  return response;
}

/** RFC 8482: over UDP one synthesized HINFO; over TCP everything the name has. */
function any(
  response: DnsResponse,
  context: AnswerContext,
  zone: Zone,
  name: string,
  transport: Transport,
): DnsResponse {
  const apex = name === zone.name;
  if (!nameExists(context, name)) return negative(response, context, zone, true);
  if (transport === "udp") {
    response.answer.push({ name, ttl: zone.soa.minimum, data: { type: TYPE.HINFO, cpu: "RFC8482", os: "" } });
    return response;
  }
  const answer = new RecordSet();
  const additional = new RecordSet();
  if (apex) {
    answer.add(soaRecord(context, zone));
    const ns = nsRecords(context, zone);
    answer.addAll(ns.answer);
    additional.addAll(ns.additional);
  }
  for (const qtype of [TYPE.A, TYPE.AAAA, TYPE.TXT]) answer.addAll(resolveChain(context, name, qtype).records);
  for (const found of [srvRecords(context, name), mxRecords(context, name)]) {
    if (found === undefined) continue;
    answer.addAll(found.answer);
    additional.addAll(found.additional);
  }
  if (answer.records.length === 0) return negative(response, context, zone, false);
  response.answer = sortedByOwnerAndType(answer.records);
  response.additional = sortedByOwnerAndType(additional.records);
  return response;
}

/** Groups records of one owner and type together so truncation keeps RRsets whole. */
function sortedByOwnerAndType(records: ResourceRecord[]): ResourceRecord[] {
  const order = new Map<string, number>();
  for (const record of records) {
    const key = `${record.name}|${record.data.type}`;
    if (!order.has(key)) order.set(key, order.size);
  }
  return records
    .map((record, position) => ({ record, position, group: order.get(`${record.name}|${record.data.type}`) ?? 0 }))
    .sort((a, b) => a.group - b.group || a.position - b.position)
    .map((entry) => entry.record);
}

/** NXDOMAIN or NODATA: the zone's SOA in authority, its TTL the SOA minimum (RFC 2308). */
function negative(response: DnsResponse, context: AnswerContext, zone: Zone, nxdomain: boolean): DnsResponse {
  if (nxdomain) response.rcode = RCODE.NXDOMAIN;
  response.authority = [soaRecord(context, zone)];
  return response;
}
