// DNS over TCP (RFC 7766): 2-byte length framing, several queries per connection answered in
// order (pipelining), an idle timeout, a cap on connections, and bounded buffering both ways:
// at most one partial frame is kept, and reading pauses while the client does not read replies.
import { createServer, type Server, type Socket } from "node:net";
import { logger } from "../obs/log.ts";
import type { QueryHandler } from "./handler.ts";
import type { DnsMetrics } from "./metrics.ts";

export interface TcpOptions {
  idleTimeoutMs: number;
  maxConnections: number;
}

export const TCP_DEFAULTS: TcpOptions = { idleTimeoutMs: 10_000, maxConnections: 1000 };

/** Replies queued for a slow reader before we stop reading its queries. */
const WRITE_HIGH_WATER = 256 * 1024;

export interface TcpTransport {
  port: number;
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
    serveConnection(socket, handler, options.idleTimeoutMs);
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function serveConnection(socket: Socket, handler: QueryHandler, idleTimeoutMs: number): void {
  let pending: Buffer | undefined;
  socket.setTimeout(idleTimeoutMs, () => socket.destroy());
  socket.on("error", () => socket.destroy());
  socket.on("drain", () => socket.resume());
  socket.on("data", (chunk: Buffer) => {
    let buffer = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    pending = undefined;
    let offset = 0;
    while (buffer.length - offset >= 2) {
      const length = buffer.readUInt16BE(offset);
      if (buffer.length - offset - 2 < length) break;
      const reply = handler.handle(buffer.subarray(offset + 2, offset + 2 + length), "tcp");
      offset += 2 + length;
      if (reply !== undefined && !socket.destroyed) {
        const framed = Buffer.allocUnsafe(reply.length + 2);
        framed.writeUInt16BE(reply.length, 0);
        reply.copy(framed, 2);
        if (!socket.write(framed) && socket.writableLength > WRITE_HIGH_WATER) socket.pause();
      }
    }
    if (offset < buffer.length) {
      // Keep only the unfinished frame (at most 2 + 65535 bytes); copy so the chunk can be freed.
      buffer = buffer.subarray(offset);
      pending = Buffer.from(buffer);
    }
  });
}
