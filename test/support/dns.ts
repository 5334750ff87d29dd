// DNS test helpers: run dig/kdig and parse what they print, build raw queries, and send raw
// packets over UDP and TCP (for malformed input and pipelining that the tools cannot produce).
import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { connect, type Socket } from "node:net";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface DnsServerAddress {
  host: string;
  port: number;
}

export interface DigRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DigResult {
  status: string;
  flags: string[];
  answer: DigRecord[];
  authority: DigRecord[];
  additional: DigRecord[];
  /** The question name as echoed by the server. */
  question: string | undefined;
  raw: string;
}

export interface DigOptions {
  tcp?: boolean;
  /** Extra tool options, e.g. "+bufsize=512", "+noedns", "+ignore". */
  extra?: string[];
}

/** `dig @server name type`, with comments kept so status, flags and sections can be read. */
export async function dig(
  server: DnsServerAddress,
  name: string,
  type = "A",
  options: DigOptions = {},
): Promise<DigResult> {
  const args = [
    `@${server.host}`,
    "-p",
    String(server.port),
    name,
    type,
    "+norec",
    "+nocookie",
    "+time=2",
    "+tries=1",
    options.tcp ? "+tcp" : "+notcp",
    ...(options.extra ?? []),
  ];
  const { stdout } = await run("dig", args, { timeout: 10_000 });
  return parseDigOutput(stdout);
}

/** `kdig @server name type` (Knot's client): an independent parser of our replies. */
export async function kdig(
  server: DnsServerAddress,
  name: string,
  type = "A",
  options: DigOptions = {},
): Promise<DigResult> {
  const args = [
    `@${server.host}`,
    "-p",
    String(server.port),
    name,
    type,
    "+norec",
    "+time=2",
    "+retry=0",
    ...(options.tcp ? ["+tcp"] : ["+notcp"]),
    ...(options.extra ?? []),
  ];
  const { stdout } = await run("kdig", args, { timeout: 10_000 });
  return parseDigOutput(stdout);
}

/**
 * Many questions in one `kdig` run (one process instead of one per question); replies in question
 * order. Throws when a reply is missing (timeout) or answers another question than asked.
 */
export async function kdigMany(
  server: DnsServerAddress,
  questions: readonly { name: string; type: string }[],
  options: DigOptions = {},
): Promise<DigResult[]> {
  const args = [
    `@${server.host}`,
    "-p",
    String(server.port),
    "+norec",
    "+time=2",
    "+retry=1",
    ...(options.tcp ? ["+tcp"] : ["+notcp"]),
    ...(options.extra ?? []),
    ...questions.flatMap((question) => [question.name, question.type]),
  ];
  const { stdout } = await run("kdig", args, { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  const replies = stdout
    .split(/^(?=;; ->>HEADER<<-)/m)
    .filter((chunk) => chunk.startsWith(";; ->>HEADER<<-"))
    .map((chunk) => ({ ...parseDigOutput(chunk), question: /QUESTION SECTION:\n;;?\s*(\S+)/.exec(chunk)?.[1] }));
  if (replies.length !== questions.length) {
    throw new Error(`kdig: ${replies.length} replies to ${questions.length} questions:\n${stdout.slice(-2000)}`);
  }
  for (const [position, reply] of replies.entries()) {
    const asked = questions[position]!.name.replace(/\.?$/, ".").toLowerCase();
    if (reply.question?.toLowerCase() !== asked)
      throw new Error(`kdig: reply ${position} is for ${reply.question}, asked ${asked}`);
  }
  return replies;
}

/** Reads dig's and kdig's presentation output (they differ only in punctuation of the header lines). */
export function parseDigOutput(output: string): DigResult {
  const result: DigResult = {
    status: /status: ([A-Z]+)/.exec(output)?.[1] ?? "NONE",
    flags: (/;; [Ff]lags: ([a-z ]*)[;]/.exec(output)?.[1] ?? "").trim().split(/\s+/).filter(Boolean),
    answer: [],
    authority: [],
    additional: [],
    question: undefined,
    raw: output,
  };
  let section: "question" | "answer" | "authority" | "additional" | undefined;
  for (const line of output.split("\n")) {
    const heading = /^;; (QUESTION|ANSWER|AUTHORITY|ADDITIONAL) SECTION/.exec(line);
    if (heading) {
      section = heading[1]!.toLowerCase() as typeof section;
      continue;
    }
    if (line.startsWith(";;") || line.trim() === "") {
      if (line.trim() === "") section = section === "question" ? undefined : section;
      continue;
    }
    if (section === "question") {
      result.question = line.replace(/^;/, "").trim().split(/\s+/)[0];
      continue;
    }
    if (section === undefined || line.startsWith(";")) continue;
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const [name, ttl, klass, type, ...data] = fields as [string, string, string, string, ...string[]];
    if (klass !== "IN") continue;
    result[section].push({ name, ttl: Number(ttl), type, data: data.join(" ") });
  }
  return result;
}

export interface QueryOptions {
  id?: number;
  qclass?: number;
  recursionDesired?: boolean;
  opcode?: number;
  /** Adds an OPT record with this payload size. */
  ednsPayload?: number;
  ednsVersion?: number;
  dnssecOk?: boolean;
}

/** A query packet in wire format. */
export function buildQuery(name: string, qtype: number, options: QueryOptions = {}): Buffer {
  const labels = name.replace(/\.$/, "").split(".").filter(Boolean);
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(options.id ?? 0x1234, 0);
  header[2] = ((options.opcode ?? 0) << 3) | (options.recursionDesired ? 1 : 0);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(options.ednsPayload === undefined ? 0 : 1, 10);
  parts.push(header);
  for (const label of labels) parts.push(Buffer.from([label.length]), Buffer.from(label, "latin1"));
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(qtype, 1);
  tail.writeUInt16BE(options.qclass ?? 1, 3);
  parts.push(tail);
  if (options.ednsPayload !== undefined) {
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(options.ednsPayload, 3);
    opt[6] = options.ednsVersion ?? 0;
    opt[7] = options.dnssecOk ? 0x80 : 0;
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

/** Sends one datagram and waits for one reply (undefined on timeout). */
export async function sendUdp(server: DnsServerAddress, packet: Buffer, timeoutMs = 1000): Promise<Buffer | undefined> {
  const socket = createSocket(server.host.includes(":") ? "udp6" : "udp4");
  try {
    return await new Promise<Buffer | undefined>((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      socket.once("message", (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      socket.once("error", reject);
      socket.send(packet, server.port, server.host);
    });
  } finally {
    socket.close();
  }
}

/** A DNS-over-TCP client that frames queries and collects framed replies in arrival order. */
export class TcpDnsClient {
  readonly replies: Buffer[] = [];
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  readonly socket: Socket;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 2 && this.buffer.length >= 2 + this.buffer.readUInt16BE(0)) {
        const length = this.buffer.readUInt16BE(0);
        this.replies.push(this.buffer.subarray(2, 2 + length));
        this.buffer = this.buffer.subarray(2 + length);
      }
      this.notify();
    });
    socket.on("close", () => {
      this.closed = true;
      this.notify();
    });
    socket.on("error", () => undefined);
  }

  static async connect(server: DnsServerAddress): Promise<TcpDnsClient> {
    const socket = connect(server.port, server.host);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new TcpDnsClient(socket);
  }

  /** Writes raw bytes (frames or garbage). */
  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  send(...packets: Buffer[]): void {
    this.writeRaw(Buffer.concat(packets.map((packet) => frame(packet))));
  }

  /** Resolves when `count` replies have arrived, or the connection closed, or the timeout passed. */
  async waitFor(count: number, timeoutMs = 2000): Promise<Buffer[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length < count && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.replies.slice(0, count);
  }

  close(): void {
    this.socket.destroy();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

export function frame(packet: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(packet.length);
  return Buffer.concat([length, packet]);
}

/** Header fields of a reply. */
export function replyHeader(reply: Buffer): {
  id: number;
  flags: number;
  rcode: number;
  tc: boolean;
  aa: boolean;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
} {
  return {
    id: reply.readUInt16BE(0),
    flags: reply.readUInt16BE(2),
    rcode: reply[3]! & 0x0f,
    tc: (reply[2]! & 0x02) !== 0,
    aa: (reply[2]! & 0x04) !== 0,
    qdcount: reply.readUInt16BE(4),
    ancount: reply.readUInt16BE(6),
    nscount: reply.readUInt16BE(8),
    arcount: reply.readUInt16BE(10),
  };
}

/** A RecordIndex filled with `{ "/skydns/com/example/x": { host: "10.0.0.1" } }` style entries. */
export async function indexWith(
  entries: Record<string, object | string>,
  prefix = "/skydns",
): Promise<import("../../src/records/index.ts").RecordIndex> {
  const { RecordIndex } = await import("../../src/records/index.ts");
  const index = new RecordIndex({ prefix });
  let revision = 1;
  index.apply(
    Object.entries(entries).map(([key, value]) => ({
      type: "put" as const,
      key,
      value: typeof value === "string" ? value : JSON.stringify(value),
      revision: revision++,
    })),
  );
  return index;
}
