// DNS server metrics. Query counts are tallied in plain numbers on the hot path and handed to
// prom-client when the registry is scraped, so a query costs no label hashing.
import { Counter, Gauge, Histogram, Registry } from "../obs/metrics.ts";
import { rcodeName, typeName } from "./constants.ts";

export type TransportName = "udp" | "tcp";

export class DnsMetrics {
  private readonly tallies = new Map<number, number>();
  private readonly duration: Histogram;
  private readonly malformedCount: Counter;
  private readonly truncatedCount: Counter;
  private readonly tcpGauge: Gauge;
  private readonly tcpRefusedCount: Counter;
  private readonly tcpTimeoutCount: Counter;
  private readonly tcpBlockedGauge: Gauge;
  private readonly rrlCount: Counter;
  private readonly cookieCount: Counter;
  private readonly tsigCount: Counter;
  private readonly transferCount: Counter;
  private readonly notifyCount: Counter;
  /** Response cache lookups: hit, miss (not cached), stale (cached, but a name it depends on changed). */
  private readonly cacheTallies = { hit: 0, miss: 0, stale: 0 };

  constructor(registry: Registry = new Registry()) {
    const tallies = this.tallies;
    new Counter({
      name: "fedns_dns_queries_total",
      help: "DNS queries answered, by question type, response code and transport",
      labelNames: ["qtype", "rcode", "transport"],
      registers: [registry],
      collect(this: Counter) {
        this.reset();
        for (const [key, count] of tallies) {
          const transport = key & 1 ? "tcp" : "udp";
          const rcode = (key >> 1) & 0xfff;
          const qtype = Math.floor(key / 8192);
          this.inc({ qtype: typeName(qtype), rcode: rcodeName(rcode), transport }, count);
        }
      },
    });
    this.duration = new Histogram({
      name: "fedns_dns_request_duration_seconds",
      help: "Time from receiving a DNS query to having its reply ready",
      buckets: [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1],
      registers: [registry],
    });
    this.malformedCount = new Counter({
      name: "fedns_dns_malformed_total",
      help: "Packets that were not a well-formed query (dropped or answered FORMERR/NOTIMP)",
      registers: [registry],
    });
    this.truncatedCount = new Counter({
      name: "fedns_dns_truncated_total",
      help: "Replies truncated (TC set) because they exceeded the transport's size limit",
      registers: [registry],
    });
    this.tcpGauge = new Gauge({
      name: "fedns_dns_tcp_connections",
      help: "Open DNS-over-TCP connections",
      registers: [registry],
    });
    this.tcpRefusedCount = new Counter({
      name: "fedns_dns_tcp_refused_total",
      help: "TCP connections closed on arrival because a connection cap was reached, by cap (global, source; a source at its cap counts once, then the listener closes its connections unseen until one of its own closes)",
      labelNames: ["cap"],
      registers: [registry],
    });
    this.tcpBlockedGauge = new Gauge({
      name: "fedns_dns_tcp_sources_at_cap",
      help: "Source addresses at their TCP connection cap whose new connections the listener closes on arrival",
      registers: [registry],
    });
    this.tcpTimeoutCount = new Counter({
      name: "fedns_dns_tcp_message_timeouts_total",
      help: "TCP connections closed because a started message did not complete within the message deadline",
      registers: [registry],
    });
    this.rrlCount = new Counter({
      name: "fedns_dns_rrl_limited_total",
      help: "UDP replies held back by response-rate limiting, by what was sent instead (dropped, slipped, badcookie)",
      labelNames: ["action"],
      registers: [registry],
    });
    const cacheTallies = this.cacheTallies;
    new Counter({
      name: "fedns_dns_cache_lookups_total",
      help: "Response cache lookups, by result (hit; miss: not cached; stale: a name the answer depends on changed)",
      labelNames: ["result"],
      registers: [registry],
      collect(this: Counter) {
        this.reset();
        for (const [result, count] of Object.entries(cacheTallies)) this.inc({ result }, count);
      },
    });
    this.cookieCount = new Counter({
      name: "fedns_dns_cookies_total",
      help: "Queries with a DNS cookie, by server cookie status (valid, invalid, new: client cookie only)",
      labelNames: ["status"],
      registers: [registry],
    });
    this.tsigCount = new Counter({
      name: "fedns_dns_tsig_failures_total",
      help: "Signed requests whose TSIG did not verify, by error (badkey, badsig, badtime, badtrunc, formerr)",
      labelNames: ["error"],
      registers: [registry],
    });
    this.transferCount = new Counter({
      name: "fedns_dns_transfers_total",
      help: "Zone transfer requests, by kind (axfr, ixfr, ixfr-full, ixfr-current, ixfr-udp) and result (done, refused, busy, failed)",
      labelNames: ["kind", "result"],
      registers: [registry],
    });
    this.notifyCount = new Counter({
      name: "fedns_dns_notify_total",
      help: "NOTIFY messages sent to secondaries, by result (acked, timeout, error)",
      labelNames: ["result"],
      registers: [registry],
    });
  }

  tsigFailure(error: string): void {
    this.tsigCount.inc({ error });
  }

  transfer(kind: string, result: "done" | "refused" | "busy" | "failed"): void {
    this.transferCount.inc({ kind, result });
  }

  notify(result: "acked" | "timeout" | "error"): void {
    this.notifyCount.inc({ result });
  }

  cacheLookup(result: "hit" | "miss" | "stale"): void {
    this.cacheTallies[result]++;
  }

  query(qtype: number, rcode: number, transport: TransportName, seconds: number, truncated: boolean): void {
    const key = qtype * 8192 + (rcode & 0xfff) * 2 + (transport === "tcp" ? 1 : 0);
    this.tallies.set(key, (this.tallies.get(key) ?? 0) + 1);
    this.duration.observe(seconds);
    if (truncated) this.truncatedCount.inc();
  }

  malformed(): void {
    this.malformedCount.inc();
  }

  tcpConnectionOpened(): void {
    this.tcpGauge.inc();
  }

  tcpConnectionClosed(): void {
    this.tcpGauge.dec();
  }

  tcpRefused(cap: "global" | "source"): void {
    this.tcpRefusedCount.inc({ cap });
  }

  rateLimited(action: "dropped" | "slipped" | "badcookie"): void {
    this.rrlCount.inc({ action });
  }

  cookie(status: "valid" | "invalid" | "new"): void {
    this.cookieCount.inc({ status });
  }

  tcpSourcesAtCap(sources: number): void {
    this.tcpBlockedGauge.set(sources);
  }

  tcpMessageTimeout(): void {
    this.tcpTimeoutCount.inc();
  }
}
