// Zone transfers (AXFR, RFC 5936; IXFR, RFC 1995) and NOTIFY (RFC 1996) for the zones configured
// for them. Per zone: an ACL (networks and/or TSIG key), the latest version of its content, a bounded
// journal of diffs between versions, and the secondaries to notify. A change to the index schedules
// (debounced) a new version; a new serial is announced by NOTIFY. Transfers run concurrently up to a
// total and a per-source cap; a request past either is refused.
import { CLASS_IN, RCODE, TYPE } from "../dns/constants.ts";
import { encodeResponse } from "../dns/encode.ts";
import type { TransferRequest, TransferService } from "../dns/handler.ts";
import type { DnsResponse, ResourceRecord } from "../dns/message.ts";
import type { DnsMetrics } from "../dns/metrics.ts";
import { lookupNameOf, skipName, skipRecord } from "../dns/query.ts";
import { zoneSerial } from "../dns/records.ts";
import type { Zone, ZoneSet } from "../dns/zones.ts";
import { realTimers, type Timers } from "../obs/clock.ts";
import { logger } from "../obs/log.ts";
import type { RecordIndex } from "../records/index.ts";
import type { LiveIndex } from "../records/live-index.ts";
import { type AclRuleConfig, TransferAcl } from "./acl.ts";
import {
  applyChanges,
  buildVersion,
  type Diff,
  diffVersions,
  type StoreChange,
  unsharedCopy,
  versionRecords,
  type ZoneVersion,
} from "./content.ts";
import { incrementalRecords, Journal } from "./journal.ts";
import { transferMessages } from "./messages.ts";
import { Notifier, type NotifyTarget } from "./notify.ts";
import { compareSerials, isCurrent } from "./serial.ts";

export interface TransferZoneConfig {
  zone: string;
  allow: AclRuleConfig[];
  notify: NotifyTarget[];
}

export interface TransfersOptions {
  live: LiveIndex;
  /** Every zone served (the most specific one holds a name). */
  zones: ZoneSet;
  transferZones: readonly TransferZoneConfig[];
  metrics: DnsMetrics;
  /** Records (deleted plus added) kept per zone for IXFR. */
  journalRecords: number;
  maxConcurrent: number;
  maxConcurrentPerSource: number;
  /** Changes are collected this long before a new version is built and announced. */
  notifyDebounceMs: number;
  notifyRetryInitialMs?: number;
  notifyRetryMaxMs?: number;
  timers?: Timers;
  nowSeconds?: () => number;
}

export const TRANSFER_DEFAULTS = {
  journalRecords: 100_000,
  maxConcurrent: 8,
  maxConcurrentPerSource: 2,
  notifyDebounceMs: 1000,
  notifyRetryInitialMs: 1000,
  notifyRetryMaxMs: 60_000,
} as const;

interface ZoneState {
  zone: Zone;
  acl: TransferAcl;
  notify: NotifyTarget[];
  journal: Journal;
  current: ZoneVersion | undefined;
  /** Store changes applied since `current` was made; "all" after a reload (or too many to keep). */
  pending: StoreChange[] | "all";
  /** A full build in flight; it resolves undefined when the index changed too much under it (built again). */
  building: Promise<ZoneVersion | undefined> | undefined;
  notified: number | undefined;
}

/** Changes kept per zone before the next version; past this a full (sliced) rebuild is cheaper. */
const MAX_PENDING_CHANGES = 20_000;

export class Transfers implements TransferService {
  private readonly options: TransfersOptions;
  private readonly states = new Map<string, ZoneState>();
  private readonly timers: Timers;
  private readonly notifier: Notifier;
  private readonly log = logger("xfr");
  private active = 0;
  private readonly activeBySource = new Map<string, number>();
  private debounce: { cancel(): void } | undefined;
  private closed = false;

  constructor(options: TransfersOptions) {
    this.options = options;
    this.timers = options.timers ?? realTimers;
    const nowSeconds = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
    this.notifier = new Notifier({
      timers: this.timers,
      metrics: options.metrics,
      retryInitialMs: options.notifyRetryInitialMs ?? TRANSFER_DEFAULTS.notifyRetryInitialMs,
      retryMaxMs: options.notifyRetryMaxMs ?? TRANSFER_DEFAULTS.notifyRetryMaxMs,
      nowSeconds,
    });
    for (const config of options.transferZones) {
      const zone = options.zones.all.find((candidate) => candidate.name === config.zone);
      if (zone === undefined) throw new Error(`transfers: ${config.zone} is not one of the served zones`);
      this.states.set(zone.name, {
        zone,
        acl: new TransferAcl(config.allow),
        notify: config.notify,
        journal: new Journal(options.journalRecords),
        current: undefined,
        pending: "all",
        building: undefined,
        notified: undefined,
      });
    }
  }

  /**
   * The index changed: `changes` are the keys the record source applied (undefined: a whole new index
   * was swapped in). New versions are made and new serials announced once the debounce period is over.
   */
  changed(changes?: readonly StoreChange[]): void {
    if (this.closed) return;
    for (const state of this.states.values()) {
      if (
        changes === undefined ||
        state.pending === "all" ||
        state.pending.length + changes.length > MAX_PENDING_CHANGES
      ) {
        state.pending = "all";
      } else {
        for (const change of changes) state.pending.push(change);
      }
    }
    if (this.debounce !== undefined || this.states.size === 0) return;
    this.debounce = this.timers.setTimeout(() => {
      this.debounce = undefined;
      void this.refresh();
    }, this.options.notifyDebounceMs);
  }

  /** Brings every zone's version up to date and notifies secondaries of new serials. */
  async refresh(): Promise<void> {
    if (!this.options.live.loaded) return;
    for (const state of this.states.values()) {
      try {
        const version = await this.version(state);
        if (this.closed) return;
        if (state.notified !== version.serial && state.notify.length > 0) {
          this.notifier.notify(state.zone, version.serial, (serial) => soaOf(state.zone, serial), state.notify);
        }
        state.notified = version.serial;
      } catch (err) {
        this.log.error({ err, zone: state.zone.name }, "building the zone's transfer version failed");
      }
    }
  }

  async *stream(request: TransferRequest): AsyncIterable<Buffer> {
    const axfr = request.query.qtype === TYPE.AXFR;
    let kind = axfr ? "axfr" : "ixfr";
    const state = this.allowed(request);
    if (state === undefined) {
      this.options.metrics.transfer(kind, "refused");
      yield this.error(request, RCODE.REFUSED);
      return;
    }
    const clientSerial = axfr ? undefined : requestSerial(request.query.packet);
    if (!axfr && clientSerial === undefined) {
      this.options.metrics.transfer(kind, "failed");
      yield this.error(request, RCODE.FORMERR);
      return;
    }
    if (!this.options.live.loaded) {
      this.options.metrics.transfer(kind, "failed");
      yield this.error(request, RCODE.SERVFAIL);
      return;
    }
    const source = request.client?.address ?? "";
    if (
      this.active >= this.options.maxConcurrent ||
      (this.activeBySource.get(source) ?? 0) >= this.options.maxConcurrentPerSource
    ) {
      this.options.metrics.transfer(kind, "busy");
      yield this.error(request, RCODE.REFUSED);
      return;
    }
    this.active++;
    this.activeBySource.set(source, (this.activeBySource.get(source) ?? 0) + 1);
    try {
      const version = await this.version(state);
      const soa = (serial: number): ResourceRecord => soaOf(state.zone, serial);
      let records: Iterable<ResourceRecord>;
      if (clientSerial !== undefined && isCurrent(clientSerial, version.serial)) {
        kind = "ixfr-current";
        records = [soa(version.serial)];
      } else {
        const chain = clientSerial === undefined ? undefined : state.journal.since(clientSerial, version.serial);
        if (chain !== undefined) {
          records = incrementalRecords(chain, soa, version.serial);
        } else {
          if (!axfr) kind = "ixfr-full";
          records = fullRecords(version, soa);
        }
      }
      for (const message of transferMessages(request.reply, records, request.reserve)) {
        yield request.sign(message);
      }
      this.options.metrics.transfer(kind, "done");
      this.log.info(
        { zone: state.zone.name, kind, serial: version.serial, client: request.client?.address, key: request.key },
        "zone transfer",
      );
    } catch (err) {
      this.options.metrics.transfer(kind, "failed");
      this.log.error({ err, zone: state.zone.name, kind }, "zone transfer failed");
    } finally {
      this.active--;
      const left = (this.activeBySource.get(source) ?? 1) - 1;
      if (left > 0) this.activeBySource.set(source, left);
      else this.activeBySource.delete(source);
    }
  }

  /** IXFR over UDP: the SOA alone when the client is current, else TC (ask again over TCP). */
  udp(request: TransferRequest): Buffer {
    const state = this.allowed(request);
    if (state === undefined) {
      this.options.metrics.transfer("ixfr-udp", "refused");
      return this.error(request, RCODE.REFUSED);
    }
    const clientSerial = requestSerial(request.query.packet);
    if (clientSerial === undefined) return this.error(request, RCODE.FORMERR);
    if (!this.options.live.loaded) return this.error(request, RCODE.SERVFAIL);
    const serial = zoneSerial(this.options.live.current, state.zone.name);
    this.options.metrics.transfer("ixfr-udp", "done");
    const current = isCurrent(clientSerial, serial);
    const response = this.response(request, RCODE.NOERROR, current ? [soaOf(state.zone, serial)] : []);
    const encoded = encodeResponse(request.reply, response, 512 - request.reserve);
    if (!current) encoded.bytes[2] = encoded.bytes[2]! | TC_BIT;
    return request.sign(encoded.bytes);
  }

  close(): void {
    this.closed = true;
    this.debounce?.cancel();
    this.notifier.close();
  }

  /** NOTIFY tasks not yet acknowledged. */
  get pendingNotifies(): number {
    return this.notifier.pending;
  }

  /** The zone's state when the request may transfer it: the question is its apex, class IN, the ACL allows. */
  private allowed(request: TransferRequest): ZoneState | undefined {
    const name = lookupNameOf(request.reply.questionLabels);
    const state = name === undefined ? undefined : this.states.get(name);
    if (state === undefined || request.query.qclass !== CLASS_IN) return undefined;
    return state.acl.allows(request.client?.address, request.key) ? state : undefined;
  }

  private response(request: TransferRequest, rcode: number, answer: ResourceRecord[]): DnsResponse {
    return {
      rcode,
      authoritative: rcode === RCODE.NOERROR,
      echoQuestion: true,
      answer,
      authority: [],
      additional: [],
      edns: request.query.edns === undefined ? undefined : { payloadSize: 1232, dnssecOk: false },
    };
  }

  private error(request: TransferRequest, rcode: number): Buffer {
    const encoded = encodeResponse(request.reply, this.response(request, rcode, []), 512);
    return request.sign(encoded.bytes);
  }

  /**
   * The zone's version for the index as it is: the latest one when nothing changed since; else the
   * changes applied to it (synchronously); after a reload a full rebuild in slices (one at a time per
   * zone), then the changes that arrived meanwhile.
   */
  private async version(state: ZoneState): Promise<ZoneVersion> {
    for (let attempt = 0; ; attempt++) {
      // A rebuild in flight took the pending changes: wait for it before adding newer ones.
      if (state.building !== undefined) {
        const built = await state.building;
        if (attempt >= 2 && built !== undefined) return built;
        continue;
      }
      const index = this.options.live.current;
      const current = state.current;
      // A change nobody reported (the records' last change moved, no pending change): rebuild rather than
      // serve stale data. A serial marker alone moves the serial, not the content: a new version, same records.
      if (current !== undefined && state.pending !== "all" && state.pending.length === 0) {
        if (current.lastChange !== index.lastChange(state.zone.name)) state.pending = "all";
      }
      if (current !== undefined && state.pending !== "all" && current.index === index) {
        if (state.pending.length === 0 && current.serial === zoneSerial(index, state.zone.name)) return current;
        if (current.holds > 0) {
          // A full transfer reads it: copy it in slices first (applyChanges would copy it in one go).
          const copying = unsharedCopy(current)
            .then((copy) => {
              if (state.current === current) state.current = copy;
              return copy;
            })
            .finally(() => {
              state.building = undefined;
            });
          state.building = copying;
          await copying;
          continue;
        }
        const changes = state.pending;
        state.pending = [];
        const next = applyChanges(current, changes, index, this.options.zones);
        this.record(state, current, next.version, next.diff);
        return next.version;
      }
      state.pending = [];
      // The last attempt walks in one go: the index cannot change under it (it blocks, as a snapshot would).
      const building = this.rebuild(state, index, attempt < 2).finally(() => {
        state.building = undefined;
      });
      state.building = building;
      const built = await building;
      // Changes since are applied on the next turn of the loop; a reload (or too many changes) builds again.
      if (attempt >= 2 && built !== undefined) return built;
    }
  }

  /**
   * A full build. Sliced, the index may change while it walks: the changes that arrived meanwhile (kept in
   * `pending` since the walk began) are applied before the version is used, which makes it the content of
   * the index as it is now (a change the walk already saw applies again to the same result). When they
   * could not be kept (a reload, or more than MAX_PENDING_CHANGES), the walk is no consistent copy: it is
   * dropped (undefined), the previous version stays, and version() builds again (the third time in one go).
   */
  private async rebuild(state: ZoneState, index: RecordIndex, sliced: boolean): Promise<ZoneVersion | undefined> {
    const previous = state.current;
    let version = await buildVersion(index, state.zone, this.options.zones, { sliced });
    if (sliced) {
      const pending = state.pending;
      if (pending === "all" || this.options.live.current !== index) {
        state.pending = "all";
        return undefined;
      }
      state.pending = [];
      if (pending.length > 0) version = applyChanges(version, pending, index, this.options.zones).version;
    }
    const diff = previous === undefined ? undefined : await diffVersions(previous, version);
    this.record(state, previous, version, diff);
    return version;
  }

  /** Makes `version` the zone's current one, journaling the diff from `previous` when its serial is newer. */
  private record(
    state: ZoneState,
    previous: ZoneVersion | undefined,
    version: ZoneVersion,
    diff: Diff | undefined,
  ): void {
    if (previous !== undefined && diff !== undefined) {
      const order = compareSerials(version.serial, previous.serial);
      if (order === 1) state.journal.add(previous.serial, version.serial, diff);
      else if (order !== 0 || diff.added.length + diff.deleted.length > 0) state.journal.clear();
    }
    state.current = version;
  }
}

const TC_BIT = 0x02;

function soaOf(zone: Zone, serial: number): ResourceRecord {
  return { name: zone.name, ttl: zone.soa.minimum, data: { type: TYPE.SOA, serial, ...zone.soa } };
}

/**
 * AXFR form: SOA, every record, SOA (RFC 5936 §2.2). Holds the version while reading it, so the next
 * version is made beside it rather than over it.
 */
function* fullRecords(version: ZoneVersion, soa: (serial: number) => ResourceRecord): Generator<ResourceRecord> {
  version.holds++;
  try {
    yield soa(version.serial);
    yield* versionRecords(version);
    yield soa(version.serial);
  } finally {
    version.holds--;
  }
}

/** The serial of the SOA an IXFR request carries in its authority section (RFC 1995 §3), or undefined. */
export function requestSerial(packet: Buffer): number | undefined {
  if (packet.length < 12 || packet.readUInt16BE(8) < 1) return undefined;
  let offset = 12;
  const question = skipName(packet, offset);
  if (question < 0) return undefined;
  offset = question + 4;
  for (let i = 0; i < packet.readUInt16BE(6); i++) {
    offset = skipRecord(packet, offset);
    if (offset < 0) return undefined;
  }
  const nameEnd = skipName(packet, offset);
  if (nameEnd < 0 || nameEnd + 10 > packet.length || packet.readUInt16BE(nameEnd) !== TYPE.SOA) return undefined;
  const rdata = nameEnd + 10;
  const end = rdata + packet.readUInt16BE(nameEnd + 8);
  if (end > packet.length) return undefined;
  const mname = skipName(packet, rdata);
  const rname = mname < 0 ? -1 : skipName(packet, mname);
  if (rname < 0 || rname + 4 > end) return undefined;
  return packet.readUInt32BE(rname);
}
