// EXPERIMENT (not part of fedns): fedns's QueryHandler over the bench data set, served through the
// batched-UDP Node-API addon in addon.c (mode "addon") or through fedns's node:dgram transport
// (mode "dgram", the control).  node server.ts PORT [addon|dgram] [BATCH]  (see README.md)
// SIGUSR2 prints addon stats to stderr; SIGTERM prints them, closes and exits 0 (for --cpu-prof).
import { createRequire } from "node:module";
import { QueryHandler } from "../../../src/dns/handler.ts";
import { DnsMetrics } from "../../../src/dns/metrics.ts";
import { answerWith, listenUdp } from "../../../src/dns/udp/listen.ts";
import { resolveZones, ZoneSet } from "../../../src/dns/zones.ts";
import { newRegistry } from "../../../src/obs/metrics.ts";
import { RecordIndex } from "../../../src/records/index.ts";
import { buildDataset } from "../dataset.ts";

interface Addon {
  bind(
    host: string,
    port: number,
    recv: Buffer,
    send: Buffer,
    lens: Int32Array,
    batch: number,
    slot: number,
    bufBytes: number,
    onBatch: (count: number) => void,
  ): object;
  close(handle: object): void;
  port(handle: object): number;
  stats(handle: object): { hist: number[] } & Record<string, number>;
}

const port = Number(process.argv[2] ?? 0);
const mode = process.argv[3] ?? "addon";
const BATCH = Number(process.argv[4] ?? 64);
const SLOT = 4096;
const PREFIX = "/skydns";

const dataset = buildDataset({ prefix: PREFIX });
const index = new RecordIndex({ prefix: PREFIX, defaultTtl: 300 });
const applied = index.replaceAll(
  dataset.etcdRecords.map((record, i) => ({ key: record.key, value: record.value, modRevision: i + 2 })),
  dataset.etcdRecords.length + 1,
);
if (applied.rejected.length > 0) throw new Error(`rejected records: ${JSON.stringify(applied.rejected[0])}`);
const registry = newRegistry({ defaultMetrics: true });
const handler = new QueryHandler({
  index,
  zones: new ZoneSet(resolveZones(["example.com"])),
  udpPayloadSize: 1232,
  metrics: new DnsMetrics(registry),
});

if (mode === "dgram") {
  const udp = await listenUdp("dgram", { host: "127.0.0.1", port, onBatch: answerWith(handler) });
  process.stderr.write(`dgram listening on ${udp.port}, ${index.size} records\n`);
  process.once("SIGTERM", () => void udp.close().then(() => process.exit(0)));
} else {
  const addon = createRequire(import.meta.url)("./build/udpbatch.node") as Addon;
  const recv = Buffer.allocUnsafeSlow(BATCH * SLOT);
  const send = Buffer.allocUnsafeSlow(BATCH * SLOT);
  const lens = new Int32Array(2 * BATCH);
  const onBatch = (count: number): void => {
    for (let i = 0; i < count; i++) {
      const length = lens[i] as number;
      if (length < 0) continue;
      const offset = i * SLOT;
      const reply = handler.handle(recv.subarray(offset, offset + length), "udp");
      if (reply !== undefined && reply.length <= SLOT) {
        send.set(reply, offset);
        lens[BATCH + i] = reply.length;
      }
    }
  };
  const handle = addon.bind("127.0.0.1", port, recv, send, lens, BATCH, SLOT, 4 * 1024 * 1024, onBatch);
  process.stderr.write(`addon listening on ${addon.port(handle)}, batch ${BATCH}, ${index.size} records\n`);
  const report = (): void => {
    const stats = addon.stats(handle);
    const hist: Record<number, number> = {};
    stats.hist.forEach((count, size) => {
      if (count > 0) hist[size] = count;
    });
    process.stderr.write(`STATS ${JSON.stringify({ ...stats, hist })}\n`);
  };
  process.on("SIGUSR2", report);
  process.once("SIGTERM", () => {
    report();
    addon.close(handle);
    setImmediate(() => process.exit(0));
  });
}
