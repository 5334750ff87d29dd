// answer(): the whole DNS decision for one question, as a pure function of the question, the record
// index and the zone settings. No I/O; the transports and encoders live elsewhere.

import { type BudgetLimits, LookupBudget } from "../records/budget.ts";
import { CLASS_IN, RCODE, TYPE } from "./constants.ts";
import type { DnsResponse, ResourceRecord } from "./message.ts";
import type { Edns } from "./query.ts";
import { asciiLower, lookupNameOf } from "./query.ts";
import { AnswerReader, dataAt, type Lookup, RecordSet, resolve, soaRecord } from "./records.ts";
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
  /** Work limits of one answer (defaults: records/budget.ts). */
  budget?: BudgetLimits;
}

/** RFC 8914 code 0 ("Other") with this text marks an answer cut short by the work budget. */
export const BUDGET_EXTENDED_ERROR = { code: 0, text: "answer truncated by server budget" } as const;

/**
 * The frame of a reply to `question`: empty sections, the question echoed, OPT with our payload size when
 * the query had one; BADVERS (not authoritative) for an EDNS version above 0 (RFC 6891 §6.1.3).
 */
export function newResponse(question: Question, udpPayloadSize: number, authoritative: boolean): DnsResponse {
  const response: DnsResponse = {
    rcode: RCODE.NOERROR,
    authoritative,
    echoQuestion: true,
    answer: [],
    authority: [],
    additional: [],
    edns: question.edns === undefined ? undefined : { payloadSize: udpPayloadSize, dnssecOk: question.edns.dnssecOk },
  };
  if (question.edns !== undefined && question.edns.version > 0) {
    response.rcode = RCODE.BADVERS;
    response.authoritative = false;
  }
  return response;
}

/**
 * The response to one question. `dependencies`, when given, receives the names the answer was read
 * from (AnswerReader): a cached copy stays valid while nothing changes at or below them.
 */
export function answer(question: Question, context: AnswerContext, dependencies?: Set<string>): DnsResponse {
  const response = newResponse(question, context.udpPayloadSize, false);
  if (response.rcode === RCODE.BADVERS) return response;
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
  const reader = new AnswerReader(context, new LookupBudget(context.budget), dependencies);
  if (name === undefined) return negative(response, reader, zone, true);
  if (question.qtype === TYPE.ANY) any(response, reader, zone, name, question.transport);
  else chained(response, reader, name, question.qtype);
  if (reader.truncated) {
    // Past the budget: what was found, marked incomplete (TC over UDP so the client may retry over TCP).
    response.truncated = question.transport === "udp";
    response.extendedError = { ...BUDGET_EXTENDED_ERROR };
  }
  return response;
}

function chained(response: DnsResponse, reader: AnswerReader, name: string, qtype: number): DnsResponse {
  const chain = resolve(reader, name, qtype);
  response.answer = chain.answer;
  response.additional = chain.additional;
  if (chain.end === "answer" || chain.end === "external" || chain.end === "stopped") return response;
  // The chain ended inside our zones without data: the rcode and SOA belong to its last name (RFC 6604).
  const zone = reader.zones.find(chain.lastName);
  if (zone === undefined) return response;
  return negative(response, reader, zone, chain.end === "nxdomain");
}

/** Types an ANY over TCP collects at a name. */
const ANY_TYPES = [TYPE.SOA, TYPE.NS, TYPE.A, TYPE.AAAA, TYPE.TXT, TYPE.PTR, TYPE.SRV, TYPE.MX, TYPE.CNAME];

/** RFC 8482: over UDP one synthesized HINFO; over TCP every type the name itself holds (no chain). */
function any(response: DnsResponse, reader: AnswerReader, zone: Zone, name: string, transport: Transport): DnsResponse {
  if (!reader.exists(name)) return negative(response, reader, zone, true);
  if (transport === "udp") {
    response.answer.push({ name, ttl: zone.soa.minimum, data: { type: TYPE.HINFO, cpu: "RFC8482", os: "" } });
    return response;
  }
  const stored = reader.recordsAt(name) ?? [];
  const answer = new RecordSet();
  const additional = new RecordSet();
  for (const qtype of ANY_TYPES) {
    if (qtype === TYPE.CNAME && answer.records.length > 0) continue;
    const found = dataAt(reader, name, stored, qtype);
    answer.addAll(found.answer);
    additional.addAll(found.additional);
  }
  if (answer.records.length === 0) return negative(response, reader, zone, false);
  response.answer = answer.records;
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
function negative(response: DnsResponse, reader: AnswerReader, zone: Zone, nxdomain: boolean): DnsResponse {
  if (nxdomain) response.rcode = RCODE.NXDOMAIN;
  response.authority = [soaRecord(reader.lookup, zone)];
  return response;
}
