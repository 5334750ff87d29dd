// A lean etcd range reader for the loader worker (issue 8): one gRPC channel (@grpc/grpc-js, which the etcd3
// package runs on) and a hand-written codec of the few protobuf messages a paged read needs (RangeRequest,
// RangeResponse, AuthenticateRequest/Response of etcd's v3 API). The etcd3 client decodes every key-value into
// an object with Buffers and 64-bit Longs turned into strings, ~1.3 s of CPU at 650k keys; this one reads
// the response bytes straight into the key and value strings and a number. Same connection settings as
// etcd-kv.ts (endpoints tried in order, TLS files, user and password: a token from Authenticate on each
// endpoint), same paging (range-split.ts pagedRange). Only ranges: the watch and all writes stay with etcd3.
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type { EtcdOptions } from "./etcd-kv.ts";
import type { RangeOptions, RangeResult } from "./kv.ts";
import { type FetchedRange, pagedRange } from "./range-split.ts";

const DEFAULT_TIMEOUT_MS = 5000;
const MAX_RECEIVE = 512 * 1024 * 1024;

/** Protobuf varint at `at`: [value, next offset]. Values up to 2^53 are exact (etcd revisions are far below). */
function varint(buffer: Buffer, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buffer.length && i < at + 10; i++) {
    const byte = buffer[i]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, i + 1];
    scale *= 128;
  }
  throw new Error("protobuf: truncated varint");
}

/** Skips a field of `wire` type at `at`; returns the next offset. */
function skip(buffer: Buffer, wire: number, at: number): number {
  if (wire === 0) return varint(buffer, at)[1];
  if (wire === 1) return at + 8;
  if (wire === 5) return at + 4;
  if (wire === 2) {
    const [length, from] = varint(buffer, at);
    return from + length;
  }
  throw new Error(`protobuf: unsupported wire type ${wire}`);
}

/** Calls `field(number, wire, at, end)` for each field of the message in [start, end); it returns the next offset. */
function fields(
  buffer: Buffer,
  start: number,
  end: number,
  field: (number: number, wire: number, at: number) => number,
): void {
  let at = start;
  while (at < end) {
    const [tag, next] = varint(buffer, at);
    at = field(tag >>> 3, tag & 7, next);
    if (at > end) throw new Error("protobuf: field past the end of its message");
  }
}

function lengthAt(buffer: Buffer, at: number): [number, number] {
  const [length, from] = varint(buffer, at);
  if (from + length > buffer.length) throw new Error("protobuf: truncated field");
  return [from, from + length];
}

function writeVarint(out: number[], value: number): void {
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

function bytesField(number: number, bytes: Buffer): Buffer {
  const head: number[] = [];
  writeVarint(head, (number << 3) | 2);
  writeVarint(head, bytes.length);
  return Buffer.concat([Buffer.from(head), bytes]);
}

function varintField(number: number, value: number): Buffer {
  const out: number[] = [];
  writeVarint(out, number << 3);
  writeVarint(out, value);
  return Buffer.from(out);
}

/** etcdserverpb.RangeRequest: key 1, range_end 2, limit 3, revision 4. */
export function encodeRangeRequest(key: Buffer, end: Buffer, limit: number, revision: number): Buffer {
  const parts = [bytesField(1, key), bytesField(2, end)];
  if (limit > 0) parts.push(varintField(3, limit));
  if (revision > 0) parts.push(varintField(4, revision));
  return Buffer.concat(parts);
}

/**
 * etcdserverpb.RangeResponse: header 1 (ResponseHeader: revision 3), kvs 2 (mvccpb.KeyValue: key 1,
 * mod_revision 3, value 5), more 3. Keys and values decoded as UTF-8 (as Buffer#toString does).
 */
export function decodeRangeResponse(buffer: Buffer): FetchedRange {
  let headerRevision = 0;
  let more = false;
  const kvs: FetchedRange["kvs"] = [];
  let first: Buffer | undefined;
  let lastStart = 0;
  let lastEnd = 0;
  fields(buffer, 0, buffer.length, (number, wire, at) => {
    if (number === 1 && wire === 2) {
      const [from, to] = lengthAt(buffer, at);
      fields(buffer, from, to, (inner, innerWire, innerAt) => {
        if (inner === 3 && innerWire === 0) {
          const [value, next] = varint(buffer, innerAt);
          headerRevision = value;
          return next;
        }
        return skip(buffer, innerWire, innerAt);
      });
      return to;
    }
    if (number === 2 && wire === 2) {
      const [from, to] = lengthAt(buffer, at);
      let key = "";
      let value = "";
      let modRevision = 0;
      let keyStart = from;
      let keyEnd = from;
      fields(buffer, from, to, (inner, innerWire, innerAt) => {
        if ((inner === 1 || inner === 5) && innerWire === 2) {
          const [start, end] = lengthAt(buffer, innerAt);
          if (inner === 1) {
            key = buffer.toString("utf8", start, end);
            keyStart = start;
            keyEnd = end;
          } else value = buffer.toString("utf8", start, end);
          return end;
        }
        if (inner === 3 && innerWire === 0) {
          const [revision, next] = varint(buffer, innerAt);
          modRevision = revision;
          return next;
        }
        return skip(buffer, innerWire, innerAt);
      });
      if (kvs.length === 0) first = Buffer.from(buffer.subarray(keyStart, keyEnd));
      lastStart = keyStart;
      lastEnd = keyEnd;
      kvs.push({ key, value, modRevision });
      return to;
    }
    if (number === 3 && wire === 0) {
      const [value, next] = varint(buffer, at);
      more = value !== 0;
      return next;
    }
    return skip(buffer, wire, at);
  });
  // range-split reads only the first and last raw keys and the count.
  const keys: { [index: number]: Buffer; length: number } = { length: kvs.length };
  if (first !== undefined) {
    keys[0] = first;
    keys[kvs.length - 1] = kvs.length === 1 ? first : Buffer.from(buffer.subarray(lastStart, lastEnd));
  }
  return { headerRevision, kvs, keys, more };
}

function decodeToken(buffer: Buffer): string {
  let token = "";
  fields(buffer, 0, buffer.length, (number, wire, at) => {
    if (number === 2 && wire === 2) {
      const [from, to] = lengthAt(buffer, at);
      token = buffer.toString("utf8", from, to);
      return to;
    }
    return skip(buffer, wire, at);
  });
  return token;
}

const identity = (buffer: Buffer): Buffer => buffer;

/** Range reads over one endpoint at a time (the first that answers), with etcd-kv.ts's settings. */
export class EtcdRangeReader {
  readonly description: string;
  private readonly options: EtcdOptions;
  private client: grpc.Client | undefined;
  private metadata = new grpc.Metadata();
  private endpoint = 0;

  constructor(options: EtcdOptions) {
    if (options.endpoints.length === 0) throw new Error("etcd: no endpoints configured");
    this.options = options;
    this.description = `etcd ${options.endpoints.join(",")}`;
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    try {
      return await pagedRange(prefix, options, async (start, end, limit, revision) => {
        const request = encodeRangeRequest(start, end, limit, revision);
        return decodeRangeResponse(await this.call("/etcdserverpb.KV/Range", request));
      });
    } catch (err) {
      throw new Error(`${this.description}: range ${prefix}: ${(err as Error).message}`, { cause: err });
    }
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }

  /** A unary call on the current endpoint; the first call tries each endpoint in turn until one answers. */
  private async call(method: string, request: Buffer): Promise<Buffer> {
    if (this.client !== undefined) return this.unary(this.client, method, request, this.metadata);
    let lastError: unknown;
    for (let tried = 0; tried < this.options.endpoints.length; tried++) {
      const client = this.connect(this.options.endpoints[this.endpoint]!);
      try {
        const metadata = await this.authenticate(client);
        const response = await this.unary(client, method, request, metadata);
        this.client = client;
        this.metadata = metadata;
        return response;
      } catch (err) {
        client.close();
        lastError = err;
        this.endpoint = (this.endpoint + 1) % this.options.endpoints.length;
      }
    }
    throw lastError;
  }

  private connect(endpoint: string): grpc.Client {
    const url = new URL(endpoint.includes("://") ? endpoint : `http://${endpoint}`);
    const tls = this.options.tls;
    const credentials =
      url.protocol === "https:" || tls !== undefined
        ? grpc.credentials.createSsl(
            tls?.caFile === undefined ? null : readFileSync(tls.caFile),
            tls?.keyFile === undefined ? null : readFileSync(tls.keyFile),
            tls?.certFile === undefined ? null : readFileSync(tls.certFile),
          )
        : grpc.credentials.createInsecure();
    return new grpc.Client(url.host, credentials, { "grpc.max_receive_message_length": MAX_RECEIVE });
  }

  private async authenticate(client: grpc.Client): Promise<grpc.Metadata> {
    const metadata = new grpc.Metadata();
    if (this.options.username === undefined) return metadata;
    const request = Buffer.concat([
      bytesField(1, Buffer.from(this.options.username)),
      bytesField(2, Buffer.from(this.options.password ?? "")),
    ]);
    const token = decodeToken(await this.unary(client, "/etcdserverpb.Auth/Authenticate", request, metadata));
    metadata.set("token", token);
    return metadata;
  }

  private unary(client: grpc.Client, method: string, request: Buffer, metadata: grpc.Metadata): Promise<Buffer> {
    const deadline = Date.now() + (this.options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(method, identity, identity, request, metadata, { deadline }, (err, response) => {
        if (err !== null || response === undefined) reject(err ?? new Error("empty response"));
        else resolve(response);
      });
    });
  }
}
