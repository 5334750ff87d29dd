// The UDP transport seen by the DNS server: datagrams arrive in batches, each may get one reply.
// Two implementations: node:dgram (dgram.ts, one datagram per batch) and the batched native addon
// (native.ts: recvmmsg/sendmmsg). select.ts picks one from `dns.udpTransport`.

export type UdpTransportKind = "native" | "dgram";
/** `dns.udpTransport`: auto = native when the addon loads, else dgram. */
export type UdpTransportChoice = "auto" | UdpTransportKind;
export const UDP_TRANSPORT_CHOICES = ["auto", "native", "dgram"] as const satisfies readonly UdpTransportChoice[];

/**
 * One received datagram. Valid only while the batch callback runs: the native transport reuses
 * these objects and their buffers for the next batch, so nothing may keep them.
 */
export interface Datagram {
  data: Buffer;
  address: string;
  port: number;
  family: 4 | 6;
}

/**
 * Called once per batch. `reply(i, data)` answers `batch[i]`; it must be called before the callback
 * returns (replies are collected and sent together when it does). At most one reply per datagram.
 */
export type OnBatch = (batch: readonly Datagram[], reply: (index: number, data: Buffer) => void) => void;

export interface UdpListenOptions {
  /** An IPv4 or IPv6 literal. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** SO_REUSEPORT, so several processes can share the port (default false). */
  reusePort?: boolean;
  onBatch: OnBatch;
}

export interface UdpTransportStats {
  /** Datagrams handed to onBatch. */
  received: number;
  /** Replies the kernel accepted. */
  sent: number;
  /** Batches handed to onBatch (equals `received` on dgram). */
  batches: number;
  /** Datagrams larger than a receive slot: dropped unread (native only). */
  truncated: number;
  /** Replies dropped because the socket could not take them and the send queue was full. */
  dropped: number;
  /** Replies waiting in the send queue now. */
  queued: number;
  /** Send and receive calls that failed for another reason than a full socket. */
  sendErrors: number;
  receiveErrors: number;
}

export interface UdpTransport {
  readonly kind: UdpTransportKind;
  /** The bound port (the chosen one when listening on port 0). */
  readonly port: number;
  stats(): UdpTransportStats;
  close(): Promise<void>;
}
