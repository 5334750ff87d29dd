// How busy each core is, from /proc/stat: the benchmark checks that its cores are quiet before
// measuring, because anything else running there lowers both servers' numbers unevenly.
import { readFileSync } from "node:fs";
import { sleep } from "./processes.ts";

interface CpuTimes {
  busy: number;
  total: number;
}

/** Per-core jiffies from the text of /proc/stat (`cpuN user nice system idle iowait irq softirq steal ...`). */
export function parseProcStat(text: string): Map<number, CpuTimes> {
  const cores = new Map<number, CpuTimes>();
  for (const line of text.split("\n")) {
    const match = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const fields = match[2].trim().split(/\s+/).map(Number);
    // guest and guest_nice are already counted in user and nice.
    const counted = fields.slice(0, 8);
    const total = counted.reduce((sum, value) => sum + value, 0);
    const idle = (counted[3] ?? 0) + (counted[4] ?? 0);
    cores.set(Number(match[1]), { busy: total - idle, total });
  }
  return cores;
}

/** Busy share (0..1) of each of `cores` over `ms` milliseconds. */
export async function coreBusy(cores: readonly number[], ms = 1000): Promise<Map<number, number>> {
  const before = parseProcStat(readFileSync("/proc/stat", "utf8"));
  await sleep(ms);
  const after = parseProcStat(readFileSync("/proc/stat", "utf8"));
  const shares = new Map<number, number>();
  for (const core of cores) {
    const a = before.get(core);
    const b = after.get(core);
    if (a === undefined || b === undefined || b.total === a.total) continue;
    shares.set(core, (b.busy - a.busy) / (b.total - a.total));
  }
  return shares;
}
