// DNS over TCP (RFC 7766): 2-byte length framing, several queries per connection answered in
// order (pipelining), an idle timeout, caps on connections (overall and per source address), a
// per-message deadline, and bounded buffering both ways: once replies the client has not read pass
// a high-water mark we stop answering and stop reading; the queries already received wait (at most
// one read's worth plus one frame) until the socket drains.
//
// The deadline (Knot's tcp-io-timeout): once the first byte of a message (its length prefix) has
// arrived, the whole message must arrive within `messageTimeoutMs`, or the connection is closed. A
// client trickling a byte at a time cannot hold a connection for longer than that, and the
// per-source cap keeps one address from taking every slot meanwhile. Refusing is cheap: past either
// cap, node:net closes the new connection on its raw handle (see tcp-admission.ts).
import { createServer, type Server, type Socket } from "node:net";
import { yieldToLoop } from "../obs/clock.ts";
import { logger } from "../obs/log.ts";
import type { ClientAddress, QueryHandler } from "./handler.ts";
import type { DnsMetrics } from "./metrics.ts";
import { SourceAdmission } from "./tcp-admission.ts";

export interface TcpOptions {
  /** No byte received (and nothing pending) for this long: the connection is closed. */
  idleTimeoutMs: number;
  /** Open connections, at most (new ones past the cap are closed at once). */
  maxConnections: number;
  /** Open connections from one source address, at most. */
  maxConnectionsPerSource: number;
  /** A started message (length prefix included) must be complete within this time. */
  messageTimeoutMs: number;
}

export const TCP_DEFAULTS: TcpOptions = {
  idleTimeoutMs: 10_000,
  maxConnections: 1000,
  maxConnectionsPerSource: 32,
  messageTimeoutMs: 500,
};

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
    const source = socket.remoteAddress ?? "";
    if (admission.admit(source, socket.remoteFamily) !== undefined) {
      metrics.tcpRefused("source");
      log.debug({ remote: source, cap: "source" }, "TCP per-source connection cap reached; closing new connection");
      socket.destroy();
      return;
    }
    sockets.add(socket);
    metrics.tcpConnectionOpened();
    socket.once("close", () => {
      sockets.delete(socket);
      admission.release(source);
      metrics.tcpConnectionClosed();
    });
    serveConnection(socket, handler, metrics, options, stats);
  });
  // Both caps refuse on the raw handle where they can (no Socket, no listeners, no timers): node closes
  // connections past maxConnections itself ('drop'), and those of a source at its cap (tcp-admission.ts).
  // (`blockList` is the createServer option; node reads the property per connection, @types/node omits it.)
  const admission = new SourceAdmission((list, sources) => {
    Object.assign(server, { blockList: list });
    metrics.tcpSourcesAtCap(sources);
  }, options.maxConnectionsPerSource);
  server.maxConnections = options.maxConnections;
  server.on("drop", () => metrics.tcpRefused("global"));
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

function serveConnection(
  socket: Socket,
  handler: QueryHandler,
  metrics: DnsMetrics,
  options: TcpOptions,
  stats: TcpBufferStats,
): void {
  // Received bytes from `offset` on are not answered yet: complete frames held back while the client
  // is not reading, and/or the start of an unfinished frame.
  let input: Buffer = Buffer.alloc(0);
  let offset = 0;
  /** True while replies wait for 'drain': reading is paused and held-back frames stay in `input`. */
  let blocked = false;
  /** True while a zone transfer streams its messages: reading is paused, later queries wait their turn. */
  let streaming = false;
  /** Frames answered so far (tells a new partial message from the one the deadline already runs for). */
  let consumed = 0;
  const client: ClientAddress = { address: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
  /** Runs while a message is partly received; restarted for each new message. */
  let messageTimer: NodeJS.Timeout | undefined;
  const stopMessageTimer = (): void => {
    if (messageTimer !== undefined) clearTimeout(messageTimer);
    messageTimer = undefined;
  };
  const startMessageTimer = (): void => {
    stopMessageTimer();
    messageTimer = setTimeout(() => {
      metrics.tcpMessageTimeout();
      socket.destroy();
    }, options.messageTimeoutMs);
  };

  /** Answers the complete frames received; true when at least one frame was consumed. */
  const answerPending = (): boolean => {
    const consumedBefore = consumed;
    while (!socket.destroyed) {
      if (socket.writableLength > WRITE_HIGH_WATER) {
        // The client is not reading its replies: answer nothing more until the socket drains
        // ('drain' follows, since the write that got us here returned false).
        blocked = true;
        socket.pause();
        return consumed !== consumedBefore;
      }
      const available = input.length - offset;
      if (available < 2) break;
      const length = input.readUInt16BE(offset);
      if (available - 2 < length) break;
      const frame = input.subarray(offset + 2, offset + 2 + length);
      const transfer = handler.transfer(frame, client);
      if (transfer !== undefined) {
        offset += 2 + length;
        consumed++;
        streaming = true;
        socket.pause();
        void streamTransfer(socket, transfer).finally(() => {
          streaming = false;
          if (socket.destroyed) return;
          socket.resume();
          answerAndTime();
        });
        break;
      }
      const reply = handler.handle(frame, "tcp", client);
      offset += 2 + length;
      consumed++;
      if (reply !== undefined) {
        writeFramed(socket, reply);
        if (socket.writableLength > stats.maxQueuedReplyBytes) stats.maxQueuedReplyBytes = socket.writableLength;
      }
    }
    // Keep only the unfinished frame (at most 2 + 65535 bytes); copy so the chunk can be freed.
    input = offset >= input.length ? Buffer.alloc(0) : Buffer.from(input.subarray(offset));
    offset = 0;
    if (blocked && !streaming) {
      blocked = false;
      socket.resume();
    }
    return consumed !== consumedBefore;
  };

  /** After answering: a partly received message keeps (or, when it is a new one, restarts) the deadline. */
  const answerAndTime = (): void => {
    if (streaming) return;
    const progressed = answerPending();
    if (blocked || streaming || input.length === offset) stopMessageTimer();
    else if (progressed || messageTimer === undefined) startMessageTimer();
  };

  socket.setTimeout(options.idleTimeoutMs, () => socket.destroy());
  socket.on("error", () => socket.destroy());
  socket.once("close", stopMessageTimer);
  socket.on("drain", () => {
    if (blocked) answerAndTime();
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
    if (!blocked && !streaming) answerAndTime();
  });
}

/** Writes one DNS message with its two-byte length prefix (RFC 1035 §4.2.2). */
function writeFramed(socket: Socket, message: Buffer): void {
  const framed = Buffer.allocUnsafe(message.length + 2);
  framed.writeUInt16BE(message.length, 0);
  message.copy(framed, 2);
  socket.write(framed);
}

/**
 * Writes a transfer's messages as the client reads them: past the high-water mark it waits for
 * 'drain' (or the connection's end) before taking the next message from the stream.
 */
async function streamTransfer(socket: Socket, messages: AsyncIterable<Buffer>): Promise<void> {
  try {
    for await (const message of messages) {
      if (socket.destroyed) break;
      writeFramed(socket, message);
      // Let other connections and timers run between messages (encoding one takes a few ms).
      if (socket.writableLength > WRITE_HIGH_WATER) await drained(socket);
      else await yieldToLoop();
    }
  } catch (err) {
    logger("dns-tcp").error({ err }, "zone transfer stream failed; closing the connection");
    socket.destroy();
  }
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.on("drain", done);
    socket.on("close", done);
  });
}
