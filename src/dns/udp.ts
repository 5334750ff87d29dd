// DNS over UDP: one datagram in, at most one out, answered synchronously.
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { logger } from "../obs/log.ts";
import type { QueryHandler } from "./handler.ts";

const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

export interface UdpTransport {
  port: number;
  close(): Promise<void>;
}

export async function listenUdp(host: string, port: number, handler: QueryHandler): Promise<UdpTransport> {
  const log = logger("dns-udp");
  const family = isIPv6(host) ? 6 : 4;
  const socket: Socket = createSocket({
    type: family === 6 ? "udp6" : "udp4",
    // Replies go to the sender's literal address: resolve it synchronously, or dgram defers every send a tick.
    lookup: (address, _options, callback) => callback(null, address, family),
  });
  socket.on("message", (packet, remote) => {
    const reply = handler.handle(packet, "udp", remote);
    // Without a callback a failed send surfaces as an "error" event (logged below, rate-limited).
    if (reply !== undefined) socket.send(reply, remote.port, remote.address);
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error): void => {
      // Bind failed (port taken): release the socket rather than leave it open behind the error.
      socket.close();
      reject(err);
    };
    socket.once("error", failed);
    socket.bind(port, host, () => {
      socket.off("error", failed);
      resolve();
    });
  });
  let lastErrorLog = 0;
  socket.on("error", (err) => {
    const now = Date.now();
    if (now - lastErrorLog > 1000) {
      lastErrorLog = now;
      log.warn({ err }, "UDP socket error");
    }
  });
  try {
    socket.setRecvBufferSize(SOCKET_BUFFER_BYTES);
    socket.setSendBufferSize(SOCKET_BUFFER_BYTES);
  } catch (err) {
    log.debug({ err }, "could not enlarge UDP socket buffers");
  }
  return {
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
