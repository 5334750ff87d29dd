// The DNS server: UDP and TCP on one address, answering from a live RecordIndex.
import { randomBytes } from "node:crypto";
import { logger } from "../obs/log.ts";
import type { Registry } from "../obs/metrics.ts";
import type { IndexChange, RecordIndex } from "../records/index.ts";
import { LiveIndex } from "../records/live-index.ts";
import { TRANSFER_DEFAULTS, Transfers, type TransferZoneConfig } from "../xfr/service.ts";
import { DEFAULT_UDP_PAYLOAD_SIZE } from "./constants.ts";
import { SECRET_SIZE, ServerCookies } from "./cookies.ts";
import { type Codec, QueryHandler } from "./handler.ts";
import { DnsMetrics } from "./metrics.ts";
import { ResponseRateLimiter, type RrlOptions } from "./rrl.ts";
import type { ShortAnswerer } from "./short-answer.ts";
import { listenTcp, TCP_DEFAULTS, type TcpOptions, type TcpTransport } from "./tcp.ts";
import type { TsigKeyring } from "./tsig.ts";
import { answerWith, listenUdp } from "./udp/listen.ts";
import { registerUdpTransportMetrics } from "./udp/metrics.ts";
import type { UdpTransport, UdpTransportChoice } from "./udp/transport.ts";
import {
  definedOnly,
  type NameServer,
  resolveZones,
  type SoaSettings,
  type Zone,
  type ZoneConfig,
  ZoneSet,
} from "./zones.ts";

export interface DnsServerOptions {
  /** Patched live (and swapped, for a LiveIndex) by the record source; answers follow its `generation`. */
  index: RecordIndex | LiveIndex;
  /** Zone names or per-zone settings; `soa` and `nameservers` below apply where a zone sets none. */
  zones: (string | ZoneConfig)[];
  soa?: Partial<SoaSettings>;
  nameservers?: NameServer[];
  /** UDP and TCP on the same port; port 0 picks a free one (see `DnsServer.address`). */
  listen: { host: string; port: number };
  /** Our EDNS payload size (default 1232). */
  udpPayloadSize?: number;
  /** Expand `*`/`any` labels in questions (CoreDNS; default true); false reads them literally. */
  queryWildcards?: boolean;
  tcp?: Partial<TcpOptions>;
  /** `dns.udpTransport`: auto (default) = the native batched transport when its addon loads, else node:dgram. */
  udpTransport?: UdpTransportChoice;
  registry?: Registry;
  codec?: Codec;
  /** Cached encoded responses, at most (default 100 000). */
  cacheEntries?: number;
  /** Total size of the cached responses, at most (default 64 MiB; TCP replies reach 64 KiB each). */
  cacheBytes?: number;
  /** RFC 5001 NSID sent to queries that ask (default: none; `fedns serve` defaults to the host name). */
  nsid?: string;
  /** RFC 9018 server cookie secret (16 bytes) shared by the replicas; absent: a random one for this process. */
  cookieSecret?: Uint8Array;
  /** Response-rate limiting of UDP replies; absent: off. */
  rrl?: RrlOptions;
  /** Short names (SPEC §4a); absent: off. */
  short?: ShortAnswerer;
  /** Clock of cookies and RRL (ms), for tests. */
  now?: () => number;
  /** TSIG keys (RFC 8945) for signed queries, transfers and NOTIFY. */
  tsig?: TsigKeyring;
  /** Zone transfers and NOTIFY; absent: every transfer request is refused. */
  transfers?: TransferSettings;
}

export interface TransferSettings {
  zones: TransferZoneConfig[];
  journalRecords?: number;
  maxConcurrent?: number;
  maxConcurrentPerSource?: number;
  notifyDebounceMs?: number;
  notifyRetryInitialMs?: number;
  notifyRetryMaxMs?: number;
}

export interface DnsServer {
  address: { host: string; port: number };
  zones: Zone[];
  /**
   * Call after the index changed, with the changes applied (undefined: a new index was swapped in):
   * transfer versions follow them and secondaries are notified (debounced).
   */
  indexChanged(changes?: readonly IndexChange[]): void;
  /** The transfer service, when transfers are configured (for tests and diagnostics). */
  transfers: Transfers | undefined;
  close(): Promise<void>;
}

const EPHEMERAL_PORT_ATTEMPTS = 10;

export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const log = logger("dns");
  const zones = resolveZones(options.zones, { soa: options.soa, nameservers: options.nameservers });
  const metrics = new DnsMetrics(options.registry);
  const zoneSet = new ZoneSet(zones);
  const settings = options.transfers;
  const transfers =
    settings === undefined || settings.zones.length === 0
      ? undefined
      : new Transfers({
          live: options.index instanceof LiveIndex ? options.index : LiveIndex.of(options.index),
          zones: zoneSet,
          transferZones: settings.zones,
          metrics,
          journalRecords: settings.journalRecords ?? TRANSFER_DEFAULTS.journalRecords,
          maxConcurrent: settings.maxConcurrent ?? TRANSFER_DEFAULTS.maxConcurrent,
          maxConcurrentPerSource: settings.maxConcurrentPerSource ?? TRANSFER_DEFAULTS.maxConcurrentPerSource,
          notifyDebounceMs: settings.notifyDebounceMs ?? TRANSFER_DEFAULTS.notifyDebounceMs,
          notifyRetryInitialMs: settings.notifyRetryInitialMs,
          notifyRetryMaxMs: settings.notifyRetryMaxMs,
        });
  const handler = new QueryHandler({
    index: options.index,
    zones: zoneSet,
    udpPayloadSize: options.udpPayloadSize ?? DEFAULT_UDP_PAYLOAD_SIZE,
    queryWildcards: options.queryWildcards,
    metrics,
    codec: options.codec,
    cacheEntries: options.cacheEntries,
    cacheBytes: options.cacheBytes,
    nsid: options.nsid,
    cookies: new ServerCookies(options.cookieSecret ?? randomBytes(SECRET_SIZE), options.now),
    rrl: options.rrl === undefined ? undefined : new ResponseRateLimiter(options.rrl, options.now),
    ...(options.short === undefined ? {} : { short: options.short }),
    tsig: options.tsig,
    transfers,
  });
  const tcpOptions: TcpOptions = { ...TCP_DEFAULTS, ...definedOnly(options.tcp ?? {}) };
  const { host } = options.listen;
  let udp: UdpTransport | undefined;
  let tcp: TcpTransport | undefined;
  const onBatch = answerWith(handler);
  for (let attempt = 1; tcp === undefined; attempt++) {
    udp = await listenUdp(options.udpTransport ?? "auto", { host, port: options.listen.port, onBatch });
    try {
      tcp = await listenTcp(host, udp.port, handler, metrics, tcpOptions);
    } catch (err) {
      await udp.close();
      // With port 0 the UDP port the kernel chose may be taken on TCP: try another.
      const retry = options.listen.port === 0 && (err as NodeJS.ErrnoException).code === "EADDRINUSE";
      if (!retry || attempt >= EPHEMERAL_PORT_ATTEMPTS) throw err;
    }
  }
  const port = udp?.port ?? 0;
  if (udp !== undefined && options.registry !== undefined) registerUdpTransportMetrics(options.registry, udp);
  log.info(
    { host, port, zones: zones.map((zone) => zone.name), codec: options.codec ?? "fast", udpTransport: udp?.kind },
    "DNS server listening",
  );
  let closed: Promise<void> | undefined;
  return {
    address: { host, port },
    zones,
    transfers,
    indexChanged: (changes) => transfers?.changed(changes),
    close: () => {
      transfers?.close();
      closed ??= Promise.all([udp?.close(), tcp?.close()]).then(() => undefined);
      return closed;
    },
  };
}
