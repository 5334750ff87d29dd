// DNS over TCP (RFC 7766): 2-byte length framing, several queries per connection answered in
// order (pipelining), an idle timeout, a cap on connections, and bounded buffering both ways: once
// replies the client has not read pass a high-water mark we stop answering and stop reading; the
// queries already received wait (at most one read's worth plus one frame) until the socket drains.
import { createServer, type Server, type Socket } from "node:net";
import { logger } from "../obs/log.ts";
import type { ClientAddress, QueryHandler } from "./handler.ts";
import type { DnsMetrics } from "./metrics.ts";

export interface TcpOptions {
  idleTimeoutMs: number;
  maxConnections: number;
}

export const TCP_DEFAULTS: TcpOptions = { idleTimeoutMs: 10_000, maxConnections: 1000 };

/** Replies queued for a slow reader before we stop answering (and reading) its queries. */
export const WRITE_HIGH_WATER = 256 * 1024;
/** Largest reply frame: 2-byte length plus a message of at most 65535 bytes. */
const MAX_FRAME = 2 + 0xffff;
/**
 * Received bytes not yet answered, at most: one socket read (64 KiB) plus an unfinished frame. Reading
 * is paused whenever we hold complete frames back, so only a misbehaving stream could pass this.
 */
export const MAX_PENDING_INPUT = 64 * 1024 + MAX_FRAME;

/** High-water marks over all connections so far (for tests and diagnostics). */
export interface TcpBufferStats {
  /** Most reply bytes queued in one socket's write buffer (bounded by WRITE_HIGH_WATER plus one frame). */
  maxQueuedReplyBytes: number;
  /** Most received bytes held unanswered for one connection (bounded by MAX_PENDING_INPUT). */
  maxPendingQueryBytes: number;
}

export interface TcpTransport {
  port: number;
  stats(): TcpBufferStats;
  close(): Promise<void>;
}

export async function listenTcp(
  host: string,
  port: number,
  handler: QueryHandler,
  metrics: DnsMetrics,
  options: TcpOptions,
): Promise<TcpTransport> {
  const log = logger("dns-tcp");
  const sockets = new Set<Socket>();
  const stats: TcpBufferStats = { maxQueuedReplyBytes: 0, maxPendingQueryBytes: 0 };
  const server: Server = createServer({ noDelay: true }, (socket) => {
    if (sockets.size >= options.maxConnections) {
      log.debug({ remote: socket.remoteAddress }, "TCP connection cap reached; closing new connection");
      socket.destroy();
      return;
    }
    sockets.add(socket);
    metrics.tcpConnectionOpened();
    socket.once("close", () => {
      sockets.delete(socket);
      metrics.tcpConnectionClosed();
    });
    serveConnection(socket, handler, options.idleTimeoutMs, stats);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => log.error({ err }, "TCP server error"));
  const address = server.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : port,
    stats: () => ({ ...stats }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function serveConnection(socket: Socket, handler: QueryHandler, idleTimeoutMs: number, stats: TcpBufferStats): void {
  // Received bytes from `offset` on are not answered yet: complete frames held back while the client
  // is not reading, and/or the start of an unfinished frame.
  let input: Buffer = Buffer.alloc(0);
  let offset = 0;
  /** True while replies wait for 'drain': reading is paused and held-back frames stay in `input`. */
  let blocked = false;
  const client: ClientAddress = { address: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };

  const answerPending = (): void => {
    while (!socket.destroyed) {
      if (socket.writableLength > WRITE_HIGH_WATER) {
        // The client is not reading its replies: answer nothing more until the socket drains
        // ('drain' follows, since the write that got us here returned false).
        blocked = true;
        socket.pause();
        return;
      }
      const available = input.length - offset;
      if (available < 2) break;
      const length = input.readUInt16BE(offset);
      if (available - 2 < length) break;
      const reply = handler.handle(input.subarray(offset + 2, offset + 2 + length), "tcp", client);
      offset += 2 + length;
      if (reply !== undefined) {
        const framed = Buffer.allocUnsafe(reply.length + 2);
        framed.writeUInt16BE(reply.length, 0);
        reply.copy(framed, 2);
        socket.write(framed);
        if (socket.writableLength > stats.maxQueuedReplyBytes) stats.maxQueuedReplyBytes = socket.writableLength;
      }
    }
    // Keep only the unfinished frame (at most 2 + 65535 bytes); copy so the chunk can be freed.
    input = offset >= input.length ? Buffer.alloc(0) : Buffer.from(input.subarray(offset));
    offset = 0;
    if (blocked) {
      blocked = false;
      socket.resume();
    }
  };

  socket.setTimeout(idleTimeoutMs, () => socket.destroy());
  socket.on("error", () => socket.destroy());
  socket.on("drain", () => {
    if (blocked) answerPending();
  });
  socket.on("data", (chunk: Buffer) => {
    input = input.length === offset ? chunk : Buffer.concat([input.subarray(offset), chunk]);
    offset = 0;
    if (input.length > stats.maxPendingQueryBytes) stats.maxPendingQueryBytes = input.length;
    if (input.length > MAX_PENDING_INPUT) {
      // Not reachable with a paused stream; refuse rather than buffer without limit if it ever is.
      socket.destroy();
      return;
    }
    if (!blocked) answerPending();
  });
}
