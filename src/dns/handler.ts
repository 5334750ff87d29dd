// One packet in, at most one packet out: parse, serve from the response cache or compute with
// answer() and encode, count. Never throws; anything unexpected is logged, counted and dropped.
import { performance } from "node:perf_hooks";
import { logger } from "../obs/log.ts";
import type { RecordIndex } from "../records/index.ts";
import { type AnswerContext, answer, type Transport } from "./answer.ts";
import { patchCached, questionKey, ResponseCache } from "./cache.ts";
import { CLASSIC_UDP_LIMIT, EDE, EDNS_OPTION, RCODE, TCP_LIMIT } from "./constants.ts";
import { encodeWithDns2 } from "./dns2-codec.ts";
import { appendOptions, option } from "./edns.ts";
import { type Encoded, encodeResponse } from "./encode.ts";
import type { DnsResponse, ReplyTo } from "./message.ts";
import type { DnsMetrics } from "./metrics.ts";
import {
  type Edns,
  lookupNameOf,
  parseQuery,
  QNAME_OFFSET,
  type Query,
  questionLabels,
  type Rejected,
} from "./query.ts";
import type { ZoneSet } from "./zones.ts";

export type Codec = "fast" | "dns2";

/** Where a query came from: RRL, cookies, transfer ACLs and short-name answers depend on it. */
export interface ClientAddress {
  address: string;
  port: number;
}

export interface HandlerOptions {
  index: RecordIndex;
  zones: ZoneSet;
  udpPayloadSize: number;
  metrics: DnsMetrics;
  /** "fast" (default): the hand-written encoder plus response cache; "dns2": dns2 encoding, no cache. */
  codec?: Codec;
  cacheEntries?: number;
  /** Total size of the cached replies, at most (default 64 MiB). */
  cacheBytes?: number;
  /** RFC 5001 name server identifier, sent to queries that ask for it; empty or absent: none. */
  nsid?: string;
}

/** RFC 8914 code for REFUSED when the part that refused gave none: the name is not in our zones. */
const REFUSED_ERROR = { code: EDE.NOT_AUTHORITATIVE, text: "" };
const INTERNAL_ERROR = { code: EDE.OTHER, text: "internal error" };

export class QueryHandler {
  private readonly context: AnswerContext;
  private readonly metrics: DnsMetrics;
  private readonly cache: ResponseCache | undefined;
  private readonly encode: (reply: ReplyTo, response: DnsResponse, limit: number) => Encoded;
  private readonly log = logger("dns");
  /** The NSID option as sent, or undefined when none is configured. */
  private readonly nsidOption: Buffer | undefined;
  private lastErrorLog = 0;
  /** Packets that made answering throw (a bug, not bad input: bad input is rejected without throwing). */
  internalErrors = 0;

  constructor(options: HandlerOptions) {
    this.context = { index: options.index, zones: options.zones, udpPayloadSize: options.udpPayloadSize };
    this.metrics = options.metrics;
    const codec = options.codec ?? "fast";
    this.encode = codec === "dns2" ? encodeWithDns2 : encodeResponse;
    this.cache = codec === "fast" ? new ResponseCache(options.cacheEntries, options.cacheBytes) : undefined;
    const nsid = Buffer.from(options.nsid ?? "", "utf8");
    this.nsidOption = nsid.length === 0 ? undefined : option(EDNS_OPTION.NSID, nsid);
  }

  handle(packet: Buffer, transport: Transport, _client?: ClientAddress): Buffer | undefined {
    const started = performance.now();
    let query: Query | undefined;
    try {
      const parsed = parseQuery(packet);
      if (!parsed.ok) return this.reject(packet, parsed.rejected, transport, started);
      query = parsed.query;
      return this.respond(query, transport, started);
    } catch (err) {
      this.internalErrors++;
      this.metrics.malformed();
      const now = Date.now();
      if (now - this.lastErrorLog > 1000) {
        this.lastErrorLog = now;
        this.log.error({ err, length: packet.length }, "failed to answer a packet; SERVFAIL");
      }
      return query === undefined ? undefined : this.servfail(query, transport, started);
    }
  }

  private respond(query: Query, transport: Transport, started: number): Buffer {
    const options = this.perQueryOptions(query.edns);
    // Room for the options appended after encoding (edns.ts): the reply stays within the limit.
    const limit = sizeLimit(query, transport, this.context.udpPayloadSize) - options.length;
    const generation = this.context.index.generation;
    const cacheable = this.cache !== undefined && (query.edns === undefined || query.edns.version === 0);
    let key = "";
    let variant = 0;
    if (cacheable) {
      key = questionKey(query.packet, QNAME_OFFSET, query.qnameEnd);
      variant = cacheVariant(query, limit, transport);
      const hit = this.cache?.get(variant, key, generation);
      if (hit !== undefined) {
        const bytes = appendOptions(patchCached(hit.bytes, query.packet, query.qnameEnd), options);
        this.metrics.query(query.qtype, hit.rcode, transport, (performance.now() - started) / 1000, hit.truncated);
        return bytes;
      }
    }
    const labels = questionLabels(query.packet, query.qnameEnd);
    const response = answer(
      { labels, qtype: query.qtype, qclass: query.qclass, edns: query.edns, transport },
      this.context,
    );
    if (response.rcode === RCODE.REFUSED) response.extendedError ??= REFUSED_ERROR;
    const encoded = this.encode(replyTo(query, labels), response, limit);
    if (cacheable) {
      this.cache?.set(variant, key, generation, {
        bytes: encoded.bytes,
        rcode: response.rcode,
        truncated: encoded.truncated,
      });
    }
    this.metrics.query(query.qtype, response.rcode, transport, (performance.now() - started) / 1000, encoded.truncated);
    return appendOptions(encoded.bytes, options);
  }

  /** The options this query gets in its reply besides the response's own: NSID when asked. */
  private perQueryOptions(edns: Edns | undefined): Buffer {
    if (edns?.nsid === true && this.nsidOption !== undefined) return this.nsidOption;
    return NO_OPTIONS;
  }

  private reject(packet: Buffer, rejected: Rejected, transport: Transport, started: number): Buffer | undefined {
    this.metrics.malformed();
    this.log.debug({ reason: rejected.reason, length: packet.length, transport }, "bad query");
    if (rejected.action === "drop") return undefined;
    const question = rejected.question;
    const labels = question === undefined ? [] : questionLabels(packet, question.qnameEnd);
    const reply: ReplyTo = {
      id: rejected.id,
      opcode: rejected.opcode,
      recursionDesired: rejected.recursionDesired,
      // Knot copies RD only into a NOTIMP reply; a FORMERR keeps CD like any other reply.
      checkingDisabled: rejected.action === "notimp" ? false : rejected.checkingDisabled,
      questionWire: question === undefined ? undefined : packet.subarray(QNAME_OFFSET, question.qnameEnd + 4),
      questionLabels: labels,
      questionPlain: lookupNameOf(labels) !== undefined,
      qtype: question?.qtype ?? 0,
      qclass: question?.qclass ?? 0,
    };
    const rcode = rejected.action === "notimp" ? RCODE.NOTIMP : RCODE.FORMERR;
    return this.bare(reply, rcode, rejected.edns, undefined, transport, started);
  }

  /** SERVFAIL for a query whose answering failed, with an Extended DNS Error saying so. */
  private servfail(query: Query, transport: Transport, started: number): Buffer | undefined {
    try {
      const reply = replyTo(query, questionLabels(query.packet, query.qnameEnd));
      return this.bare(reply, RCODE.SERVFAIL, query.edns, INTERNAL_ERROR, transport, started);
    } catch {
      return undefined;
    }
  }

  /** A reply without records: the question echoed when it parsed, OPT when the query had a valid one. */
  private bare(
    reply: ReplyTo,
    rcode: number,
    edns: Edns | undefined,
    extendedError: DnsResponse["extendedError"],
    transport: Transport,
    started: number,
  ): Buffer {
    const response: DnsResponse = {
      rcode,
      authoritative: false,
      echoQuestion: reply.questionWire !== undefined,
      answer: [],
      authority: [],
      additional: [],
      edns: edns === undefined ? undefined : { payloadSize: this.context.udpPayloadSize, dnssecOk: edns.dnssecOk },
      extendedError,
    };
    const options = this.perQueryOptions(edns);
    const limit = (transport === "tcp" ? TCP_LIMIT : CLASSIC_UDP_LIMIT) - options.length;
    const encoded = this.encode(reply, response, limit);
    this.metrics.query(reply.qtype, rcode, transport, (performance.now() - started) / 1000, false);
    return appendOptions(encoded.bytes, options);
  }
}

const NO_OPTIONS = Buffer.alloc(0);

/** Header fields and question of the reply to a parsed query. */
function replyTo(query: Query, labels: readonly string[]): ReplyTo {
  return {
    id: query.id,
    opcode: query.opcode,
    recursionDesired: query.recursionDesired,
    checkingDisabled: query.checkingDisabled,
    questionWire: query.packet.subarray(QNAME_OFFSET, query.qnameEnd + 4),
    questionLabels: labels,
    questionPlain: lookupNameOf(labels) !== undefined,
    qtype: query.qtype,
    qclass: query.qclass,
  };
}

/** UDP: the client's EDNS size capped by ours (never below 512), or 512 without EDNS. TCP: a full message. */
export function sizeLimit(query: Query, transport: Transport, ours: number): number {
  if (transport === "tcp") return TCP_LIMIT;
  if (query.edns === undefined) return CLASSIC_UDP_LIMIT;
  return Math.max(CLASSIC_UDP_LIMIT, Math.min(query.edns.payloadSize, ours));
}

/** What a reply depends on besides the question, its id, RD/CD bits and case: size limit, EDNS and DO, transport. */
function cacheVariant(query: Query, limit: number, transport: Transport): number {
  const edns = query.edns === undefined ? 0 : query.edns.dnssecOk ? 2 : 1;
  return limit * 8 + edns * 2 + (transport === "tcp" ? 1 : 0);
}
