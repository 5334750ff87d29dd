// The results table and the fedns/Knot ratio.
import type { DnsperfResult } from "./dnsperf.ts";

export interface ServerResult {
  server: string;
  /** The run reported (the median by QPS when there were several rounds). */
  result: DnsperfResult;
  /** QPS of every round, in order. */
  allQps?: number[];
}

/** Targets: fedns on the native UDP transport serves at least 0.9 of Knot's QPS (issue 15; 0.8 on dgram, issue 2). */
export const TARGET_RATIO: Record<string, number> = { "fedns-native": 0.9, "fedns-dgram": 0.8, fedns: 0.8 };

function pad(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");
}

function rcodeText(rcodes: Record<string, number>): string {
  return Object.entries(rcodes)
    .sort((a, b) => b[1] - a[1])
    .map(([code, count]) => `${code} ${count}`)
    .join(", ");
}

export function formatTable(rows: readonly ServerResult[]): string {
  const header = ["server", "QPS", "avg latency ms", "min/max ms", "sent", "completed", "lost", "resp bytes"];
  const body = rows.map(({ server, result }) => {
    const lostShare = result.sent > 0 ? (100 * result.lost) / result.sent : 0;
    return [
      server,
      result.qps.toFixed(0),
      (result.avgLatency * 1000).toFixed(3),
      `${(result.minLatency * 1000).toFixed(3)}/${(result.maxLatency * 1000).toFixed(1)}`,
      String(result.sent),
      String(result.completed),
      `${result.lost} (${lostShare.toFixed(2)}%)`,
      Number.isNaN(result.responseSize) ? "?" : String(result.responseSize),
    ];
  });
  const widths = header.map((title, i) => Math.max(title.length, ...body.map((row) => (row[i] ?? "").length)));
  const lines = [pad(header, widths), widths.map((width) => "-".repeat(width)).join("  ")];
  for (const row of body) lines.push(pad(row, widths));
  lines.push("");
  for (const { server, result } of rows) lines.push(`${server} response codes: ${rcodeText(result.rcodes)}`);
  for (const { server, allQps } of rows) {
    if (allQps !== undefined && allQps.length > 1) {
      lines.push(`${server} QPS per round: ${allQps.map((qps) => qps.toFixed(0)).join(", ")} (median reported)`);
    }
  }
  return lines.join("\n");
}

/** QPS / Knot's QPS of every fedns row (fedns, fedns-native, fedns-dgram); empty unless Knot ran. */
export function qpsRatios(rows: readonly ServerResult[]): { server: string; ratio: number }[] {
  const knot = rows.find((row) => row.server === "knot");
  if (knot === undefined || knot.result.qps === 0) return [];
  return rows
    .filter((row) => row.server.startsWith("fedns"))
    .map((row) => ({ server: row.server, ratio: row.result.qps / knot.result.qps }));
}

export function formatRatio(server: string, ratio: number): string {
  const target = TARGET_RATIO[server];
  const verdict = target === undefined ? "" : ` (${ratio >= target ? "meets" : "below"} the ${target} target)`;
  return `ratio ${server}/Knot: ${ratio.toFixed(2)}${verdict}`;
}

/** CPU time per answered query and resident memory, per server process. */
export interface ResourceUse {
  server: string;
  /** Process CPU (user + system) in the measured runs / queries completed in them, µs. */
  cpuMicrosPerQuery: number;
  /** Resident set at rest: loaded and idle, before the first measured run, and after the last one (MiB). */
  rssMibBefore: number;
  rssMibAfter: number;
}

export function formatResources(rows: readonly ResourceUse[]): string {
  return rows
    .map(
      (row) =>
        `${row.server}: ${row.cpuMicrosPerQuery.toFixed(2)} µs CPU per query; RSS at rest ${row.rssMibBefore.toFixed(0)} MiB, after the runs ${row.rssMibAfter.toFixed(0)} MiB`,
    )
    .join("\n");
}
