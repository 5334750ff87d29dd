// NOTIFY (RFC 1996) to the configured secondaries: one task per zone and secondary, sent over UDP
// (TSIG-signed when the secondary has a key), retried with exponential backoff until the secondary
// acknowledges it; a newer serial arriving meanwhile is what the next attempt announces. Every timer
// goes through the injectable clock.
import { randomInt } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { isIP } from "node:net";
import { CLASS_IN, OPCODE_NOTIFY, RCODE, TYPE } from "../dns/constants.ts";
import { encodeResponse } from "../dns/encode.ts";
import type { ResourceRecord } from "../dns/message.ts";
import type { DnsMetrics } from "../dns/metrics.ts";
import { signRequest, type TsigKey, verifyReply } from "../dns/tsig.ts";
import type { Zone } from "../dns/zones.ts";
import type { Timers } from "../obs/clock.ts";
import { logger } from "../obs/log.ts";

export interface NotifyTarget {
  host: string;
  port: number;
  key: TsigKey | undefined;
}

export interface NotifierOptions {
  timers: Timers;
  metrics: DnsMetrics;
  /** First wait for an acknowledgement; doubled after each unanswered attempt up to retryMaxMs. */
  retryInitialMs: number;
  retryMaxMs: number;
  /** Seconds since the epoch (TSIG). */
  nowSeconds: () => number;
}

interface Task {
  zone: Zone;
  target: NotifyTarget;
  /** The serial to announce. */
  serial: number;
  attempt: number;
  /** The attempt in flight: its id, serial and request MAC (for a signed one). */
  inFlight: { id: number; serial: number; mac: Buffer | undefined } | undefined;
  timer: { cancel(): void } | undefined;
}

const QR_BIT = 0x80;

/** The NOTIFY message for a zone: question (zone, SOA, IN), the new SOA in the answer section (RFC 1996 §3.7). */
export function notifyMessage(id: number, soa: ResourceRecord): Buffer {
  const labels = soa.name.split(".").filter((label) => label !== "");
  const questionWire = Buffer.concat([
    ...labels.flatMap((label) => [Buffer.from([label.length]), Buffer.from(label, "latin1")]),
    Buffer.from([0, 0, TYPE.SOA, 0, CLASS_IN]),
  ]);
  const reply = {
    id,
    opcode: OPCODE_NOTIFY,
    recursionDesired: false,
    checkingDisabled: false,
    questionWire,
    questionLabels: labels,
    questionPlain: true,
    qtype: TYPE.SOA,
    qclass: CLASS_IN,
  };
  const response = {
    rcode: RCODE.NOERROR,
    authoritative: true,
    echoQuestion: true,
    answer: [soa],
    authority: [],
    additional: [],
    edns: undefined,
  };
  const bytes = encodeResponse(reply, response, 512).bytes;
  bytes[2] = bytes[2]! & ~QR_BIT;
  return bytes;
}

export class Notifier {
  private readonly options: NotifierOptions;
  private readonly tasks = new Map<string, Task>();
  /** In-flight attempts by message id. */
  private readonly byId = new Map<number, Task>();
  private readonly sockets = new Map<4 | 6, Socket>();
  private readonly log = logger("xfr.notify");
  private closed = false;

  constructor(options: NotifierOptions) {
    this.options = options;
  }

  /** Announce `serial` of `zone` to each target until acknowledged. */
  notify(zone: Zone, serial: number, soa: (serial: number) => ResourceRecord, targets: readonly NotifyTarget[]): void {
    if (this.closed) return;
    for (const target of targets) {
      const id = `${zone.name} ${target.host}:${target.port}`;
      let task = this.tasks.get(id);
      if (task === undefined) {
        task = { zone, target, serial, attempt: 0, inFlight: undefined, timer: undefined };
        this.tasks.set(id, task);
      }
      task.serial = serial;
      task.attempt = 0;
      if (task.inFlight === undefined) this.send(task, soa);
      else this.soaOf.set(task, soa);
    }
  }

  /** Tasks not yet acknowledged (for tests and diagnostics). */
  get pending(): number {
    return this.tasks.size;
  }

  private readonly soaOf = new WeakMap<Task, (serial: number) => ResourceRecord>();

  private send(task: Task, soa: (serial: number) => ResourceRecord): void {
    if (this.closed) return;
    this.soaOf.set(task, soa);
    if (task.inFlight !== undefined) this.byId.delete(task.inFlight.id);
    let id = randomInt(0, 0x10000);
    while (this.byId.has(id)) id = (id + 1) & 0xffff;
    let bytes = notifyMessage(id, soa(task.serial));
    let mac: Buffer | undefined;
    if (task.target.key !== undefined) {
      const signed = signRequest(bytes, task.target.key, this.options.nowSeconds());
      bytes = signed.bytes;
      mac = signed.mac;
    }
    task.inFlight = { id, serial: task.serial, mac };
    this.byId.set(id, task);
    const family = isIP(task.target.host) === 6 ? 6 : 4;
    this.socket(family).send(bytes, task.target.port, task.target.host, (err) => {
      if (err !== null && err !== undefined) this.log.warn({ err, zone: task.zone.name }, "sending NOTIFY failed");
    });
    const wait = Math.min(this.options.retryMaxMs, this.options.retryInitialMs * 2 ** task.attempt);
    task.timer?.cancel();
    task.timer = this.options.timers.setTimeout(() => {
      this.options.metrics.notify("timeout");
      task.attempt++;
      this.send(task, soa);
    }, wait);
  }

  private socket(family: 4 | 6): Socket {
    let socket = this.sockets.get(family);
    if (socket === undefined) {
      socket = createSocket(family === 6 ? "udp6" : "udp4");
      socket.on("message", (message) => this.reply(message));
      socket.on("error", (err) => this.log.warn({ err }, "NOTIFY socket error"));
      socket.unref();
      this.sockets.set(family, socket);
    }
    return socket;
  }

  private reply(message: Buffer): void {
    if (message.length < 12) return;
    const task = this.byId.get(message.readUInt16BE(0));
    const flags = message[2]!;
    if (task === undefined || task.inFlight === undefined) return;
    if ((flags & QR_BIT) === 0 || ((flags >> 3) & 0x0f) !== OPCODE_NOTIFY) return;
    const key = task.target.key;
    const mac = task.inFlight.mac;
    if (key !== undefined && (mac === undefined || !verifyReply(message, key, mac, this.options.nowSeconds()))) {
      this.log.warn({ zone: task.zone.name, target: task.target.host }, "NOTIFY reply without a valid TSIG; ignored");
      return;
    }
    const rcode = message[3]! & 0x0f;
    this.byId.delete(task.inFlight.id);
    const sent = task.inFlight.serial;
    task.inFlight = undefined;
    task.timer?.cancel();
    task.timer = undefined;
    if (rcode !== RCODE.NOERROR) {
      // Refused or not implemented: keep trying (the secondary may be reconfigured), at the backoff pace.
      this.options.metrics.notify("error");
      this.log.warn({ zone: task.zone.name, target: task.target.host, rcode }, "NOTIFY answered with an error");
      const soa = this.soaOf.get(task);
      const wait = Math.min(this.options.retryMaxMs, this.options.retryInitialMs * 2 ** task.attempt++);
      task.timer = this.options.timers.setTimeout(() => soa !== undefined && this.send(task, soa), wait);
      return;
    }
    this.options.metrics.notify("acked");
    const soa = this.soaOf.get(task);
    if (task.serial !== sent && soa !== undefined) {
      task.attempt = 0;
      this.send(task, soa);
      return;
    }
    this.tasks.delete(`${task.zone.name} ${task.target.host}:${task.target.port}`);
  }

  close(): void {
    this.closed = true;
    for (const task of this.tasks.values()) task.timer?.cancel();
    this.tasks.clear();
    this.byId.clear();
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
  }
}
