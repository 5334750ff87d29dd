// `fedns records [NAME|ZONE]`: what etcd holds at and below a name, grouped by DNS name, and the serial
// markers that count for its zones (docs/zone-transfers.md "Serials").
import type { Command } from "commander";
import { parseSerialMarker, SERIAL_MARKER_PREFIX } from "../federation/keys.ts";
import { describeRecord, type RecordView } from "../records/describe.ts";
import { normalizeName, normalizePrefix, pathOfName } from "../records/name.ts";
import { isPermissionDenied, type KeyValue } from "../store/kv.ts";
import { etcdBackendFromConfig } from "./backend.ts";
import { commandConfig, runCommand } from "./settings.ts";

interface RecordsFlags {
  etcd?: string;
  prefix?: string;
  config?: string;
  json?: boolean;
}

export function registerRecordsCommand(program: Command): void {
  program
    .command("records")
    .description("list the records etcd holds for a name or zone, with type, data, TTL, cluster and owner")
    .argument("[name]", "a DNS name or zone (default: everything under the prefix)")
    .option("--etcd <url>", "etcd endpoint, e.g. http://127.0.0.1:2379")
    .option("--prefix <prefix>", "skydns key prefix (default /skydns)")
    .option("--config <file>", "fedns YAML config")
    .option("--json", "print JSON for scripts")
    .action((name: string | undefined, flags: RecordsFlags) =>
      runCommand(async () => {
        const config = await commandConfig(flags.config, {
          "etcd.endpoints": flags.etcd === undefined ? undefined : [flags.etcd],
          "etcd.prefix": flags.prefix,
          "log.level": "warn",
        });
        const prefix = normalizePrefix(config.etcd.prefix);
        const backend = etcdBackendFromConfig(config.etcd);
        try {
          const path = name === undefined ? prefix : pathOfName(prefix, name);
          const [below, exact] = await Promise.all([backend.range(`${path}/`), backend.range(path)]);
          const kvs = [...exact.kvs.filter((kv) => kv.key === path), ...below.kvs];
          const views = kvs.map((kv) => describeRecord(prefix, kv.key, kv.value));
          if (flags.json === true) {
            process.stdout.write(`${JSON.stringify(views, null, 2)}\n`);
            return;
          }
          process.stdout.write(formatRecords(views));
          try {
            const markers = await backend.range(SERIAL_MARKER_PREFIX);
            process.stdout.write(formatSerialMarkers(markers.kvs, name));
          } catch (err) {
            if (!isPermissionDenied(err)) throw err;
            process.stderr.write(`serial markers not shown: this identity may not read ${SERIAL_MARKER_PREFIX}\n`);
          }
        } finally {
          await backend.close();
        }
      }),
    );
}

export function formatRecords(views: readonly RecordView[]): string {
  if (views.length === 0) return "no records\n";
  const byName = new Map<string, RecordView[]>();
  for (const view of views) byName.set(view.name, [...(byName.get(view.name) ?? []), view]);
  const lines: string[] = [];
  for (const name of [...byName.keys()].sort()) {
    lines.push(`${name}.`);
    const rows = byName
      .get(name)!
      .map((view) => [
        `  ${view.type}`,
        view.data,
        view.ttl === undefined ? "ttl=default" : `ttl=${view.ttl}`,
        `cluster=${view.cluster ?? "-"}`,
        `owner=${view.owner ?? "-"}`,
        view.error === undefined ? view.key : `${view.key}  ERROR: ${view.error}`,
      ]);
    const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
    for (const row of rows)
      lines.push(
        row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join("  ")
          .trimEnd(),
      );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The serial markers at, under or above `name` (all without one): a zone's SOA serial is at least the
 * revision of each of them. A key there that is no marker is listed with what is wrong with it.
 */
export function formatSerialMarkers(kvs: readonly KeyValue[], name?: string): string {
  const wanted = name === undefined ? undefined : normalizeName(name);
  const related = (domain: string): boolean =>
    wanted === undefined || wanted === domain || wanted.endsWith(`.${domain}`) || domain.endsWith(`.${wanted}`);
  const lines: string[] = [];
  for (const kv of kvs) {
    const marker = parseSerialMarker(kv.key, kv.value);
    if ("error" in marker) lines.push(`  ${kv.key}  ERROR: ${marker.error}`);
    else if (related(marker.domain)) lines.push(`  ${marker.domain}.  revision ${kv.modRevision}  ${kv.key}`);
  }
  if (lines.length === 0) return "";
  return `serial markers (the SOA serial of a zone at, under or above each is at least its revision):\n${lines.join("\n")}\n`;
}
