// Short names for pods (SPEC §4a): the answer for `S.N.F.svc.<cluster-domain>`, which depends on who asks.
// The asker is the query's EDNS Client Subnet when present (RFC 7871, answered with the scope that decided),
// else its source address, mapped to (cluster, zone, region) by the client networks the controller published
// (ShortData, kept in memory by store/short-source.ts). The choice itself is federation/short-names.ts's
// chooseShortAnswer(); here it becomes records: the asker's own ClusterIPs, or a CNAME to the federation name
// with the chain read from the record index in the same answer, or NXDOMAIN with the short zone's SOA.
// These replies are never put in the response cache (they differ per asker).
import { serviceNames } from "../federation/names.ts";
import type { AskerMatch, LocalShard, PortQuestion, ShortData } from "../federation/short-names.ts";
import { chooseShortAnswer } from "../federation/short-names.ts";
import { Counter, type Registry } from "../obs/metrics.ts";
import { LookupBudget } from "../records/budget.ts";
import { type AnswerContext, BUDGET_EXTENDED_ERROR, newResponse, type Question } from "./answer.ts";
import { CLASS_IN, EDNS_OPTION, RCODE, TYPE } from "./constants.ts";
import { option } from "./edns.ts";
import type { DnsResponse, ResourceRecord } from "./message.ts";
import type { ClientSubnet } from "./query.ts";
import { lookupNameOf, QNAME_OFFSET } from "./query.ts";
import { AnswerReader, resolve } from "./records.ts";
import type { Zone } from "./zones.ts";

export interface ShortZoneSettings {
  /** `<F>.svc.<cluster-domain>`, with its SOA settings. */
  zone: Zone;
  federation: string;
  /** The federation's own zone D (its names are read from the record index). */
  domain: string;
  /** Priority and weight of local SRV answers (the controller's `srv`). */
  srv: { priority: number; weight: number };
}

/** Where the short-name data comes from (undefined until loaded: SERVFAIL meanwhile). */
export interface ShortDataSource {
  data(): ShortData | undefined;
  /** Moves whenever the data changes: the short zone's SOA serial. */
  revision(): number;
}

export type ShortOutcome = "local" | "zone" | "region" | "global" | "unknown" | "none" | "other";

export interface ShortReply {
  response: DnsResponse;
  /** The ECS option of the reply (RFC 7871 §7.2.1), when the query carried one. */
  subnetOption: Buffer | undefined;
}

const NO_ADDRESS = new Uint8Array(0);

export class ShortAnswerer {
  readonly settings: ShortZoneSettings;
  private readonly source: ShortDataSource;
  private readonly suffix: string;
  /** The zone name in wire form, lowercase. */
  private readonly wire: Buffer;
  private readonly counter: Counter<"answer">;

  constructor(settings: ShortZoneSettings, source: ShortDataSource, registry?: Registry) {
    this.settings = settings;
    this.source = source;
    this.suffix = `.${settings.zone.name}`;
    this.wire = Buffer.concat([
      ...settings.zone.name.split(".").map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])),
      Buffer.from([0]),
    ]);
    this.counter = new Counter({
      name: "fedns_dns_short_answers_total",
      help: "Short-name answers by choice: local (own ClusterIPs), zone, region, global, unknown (asker not recognised), none (NXDOMAIN), other",
      labelNames: ["answer"],
      registers: registry === undefined ? [] : [registry],
    });
  }

  /**
   * Whether the question name (uncompressed, from QNAME_OFFSET to `qnameEnd`) lies in the short zone: read
   * on the wire, without making strings, as every query asks it.
   */
  owns(packet: Buffer, qnameEnd: number): boolean {
    const wire = this.wire;
    const start = qnameEnd - wire.length;
    if (start < QNAME_OFFSET) return false;
    let offset = QNAME_OFFSET;
    while (offset < start) offset += packet[offset]! + 1;
    if (offset !== start) return false;
    for (let i = 0; i < wire.length; i++) {
      let byte = packet[start + i]!;
      if (byte >= 65 && byte <= 90) byte += 32;
      if (byte !== wire[i]) return false;
    }
    return true;
  }

  /**
   * The reply to a question in the short zone. `source`: the query's source address (4 or 16 bytes), used
   * when it carries no Client Subnet option. `lookup`: the record index and zones of the federation names.
   */
  answer(question: Question, source: Uint8Array | undefined, lookup: AnswerContext): ShortReply {
    const response = newResponse(question, lookup.udpPayloadSize, true);
    if (response.rcode === RCODE.BADVERS) {
      return { response, subnetOption: undefined };
    }
    const subnet = question.edns?.clientSubnet;
    const ecs = subnet === undefined || subnet === "malformed" ? undefined : subnet;
    let scope = 0;
    const reply = (outcome: ShortOutcome): ShortReply => {
      this.counter.inc({ answer: outcome });
      return { response, subnetOption: ecs === undefined ? undefined : subnetOption(ecs, scope) };
    };
    if (question.qclass !== CLASS_IN) {
      response.rcode = RCODE.REFUSED;
      response.authoritative = false;
      return reply("other");
    }
    const data = this.source.data();
    if (data === undefined || question.qtype === TYPE.AXFR || question.qtype === TYPE.IXFR) {
      response.rcode = data === undefined ? RCODE.SERVFAIL : RCODE.REFUSED;
      response.authoritative = false;
      return reply("other");
    }
    const zone = this.settings.zone;
    const name = lookupNameOf(question.labels);
    const reader = new AnswerReader(lookup, new LookupBudget(lookup.budget));
    if (name === undefined) return reply(this.negative(response, true));
    const relative = name === zone.name ? [] : name.slice(0, -this.suffix.length).split(".");
    if (relative.length === 0) return reply(this.apex(response, question.qtype));
    const service = serviceOf(relative);
    const federationName = `${relative.join(".")}.${this.settings.federation}.svc.${this.settings.domain}`;
    if (service === undefined) {
      // Not a service name (a namespace, `_proto.S.N`, deeper): it exists as far as its federation name does.
      return reply(this.negative(response, !reader.exists(federationName)));
    }
    // A source prefix of 0 says nothing about the client (RFC 7871 §7.1.2): the answer for an unknown asker,
    // valid for everyone (scope 0).
    const match: AskerMatch =
      ecs === undefined
        ? data.askerOf(source ?? NO_ADDRESS)
        : ecs.sourcePrefix === 0
          ? { asker: undefined, scope: 0 }
          : data.askerOf(ecs.address, ecs.sourcePrefix);
    scope = match.scope;
    const names = serviceNames(this.settings.federation, this.settings.domain, service.namespace, service.name);
    const shard =
      match.asker === undefined ? undefined : data.shardOf(match.asker.cluster, service.namespace, service.name);
    const choice = chooseShortAnswer(match.asker, names, service.port, shard, (level) => reader.exists(level));
    if (choice.kind === "none") return reply(this.negative(response, true, "none"));
    if (choice.kind === "local") {
      const ttl = ttlOf(reader, service.port === undefined ? names.global : federationName, zone.soa.minimum);
      response.answer = this.localRecords(name, question.qtype, choice.shard, service.port, ttl, response);
      if (response.answer.length === 0) this.negative(response, false);
      return reply("local");
    }
    const chain = question.qtype === TYPE.CNAME ? undefined : resolve(reader, choice.target, question.qtype);
    const ttl = chain?.answer[0]?.ttl ?? ttlOf(reader, choice.target, zone.soa.minimum);
    response.answer = [{ name, ttl, data: { type: TYPE.CNAME, target: choice.target } }, ...(chain?.answer ?? [])];
    response.additional = chain?.additional ?? [];
    if (chain !== undefined && (chain.end === "nxdomain" || chain.end === "nodata")) {
      const last = reader.zones.find(chain.lastName);
      if (chain.end === "nxdomain") response.rcode = RCODE.NXDOMAIN;
      if (last !== undefined) response.authority = [soaOf(last, reader)];
    }
    if (reader.truncated) {
      response.truncated = question.transport === "udp";
      response.extendedError = { ...BUDGET_EXTENDED_ERROR };
    }
    return reply(choice.unknown ? "unknown" : choice.level);
  }

  /** The asker's own ClusterIPs (A/AAAA by family), or SRV records of the asked port with them as glue. */
  private localRecords(
    name: string,
    qtype: number,
    shard: LocalShard,
    port: PortQuestion | undefined,
    ttl: number,
    response: DnsResponse,
  ): ResourceRecord[] {
    const addresses = (target: string, types: readonly number[]): ResourceRecord[] =>
      shard.addresses
        .map((address): ResourceRecord => {
          const v6 = address.includes(":");
          return { name: target, ttl, data: { type: v6 ? TYPE.AAAA : TYPE.A, address } };
        })
        .filter((record) => types.includes(record.data.type));
    if (port === undefined) {
      if (qtype === TYPE.A || qtype === TYPE.AAAA) return addresses(name, [qtype]);
      if (qtype === TYPE.ANY) return addresses(name, [TYPE.A, TYPE.AAAA]);
      return [];
    }
    if (qtype !== TYPE.SRV && qtype !== TYPE.ANY) return [];
    const target = name.split(".").slice(2).join(".");
    const { priority, weight } = this.settings.srv;
    const records: ResourceRecord[] = shard.ports
      .filter((p) => p.name === port.name && p.protocol === port.protocol)
      .map((p) => ({ name, ttl, data: { type: TYPE.SRV, priority, weight, port: p.port, target } }));
    if (records.length > 0) response.additional = addresses(target, [TYPE.A, TYPE.AAAA]);
    return records;
  }

  private apex(response: DnsResponse, qtype: number): ShortOutcome {
    const zone = this.settings.zone;
    if (qtype === TYPE.SOA) response.answer = [this.soa()];
    else if (qtype === TYPE.NS && zone.nameservers.length > 0) {
      response.answer = zone.nameservers.map((ns) => ({
        name: zone.name,
        ttl: zone.soa.minimum,
        data: { type: TYPE.NS, target: ns.name },
      }));
    } else this.negative(response, false);
    return "other";
  }

  private negative(response: DnsResponse, nxdomain: boolean, outcome: ShortOutcome = "other"): ShortOutcome {
    if (nxdomain) response.rcode = RCODE.NXDOMAIN;
    response.authority = [this.soa()];
    return outcome;
  }

  private soa(): ResourceRecord {
    const zone = this.settings.zone;
    const serial = this.source.revision() % 2 ** 32 || 1;
    return { name: zone.name, ttl: zone.soa.minimum, data: { type: TYPE.SOA, serial, ...zone.soa } };
  }
}

/** `[S, N]` or `[_port, _proto, S, N]` (labels below the short zone), or undefined for any other shape. */
function serviceOf(
  relative: readonly string[],
): { name: string; namespace: string; port: PortQuestion | undefined } | undefined {
  const plain = (label: string | undefined) => label !== undefined && label !== "" && !label.startsWith("_");
  if (relative.length === 2 && plain(relative[0]) && plain(relative[1])) {
    return { name: relative[0]!, namespace: relative[1]!, port: undefined };
  }
  const [port, proto, name, namespace] = relative;
  if (relative.length === 4 && port?.startsWith("_") && proto?.startsWith("_") && plain(name) && plain(namespace)) {
    return { name: name!, namespace: namespace!, port: { name: port.slice(1), protocol: proto.slice(1) } };
  }
  return undefined;
}

/** The TTL of a federation name's records (the records' TTL, SPEC §4a), or `fallback` when it has none. */
function ttlOf(reader: AnswerReader, name: string, fallback: number): number {
  return reader.recordsAt(name)?.[0]?.ttl ?? fallback;
}

function soaOf(zone: Zone, reader: AnswerReader): ResourceRecord {
  const serial = reader.lookup.index.lastChange(zone.name) % 2 ** 32 || 1;
  return { name: zone.name, ttl: zone.soa.minimum, data: { type: TYPE.SOA, serial, ...zone.soa } };
}

/** RFC 7871 §7.2.1: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as asked, our SCOPE PREFIX-LENGTH. */
function subnetOption(subnet: ClientSubnet, scope: number): Buffer {
  const bytes = Math.ceil(subnet.sourcePrefix / 8);
  const data = Buffer.alloc(4 + bytes);
  data.writeUInt16BE(subnet.family, 0);
  data[2] = subnet.sourcePrefix;
  data[3] = Math.min(scope, subnet.family === 1 ? 32 : 128);
  Buffer.from(subnet.address.subarray(0, bytes)).copy(data, 4);
  return option(EDNS_OPTION.CLIENT_SUBNET, data);
}
