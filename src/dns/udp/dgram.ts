// The node:dgram UDP transport: one recvmsg and one sendmsg per datagram, each datagram a batch of one.
// The fallback wherever the native addon is not built or cannot load.
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { logger } from "../../obs/log.ts";
import type { Datagram, UdpListenOptions, UdpTransport, UdpTransportStats } from "./transport.ts";

const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
const ERROR_LOG_INTERVAL_MS = 1000;

export async function listenDgram(options: UdpListenOptions): Promise<UdpTransport> {
  const log = logger("dns-udp");
  const family = isIPv6(options.host) ? 6 : 4;
  const socket: Socket = createSocket({
    type: family === 6 ? "udp6" : "udp4",
    reusePort: options.reusePort ?? false,
    // Replies go to the sender's literal address: resolve it synchronously, or dgram defers every send a tick.
    lookup: (address, _options, callback) => callback(null, address, family),
  });
  const counts = { received: 0, sent: 0, sendErrors: 0, receiveErrors: 0 };
  const datagram: Datagram = { data: Buffer.alloc(0), address: "", port: 0, family };
  const batch: readonly Datagram[] = [datagram];
  let remote: RemoteInfo | undefined;
  const reply = (index: number, data: Buffer): void => {
    if (index !== 0 || remote === undefined) throw new RangeError(`no datagram ${index} in this batch`);
    // Without a callback a failed send surfaces as an "error" event (counted and logged below).
    socket.send(data, remote.port, remote.address);
    counts.sent++;
    remote = undefined;
  };
  socket.on("message", (packet, from) => {
    counts.received++;
    datagram.data = packet;
    datagram.address = from.address;
    datagram.port = from.port;
    datagram.family = from.family === "IPv6" ? 6 : 4;
    remote = from;
    try {
      options.onBatch(batch, reply);
    } finally {
      remote = undefined;
    }
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error): void => {
      // Bind failed (port taken): release the socket rather than leave it open behind the error.
      socket.close();
      reject(err);
    };
    socket.once("error", failed);
    socket.bind(options.port, options.host, () => {
      socket.off("error", failed);
      resolve();
    });
  });
  let lastErrorLog = 0;
  socket.on("error", (err) => {
    counts.sendErrors++;
    const now = Date.now();
    if (now - lastErrorLog > ERROR_LOG_INTERVAL_MS) {
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
  const port = socket.address().port;
  let closed: Promise<void> | undefined;
  return {
    kind: "dgram",
    port,
    stats: (): UdpTransportStats => ({
      ...counts,
      batches: counts.received,
      truncated: 0,
      dropped: 0,
      queued: 0,
    }),
    close: () => {
      closed ??= new Promise<void>((resolve) => socket.close(() => resolve()));
      return closed;
    },
  };
}
