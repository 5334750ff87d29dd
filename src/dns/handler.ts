// One packet in, at most one packet out: parse, serve from the response cache or compute with
// answer() and encode, count. Never throws; anything unexpected is logged, counted and dropped.
import { performance } from "node:perf_hooks";
import { logger } from "../obs/log.ts";
import { RecordIndex } from "../records/index.ts";
import { LiveIndex } from "../records/live-index.ts";
import { type AnswerContext, answer, type Transport } from "./answer.ts";
import { patchCached, questionKey, ResponseCache } from "./cache.ts";
import { CLASSIC_UDP_LIMIT, RCODE, TCP_LIMIT } from "./constants.ts";
import { encodeWithDns2 } from "./dns2-codec.ts";
import { type Encoded, encodeResponse } from "./encode.ts";
import type { DnsResponse, ReplyTo } from "./message.ts";
import type { DnsMetrics } from "./metrics.ts";
import { lookupNameOf, parseQuery, QNAME_OFFSET, type Query, questionLabels, type Rejected } from "./query.ts";
import type { ZoneSet } from "./zones.ts";

export type Codec = "fast" | "dns2";

/** Where a query came from: RRL, cookies, transfer ACLs and short-name answers depend on it. */
export interface ClientAddress {
  address: string;
  port: number;
}

export interface HandlerOptions {
  /** A LiveIndex is read per question; until it has loaded, questions in our zones get SERVFAIL. */
  index: RecordIndex | LiveIndex;
  zones: ZoneSet;
  udpPayloadSize: number;
  metrics: DnsMetrics;
  /** "fast" (default): the hand-written encoder plus response cache; "dns2": dns2 encoding, no cache. */
  codec?: Codec;
  cacheEntries?: number;
  /** Total size of the cached replies, at most (default 64 MiB). */
  cacheBytes?: number;
}

export class QueryHandler {
  private readonly context: AnswerContext;
  private readonly live: LiveIndex;
  private readonly metrics: DnsMetrics;
  private readonly cache: ResponseCache | undefined;
  private readonly encode: (reply: ReplyTo, response: DnsResponse, limit: number) => Encoded;
  private readonly log = logger("dns");
  private lastErrorLog = 0;
  /** Packets that made answering throw (a bug, not bad input: bad input is rejected without throwing). */
  internalErrors = 0;

  constructor(options: HandlerOptions) {
    this.live = options.index instanceof RecordIndex ? LiveIndex.of(options.index) : options.index;
    this.context = { index: this.live.current, zones: options.zones, udpPayloadSize: options.udpPayloadSize };
    this.metrics = options.metrics;
    const codec = options.codec ?? "fast";
    this.encode = codec === "dns2" ? encodeWithDns2 : encodeResponse;
    this.cache = codec === "fast" ? new ResponseCache(options.cacheEntries, options.cacheBytes) : undefined;
  }

  handle(packet: Buffer, transport: Transport, _client?: ClientAddress): Buffer | undefined {
    const started = performance.now();
    try {
      const parsed = parseQuery(packet);
      if (!parsed.ok) return this.reject(packet, parsed.rejected, transport, started);
      return this.respond(parsed.query, transport, started);
    } catch (err) {
      this.internalErrors++;
      this.metrics.malformed();
      const now = Date.now();
      if (now - this.lastErrorLog > 1000) {
        this.lastErrorLog = now;
        this.log.error({ err, length: packet.length }, "failed to answer a packet; dropped");
      }
      return undefined;
    }
  }

  private respond(query: Query, transport: Transport, started: number): Buffer {
    const limit = sizeLimit(query, transport, this.context.udpPayloadSize);
    this.context.index = this.live.current;
    const generation = this.live.generation;
    const loaded = this.live.loaded;
    const cacheable = loaded && this.cache !== undefined && (query.edns === undefined || query.edns.version === 0);
    let key = "";
    let variant = 0;
    if (cacheable) {
      key = questionKey(query.packet, QNAME_OFFSET, query.qnameEnd);
      variant = cacheVariant(query, limit, transport);
      const hit = this.cache?.get(variant, key, generation);
      if (hit !== undefined) {
        const bytes = patchCached(hit.bytes, query.packet, query.qnameEnd);
        this.metrics.query(query.qtype, hit.rcode, transport, (performance.now() - started) / 1000, hit.truncated);
        return bytes;
      }
    }
    const labels = questionLabels(query.packet, query.qnameEnd);
    const response = answer(
      { labels, qtype: query.qtype, qclass: query.qclass, edns: query.edns, transport },
      this.context,
    );
    if (!loaded && response.authoritative) notLoadedYet(response);
    const reply: ReplyTo = {
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
    const encoded = this.encode(reply, response, limit);
    if (cacheable) {
      this.cache?.set(variant, key, generation, {
        bytes: encoded.bytes,
        rcode: response.rcode,
        truncated: encoded.truncated,
      });
    }
    this.metrics.query(query.qtype, response.rcode, transport, (performance.now() - started) / 1000, encoded.truncated);
    return encoded.bytes;
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
      checkingDisabled: rejected.checkingDisabled,
      questionWire: question === undefined ? undefined : packet.subarray(QNAME_OFFSET, question.qnameEnd + 4),
      questionLabels: labels,
      questionPlain: lookupNameOf(labels) !== undefined,
      qtype: question?.qtype ?? 0,
      qclass: question?.qclass ?? 0,
    };
    const rcode = rejected.action === "notimp" ? RCODE.NOTIMP : RCODE.FORMERR;
    const response: DnsResponse = {
      rcode,
      authoritative: false,
      echoQuestion: question !== undefined,
      answer: [],
      authority: [],
      additional: [],
      edns: undefined,
    };
    const encoded = this.encode(reply, response, transport === "tcp" ? TCP_LIMIT : CLASSIC_UDP_LIMIT);
    this.metrics.query(reply.qtype, rcode, transport, (performance.now() - started) / 1000, false);
    return encoded.bytes;
  }
}

/** In our zones before the first complete load: never a negative answer from an index still empty. */
function notLoadedYet(response: DnsResponse): void {
  response.rcode = RCODE.SERVFAIL;
  response.authoritative = false;
  response.answer = [];
  response.authority = [];
  response.additional = [];
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
