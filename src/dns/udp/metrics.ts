// Metrics of the UDP transport in use, read from its counters when the registry is scraped.
import { Counter, Gauge, type Registry } from "../../obs/metrics.ts";
import type { UdpTransport } from "./transport.ts";

export function registerUdpTransportMetrics(registry: Registry, transport: UdpTransport): void {
  new Gauge({
    name: "fedns_dns_udp_transport",
    help: "The UDP transport serving DNS (1 for the one in use): native (batched recvmmsg/sendmmsg) or dgram",
    labelNames: ["transport"],
    registers: [registry],
    collect(this: Gauge) {
      this.set({ transport: transport.kind }, 1);
    },
  });
  new Counter({
    name: "fedns_dns_udp_batches_total",
    help: "Batches of datagrams read from the UDP socket (one per datagram on dgram)",
    registers: [registry],
    collect(this: Counter) {
      this.reset();
      this.inc(transport.stats().batches);
    },
  });
  new Counter({
    name: "fedns_dns_udp_dropped_total",
    help: "UDP datagrams dropped by the transport: truncated (larger than a receive slot), send_queue_full (a reply)",
    labelNames: ["reason"],
    registers: [registry],
    collect(this: Counter) {
      this.reset();
      const stats = transport.stats();
      this.inc({ reason: "truncated" }, stats.truncated);
      this.inc({ reason: "send_queue_full" }, stats.dropped);
    },
  });
  new Counter({
    name: "fedns_dns_udp_errors_total",
    help: "UDP send and receive calls that failed for another reason than a full socket",
    labelNames: ["op"],
    registers: [registry],
    collect(this: Counter) {
      this.reset();
      const stats = transport.stats();
      this.inc({ op: "send" }, stats.sendErrors);
      this.inc({ op: "receive" }, stats.receiveErrors);
    },
  });
  new Gauge({
    name: "fedns_dns_udp_send_queue",
    help: "UDP replies waiting for the socket to take them",
    registers: [registry],
    collect(this: Gauge) {
      this.set(transport.stats().queued);
    },
  });
}
