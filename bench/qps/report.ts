// The results table and the fedns/Knot ratio.
import type { DnsperfResult } from "./dnsperf.ts";

export interface ServerResult {
  server: string;
  /** The run reported (the median by QPS when there were several rounds). */
  result: DnsperfResult;
  /** QPS of every round, in order. */
  allQps?: number[];
}

/** Target from issue 2: fedns serves at least 0.8 of Knot's QPS. */
export const TARGET_RATIO = 0.8;

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

/** fedns QPS / Knot QPS, or undefined unless both ran. */
export function qpsRatio(rows: readonly ServerResult[]): number | undefined {
  const fedns = rows.find((row) => row.server === "fedns");
  const knot = rows.find((row) => row.server === "knot");
  if (fedns === undefined || knot === undefined || knot.result.qps === 0) return undefined;
  return fedns.result.qps / knot.result.qps;
}

export function formatRatio(ratio: number): string {
  const verdict = ratio >= TARGET_RATIO ? "meets" : "below";
  return `ratio fedns/Knot: ${ratio.toFixed(2)} (${verdict} the ${TARGET_RATIO} target)`;
}
