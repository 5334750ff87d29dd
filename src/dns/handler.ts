// One packet in, at most one packet out: parse, serve from the response cache or compute with
// answer() and encode, rate-limit (UDP, RRL), add the per-query EDNS options (NSID, COOKIE), count.
// Never throws; anything unexpected is logged, counted and answered SERVFAIL (or dropped when the
// packet did not even parse).
import { performance } from "node:perf_hooks";
import { logger } from "../obs/log.ts";
import { RecordIndex } from "../records/index.ts";
import { LiveIndex } from "../records/live-index.ts";
import { type AnswerContext, answer, type Transport } from "./answer.ts";
import {
  type CachedResponse,
  patchCached,
  questionKey,
  ResponseCache,
  type SerialSlot,
  soaSerialOffsets,
  writeSerials,
} from "./cache.ts";
import { addressBytes } from "./client-address.ts";
import { CLASSIC_UDP_LIMIT, EDE, EDNS_OPTION, RCODE, TCP_LIMIT, TYPE } from "./constants.ts";
import type { CookieStatus, ServerCookies } from "./cookies.ts";
import { encodeWithDns2 } from "./dns2-codec.ts";
import { appendOptions, option } from "./edns.ts";
import { type Encoded, encodeResponse } from "./encode.ts";
import type { DnsResponse, ReplyTo } from "./message.ts";
import type { DnsMetrics } from "./metrics.ts";
import {
  asciiLower,
  type Edns,
  lookupNameOf,
  parseQuery,
  QNAME_OFFSET,
  type Query,
  questionLabels,
  type Rejected,
  skipName,
} from "./query.ts";
import { zoneSerial } from "./records.ts";
import { RESPONSE_CLASS, type ResponseClass, type ResponseRateLimiter } from "./rrl.ts";
import type { ShortAnswerer } from "./short-answer.ts";
import { SubtreeMemo } from "./subtree-memo.ts";
import { RCODE_NOTAUTH, ReplySigner, TSIG_ERROR, TsigKeyring, tsigSize, unsignedError, verifyRequest } from "./tsig.ts";
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
  /** Expand `*`/`any` labels in questions (CoreDNS; default true); false reads them literally. */
  queryWildcards?: boolean;
  metrics: DnsMetrics;
  /** "fast" (default): the hand-written encoder plus response cache; "dns2": dns2 encoding, no cache. */
  codec?: Codec;
  cacheEntries?: number;
  /** Total size of the cached replies, at most (default 64 MiB). */
  cacheBytes?: number;
  /** RFC 5001 name server identifier, sent to queries that ask for it; empty or absent: none. */
  nsid?: string;
  /** DNS cookies (RFC 7873/9018); absent: COOKIE options are ignored. */
  cookies?: ServerCookies;
  /** Response-rate limiting of UDP replies; absent: off. */
  rrl?: ResponseRateLimiter;
  /** Short names (SPEC §4a): a zone answered per asker, never cached; absent: off. */
  short?: ShortAnswerer;
  /** TSIG keys (RFC 8945); a signed query with a key not here gets NOTAUTH/BADKEY. */
  tsig?: TsigKeyring;
  /** Zone transfers (AXFR/IXFR); absent: refused like any other transfer request. */
  transfers?: TransferService;
  /** Clock of TSIG (seconds since the epoch), for tests. */
  nowSeconds?: () => number;
}

/** A transfer request that parsed and whose TSIG (if any) verified: what the transfer service is given. */
export interface TransferRequest {
  query: Query;
  reply: ReplyTo;
  transport: Transport;
  client: ClientAddress | undefined;
  /** The verified TSIG key's name, or undefined for an unsigned request. */
  key: string | undefined;
  /** Signs one reply message (identity for unsigned requests); call in the order the messages are sent. */
  sign(message: Buffer): Buffer;
  /** Bytes to leave free in each message for the signature. */
  reserve: number;
}

/** AXFR/IXFR (src/xfr): streams over TCP, and the IXFR-over-UDP reply. */
export interface TransferService {
  stream(request: TransferRequest): AsyncIterable<Buffer>;
  udp(request: TransferRequest): Buffer;
}

/** RFC 8914 code for REFUSED when the part that refused gave none: the name is not in our zones. */
const REFUSED_ERROR = { code: EDE.NOT_AUTHORITATIVE, text: "" };
const INTERNAL_ERROR = { code: EDE.OTHER, text: "internal error" };

/** What a query's EDNS options add to its reply. */
interface PerQuery {
  /** NSID and COOKIE options, appended to the reply's OPT record. */
  options: Buffer;
  cookie: CookieStatus | undefined;
  /** The query's source. */
  client: ClientAddress | undefined;
}

export class QueryHandler {
  private readonly context: AnswerContext;
  private readonly live: LiveIndex;
  private readonly metrics: DnsMetrics;
  private readonly cache: ResponseCache | undefined;
  private readonly encode: (reply: ReplyTo, response: DnsResponse, limit: number) => Encoded;
  private readonly log = logger("dns");
  /** The NSID option as sent, or undefined when none is configured. */
  private readonly nsidOption: Buffer | undefined;
  private readonly cookies: ServerCookies | undefined;
  private readonly rrl: ResponseRateLimiter | undefined;
  private readonly short: ShortAnswerer | undefined;
  private readonly keys: TsigKeyring;
  private readonly transfers: TransferService | undefined;
  private readonly nowSeconds: () => number;
  private lastErrorLog = 0;
  /** Packets that made answering throw (a bug, not bad input: bad input is rejected without throwing). */
  internalErrors = 0;

  constructor(options: HandlerOptions) {
    this.live = options.index instanceof RecordIndex ? LiveIndex.of(options.index) : options.index;
    this.context = {
      index: this.live.current,
      zones: options.zones,
      udpPayloadSize: options.udpPayloadSize,
      queryWildcards: options.queryWildcards ?? true,
      memo: new SubtreeMemo(),
    };
    this.metrics = options.metrics;
    const codec = options.codec ?? "fast";
    this.encode = codec === "dns2" ? encodeWithDns2 : encodeResponse;
    this.cache = codec === "fast" ? new ResponseCache(options.cacheEntries, options.cacheBytes) : undefined;
    const nsid = Buffer.from(options.nsid ?? "", "utf8");
    this.nsidOption = nsid.length === 0 ? undefined : option(EDNS_OPTION.NSID, nsid);
    this.cookies = options.cookies;
    this.rrl = options.rrl;
    this.short = options.short;
    this.keys = options.tsig ?? new TsigKeyring();
    this.transfers = options.transfers;
    this.nowSeconds = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  }

  /**
   * The replies to a zone transfer request (AXFR or IXFR) over TCP, or undefined when the packet is
   * no such request (then handle() answers it). Never throws: a failure ends the stream.
   */
  transfer(packet: Buffer, client?: ClientAddress): AsyncIterable<Buffer> | undefined {
    if (this.transfers === undefined || !asksForTransfer(packet)) return undefined;
    const parsed = parseQuery(packet);
    if (!parsed.ok || (parsed.query.qtype !== TYPE.AXFR && parsed.query.qtype !== TYPE.IXFR)) return undefined;
    const request = this.transferRequest(parsed.query, "tcp", client);
    if ("failed" in request) return single(request.failed);
    return this.transfers.stream(request);
  }

  /** The verified transfer request, or the reply when its TSIG failed. */
  private transferRequest(
    query: Query,
    transport: Transport,
    client: ClientAddress | undefined,
  ): TransferRequest | { failed: Buffer } {
    const signed = this.verify(query, transport, client, performance.now());
    if (signed !== undefined && "failed" in signed) return signed;
    return {
      query,
      reply: replyTo(query, questionLabels(query.packet, query.qnameEnd)),
      transport,
      client,
      key: signed?.key,
      sign: signed === undefined ? (message) => message : (message) => signed.signer.sign(message),
      reserve: signed?.reserve ?? 0,
    };
  }

  /**
   * A signed query's signer (undefined for an unsigned one), or the NOTAUTH/FORMERR reply when its
   * TSIG does not verify (RFC 8945 §5.2): BADKEY and BADSIG unsigned, BADTIME and BADTRUNC signed.
   */
  private verify(
    query: Query,
    transport: Transport,
    client: ClientAddress | undefined,
    started: number,
  ): { key: string; signer: ReplySigner; reserve: number } | undefined | { failed: Buffer } {
    if (query.tsig === undefined) return undefined;
    const verified = verifyRequest(query.packet, query.tsig, this.keys, this.nowSeconds());
    if (verified.ok) {
      const signer = new ReplySigner(verified.key, verified.tsig, this.nowSeconds);
      return { key: verified.key.name, signer, reserve: tsigSize(verified.key) };
    }
    this.metrics.tsigFailure(verified.error === "formerr" ? "formerr" : tsigErrorName(verified.error));
    const reply = replyTo(query, questionLabels(query.packet, query.qnameEnd));
    const options = this.perQuery(query.edns, client).options;
    if (verified.error === "formerr") {
      return { failed: this.bare(reply, RCODE.FORMERR, query.edns, undefined, options, transport, started) };
    }
    const message = this.bare(reply, RCODE_NOTAUTH, query.edns, undefined, options, transport, started);
    if (verified.key === undefined) return { failed: unsignedError(message, verified.tsig, verified.error) };
    return { failed: new ReplySigner(verified.key, verified.tsig, this.nowSeconds, verified.error).sign(message) };
  }

  handle(packet: Buffer, transport: Transport, client?: ClientAddress): Buffer | undefined {
    const started = performance.now();
    let query: Query | undefined;
    try {
      const parsed = parseQuery(packet);
      if (!parsed.ok) return this.reject(packet, parsed.rejected, transport, client, started);
      query = parsed.query;
      return this.respond(query, transport, client, started);
    } catch (err) {
      this.internalErrors++;
      this.metrics.malformed();
      const now = Date.now();
      if (now - this.lastErrorLog > 1000) {
        this.lastErrorLog = now;
        this.log.error({ err, length: packet.length }, "failed to answer a packet; SERVFAIL");
      }
      return query === undefined ? undefined : this.servfail(query, transport, client, started);
    }
  }

  private respond(
    query: Query,
    transport: Transport,
    client: ClientAddress | undefined,
    started: number,
  ): Buffer | undefined {
    if (query.qtype === TYPE.IXFR && transport === "udp" && this.transfers !== undefined) {
      const request = this.transferRequest(query, transport, client);
      return "failed" in request ? request.failed : this.transfers.udp(request);
    }
    const signed = this.verify(query, transport, client, started);
    if (signed !== undefined && "failed" in signed) return signed.failed;
    const perQuery = this.perQuery(query.edns, client);
    // Room for the options appended after encoding (edns.ts) and the signature: the reply stays within the limit.
    const limit =
      sizeLimit(query, transport, this.context.udpPayloadSize) - perQuery.options.length - (signed?.reserve ?? 0);
    const short = this.short;
    const reply = short?.owns(query.packet, query.qnameEnd)
      ? this.shortReply(short, query, transport, limit, client)
      : this.answerOrCached(query, transport, limit);
    if (transport === "udp" && this.rrl !== undefined && perQuery.cookie !== "valid" && signed === undefined) {
      const limited = this.rateLimit(this.rrl, query, reply.bytes, perQuery, transport, started);
      if (limited !== "pass") return limited;
    }
    this.metrics.query(query.qtype, reply.rcode, transport, (performance.now() - started) / 1000, reply.truncated);
    const bytes = appendOptions(reply.bytes, perQuery.options);
    return signed === undefined ? bytes : signed.signer.sign(bytes);
  }

  /** The reply without per-query options, from the response cache or answered and encoded (then cached). */
  private answerOrCached(query: Query, transport: Transport, limit: number): CachedResponse {
    const index = this.live.current;
    this.context.index = index;
    const loaded = this.live.loaded;
    const cache = loaded && (query.edns === undefined || query.edns.version === 0) ? this.cache : undefined;
    let key = "";
    let variant = 0;
    if (cache !== undefined) {
      key = questionKey(query.packet, QNAME_OFFSET, query.qnameEnd);
      variant = cacheVariant(query, limit, transport);
      const hit = cache.get(variant, key, index);
      if (typeof hit !== "string") {
        this.metrics.cacheLookup("hit");
        const bytes = patchCached(hit.bytes, query.packet, query.qnameEnd);
        if (hit.serials !== undefined) writeSerials(bytes, hit.serials, (zone) => zoneSerial(index, zone));
        return { ...hit, bytes };
      }
      this.metrics.cacheLookup(hit);
    }
    const labels = questionLabels(query.packet, query.qnameEnd);
    const dependencies = cache === undefined ? undefined : new Set<string>();
    const response = answer(
      { labels, qtype: query.qtype, qclass: query.qclass, edns: query.edns, transport },
      this.context,
      dependencies,
    );
    if (!loaded && response.authoritative) notLoadedYet(response);
    if (response.rcode === RCODE.REFUSED) response.extendedError ??= REFUSED_ERROR;
    const encoded = this.encode(replyTo(query, labels), response, limit);
    const result: CachedResponse = { bytes: encoded.bytes, rcode: response.rcode, truncated: encoded.truncated };
    if (cache !== undefined && dependencies !== undefined) {
      const serials = serialSlots(response, encoded.bytes, dependencies);
      if (serials !== undefined) result.serials = serials;
      cache.set(variant, key, index, result, dependencies);
    }
    return result;
  }

  /** A short-name reply: depends on who asks (source address or Client Subnet), so never cached. */
  private shortReply(
    short: ShortAnswerer,
    query: Query,
    transport: Transport,
    limit: number,
    client: ClientAddress | undefined,
  ): CachedResponse {
    this.context.index = this.live.current;
    const labels = questionLabels(query.packet, query.qnameEnd);
    const question = { labels, qtype: query.qtype, qclass: query.qclass, edns: query.edns, transport };
    const { response, subnetOption } = short.answer(question, sourceBytes(client), this.context);
    if (!this.live.loaded && response.authoritative) notLoadedYet(response);
    const extra = subnetOption ?? NO_OPTIONS;
    const encoded = this.encode(replyTo(query, labels), response, limit - extra.length);
    return { bytes: appendOptions(encoded.bytes, extra), rcode: response.rcode, truncated: encoded.truncated };
  }

  /**
   * RRL for a UDP reply from a source without a valid cookie: "pass", or what to send instead
   * (undefined: nothing). A slipped reply is a truncated empty one, or BADCOOKIE with a fresh server
   * cookie when the client sent a cookie (RFC 7873 §5.2.3: it then retries with the right one and is
   * exempt).
   */
  private rateLimit(
    rrl: ResponseRateLimiter,
    query: Query,
    bytes: Buffer,
    perQuery: PerQuery,
    transport: Transport,
    started: number,
  ): "pass" | Buffer | undefined {
    const address = sourceBytes(perQuery.client);
    if (rrl.exempt(address)) return "pass";
    const responseClass = classifyReply(bytes);
    const decision = rrl.decide(address, responseClass, this.rrlName(query, responseClass));
    if (decision === "pass") return "pass";
    const badCookie = perQuery.cookie !== undefined;
    this.metrics.rateLimited(decision === "drop" ? "dropped" : badCookie ? "badcookie" : "slipped");
    if (decision === "drop") return undefined;
    const reply = replyTo(query, questionLabels(query.packet, query.qnameEnd));
    const rcode = badCookie ? RCODE.BADCOOKIE : RCODE.NOERROR;
    return this.bare(reply, rcode, query.edns, undefined, perQuery.options, transport, started, !badCookie);
  }

  /** The name a bucket counts: the question for answers, the zone for negative answers, none for errors. */
  private rrlName(query: Query, responseClass: ResponseClass): string {
    if (responseClass === RESPONSE_CLASS.ERROR) return "";
    const labels = questionLabels(query.packet, query.qnameEnd);
    const name = asciiLower(labels.join("."));
    if (responseClass === RESPONSE_CLASS.ANSWER) return imputedWildcardName(labels, name);
    return this.context.zones.find(name)?.name ?? "";
  }

  /** NSID (when asked and configured) and COOKIE (when sent and cookies are on) for this query's reply. */
  private perQuery(edns: Edns | undefined, client: ClientAddress | undefined): PerQuery {
    if (edns === undefined) return { options: NO_OPTIONS, cookie: undefined, client };
    const nsid = edns.nsid === true ? this.nsidOption : undefined;
    const sent = edns.cookie;
    if (sent === undefined || sent === "malformed" || this.cookies === undefined) {
      return { options: nsid ?? NO_OPTIONS, cookie: undefined, client };
    }
    const check = this.cookies.check(sent.client, sent.server, sourceBytes(client));
    this.metrics.cookie(check.status);
    const cookie = option(EDNS_OPTION.COOKIE, check.reply);
    return { options: nsid === undefined ? cookie : Buffer.concat([nsid, cookie]), cookie: check.status, client };
  }

  private reject(
    packet: Buffer,
    rejected: Rejected,
    transport: Transport,
    client: ClientAddress | undefined,
    started: number,
  ): Buffer | undefined {
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
    const options = this.perQuery(rejected.edns, client).options;
    return this.bare(reply, rcode, rejected.edns, undefined, options, transport, started);
  }

  /** SERVFAIL for a query whose answering failed, with an Extended DNS Error saying so. */
  private servfail(
    query: Query,
    transport: Transport,
    client: ClientAddress | undefined,
    started: number,
  ): Buffer | undefined {
    try {
      const reply = replyTo(query, questionLabels(query.packet, query.qnameEnd));
      const options = this.perQuery(query.edns, client).options;
      return this.bare(reply, RCODE.SERVFAIL, query.edns, INTERNAL_ERROR, options, transport, started);
    } catch {
      return undefined;
    }
  }

  /**
   * A reply without records: the question echoed when it parsed, OPT (with `options`) when the
   * query had a valid one; TC set when `truncated` (an RRL slip).
   */
  private bare(
    reply: ReplyTo,
    rcode: number,
    edns: Edns | undefined,
    extendedError: DnsResponse["extendedError"],
    options: Buffer,
    transport: Transport,
    started: number,
    truncated = false,
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
    const limit = (transport === "tcp" ? TCP_LIMIT : CLASSIC_UDP_LIMIT) - options.length;
    const bytes = appendOptions(this.encode(reply, response, limit).bytes, options);
    if (truncated) bytes[2] = bytes[2]! | TC_BIT;
    this.metrics.query(reply.qtype, rcode, transport, (performance.now() - started) / 1000, truncated);
    return bytes;
  }
}

const NO_OPTIONS = Buffer.alloc(0);

/**
 * Whether the packet's first question has qtype AXFR or IXFR, read off the wire without parsing it:
 * every other TCP query is parsed once, by handle().
 */
function asksForTransfer(packet: Buffer): boolean {
  const end = skipName(packet, QNAME_OFFSET);
  if (end < 0 || end + 2 > packet.length) return false;
  const qtype = packet.readUInt16BE(end);
  return qtype === TYPE.AXFR || qtype === TYPE.IXFR;
}

async function* single(message: Buffer): AsyncIterable<Buffer> {
  yield message;
}

function tsigErrorName(error: number): string {
  for (const [name, code] of Object.entries(TSIG_ERROR)) if (code === error) return name.toLowerCase();
  return "other";
}
const NO_ADDRESS = new Uint8Array(0);
const TC_BIT = 0x02;

function sourceBytes(client: ClientAddress | undefined): Uint8Array {
  return client === undefined ? NO_ADDRESS : addressBytes(client.address);
}

/** The RRL class of an encoded reply, from its header: rcode and answer count. */
export function classifyReply(bytes: Buffer): ResponseClass {
  const rcode = bytes[3]! & 0x0f;
  if (rcode === RCODE.NXDOMAIN) return RESPONSE_CLASS.NXDOMAIN;
  if (rcode !== RCODE.NOERROR) return RESPONSE_CLASS.ERROR;
  return bytes.readUInt16BE(6) > 0 ? RESPONSE_CLASS.ANSWER : RESPONSE_CLASS.NODATA;
}

/**
 * Questions with `*`/`any` labels (CoreDNS wildcards) count against the name from the leftmost
 * wildcard label on, so rotating the labels in front of it does not make a fresh bucket each time.
 */
function imputedWildcardName(labels: readonly string[], name: string): string {
  for (let i = labels.length - 1; i >= 0; i--) {
    const label = asciiLower(labels[i]!);
    if (label === "*" || label === "any") return asciiLower(labels.slice(i).join("."));
  }
  return name;
}

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

/**
 * Where the reply carries SOA serials, so a cached copy gets the zone's current one (a serial is no
 * dependency: negative answers stay cached while the zone changes elsewhere). When the encoded reply
 * does not hold the SOA records the response had (truncated away), the zones become dependencies instead.
 */
function serialSlots(response: DnsResponse, bytes: Buffer, dependencies: Set<string>): SerialSlot[] | undefined {
  const zones: string[] = [];
  for (const section of [response.answer, response.authority]) {
    for (const record of section) if (record.data.type === TYPE.SOA) zones.push(record.name);
  }
  if (zones.length === 0) return undefined;
  const offsets = soaSerialOffsets(bytes);
  if (offsets.length !== zones.length) {
    for (const zone of zones) dependencies.add(zone);
    return undefined;
  }
  return offsets.map((offset, i) => ({ offset, zone: zones[i]! }));
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
