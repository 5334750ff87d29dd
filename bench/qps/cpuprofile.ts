// Reads a V8 .cpuprofile (node --cpu-prof) and ranks functions and files by self time.
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTime {
  /** `function (file:line)`, or V8's pseudo-frames such as `(garbage collector)`. */
  label: string;
  file: string;
  /** Microseconds. */
  selfMicros: number;
  share: number;
}

/** A span of CLOCK_MONOTONIC time in microseconds: what V8 profile timestamps and process.hrtime share. */
export interface TimeWindow {
  fromMicros: number;
  toMicros: number;
}

/** Now on the clock of V8 profile timestamps. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export interface ProfileSummary {
  totalMicros: number;
  /** Time the main thread did nothing (`(idle)`): the server was waiting for packets. */
  idleMicros: number;
  functions: SelfTime[];
  files: SelfTime[];
}

function isCpuProfile(value: unknown): value is CpuProfile {
  if (typeof value !== "object" || value === null) return false;
  const nodes = (value as { nodes?: unknown }).nodes;
  return Array.isArray(nodes);
}

/** Strips the repository root (or the file:// scheme) so labels stay short. */
export function shortUrl(url: string, root: string): string {
  let path = url.startsWith("file://") ? decodeURIComponent(url.slice("file://".length)) : url;
  const base = root.endsWith("/") ? root : `${root}/`;
  if (path.startsWith(base)) path = path.slice(base.length);
  return path;
}

function ranked(totals: Map<string, { file: string; micros: number }>, busy: number, top: number): SelfTime[] {
  return [...totals.entries()]
    .map(([label, { file, micros }]) => ({ label, file, selfMicros: micros, share: busy > 0 ? micros / busy : 0 }))
    .sort((a, b) => b.selfMicros - a.selfMicros)
    .slice(0, top);
}

/**
 * Self time per node is the sum of the time deltas of the samples taken in it (more exact than
 * hitCount × interval); shares are of the busy (non-idle) time. With `windows`, only samples taken
 * inside one of them count (e.g. the measured dnsperf runs, not start-up and warm-up).
 */
export function summarizeProfile(
  profile: unknown,
  root: string,
  top = 25,
  windows: readonly TimeWindow[] = [],
): ProfileSummary {
  if (!isCpuProfile(profile)) throw new Error("not a V8 CPU profile (no nodes array)");
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);

  const selfById = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0 && deltas.length === samples.length) {
    // timeDeltas[i] is the gap before sample i, so it is the time sample i-1's frame was running.
    let at = profile.startTime + (deltas[0] ?? 0);
    const counted = (time: number): boolean =>
      windows.length === 0 || windows.some((window) => time >= window.fromMicros && time <= window.toMicros);
    for (let i = 1; i < samples.length; i++) {
      const id = samples[i - 1] as number;
      const delta = deltas[i] as number;
      if (counted(at)) selfById.set(id, (selfById.get(id) ?? 0) + Math.max(0, delta));
      at += delta;
    }
  } else {
    const interval = samples.length > 0 ? (profile.endTime - profile.startTime) / samples.length : 1000;
    for (const node of profile.nodes) selfById.set(node.id, (node.hitCount ?? 0) * interval);
  }

  let total = 0;
  let idle = 0;
  const functions = new Map<string, { file: string; micros: number }>();
  const files = new Map<string, { file: string; micros: number }>();
  for (const [id, micros] of selfById) {
    const node = byId.get(id);
    if (node === undefined || micros === 0) continue;
    total += micros;
    const frame = node.callFrame;
    const name = frame.functionName.length > 0 ? frame.functionName : "(anonymous)";
    if (name === "(idle)") {
      idle += micros;
      continue;
    }
    const file = frame.url.length > 0 ? shortUrl(frame.url, root) : "(native/V8)";
    const label = frame.url.length > 0 ? `${name} (${file}:${frame.lineNumber + 1})` : name;
    const fn = functions.get(label) ?? { file, micros: 0 };
    fn.micros += micros;
    functions.set(label, fn);
    const perFile = files.get(file) ?? { file, micros: 0 };
    perFile.micros += micros;
    files.set(file, perFile);
  }
  const busy = total - idle;
  return {
    totalMicros: total,
    idleMicros: idle,
    functions: ranked(functions, busy, top),
    files: ranked(files, busy, top),
  };
}

export function summarizeProfileFile(
  path: string,
  root: string,
  top = 25,
  windows: readonly TimeWindow[] = [],
): ProfileSummary {
  return summarizeProfile(JSON.parse(readFileSync(path, "utf8")) as unknown, root, top, windows);
}

export function formatProfileSummary(summary: ProfileSummary): string {
  const ms = (micros: number): string => (micros / 1000).toFixed(0).padStart(8);
  const pct = (share: number): string => `${(share * 100).toFixed(1).padStart(5)}%`;
  const busy = summary.totalMicros - summary.idleMicros;
  const lines = [
    `profiled ${ms(summary.totalMicros).trim()} ms, busy ${ms(busy).trim()} ms, idle ${ms(summary.idleMicros).trim()} ms`,
    "",
    "top self time by function (share of busy time):",
    ...summary.functions.map((entry) => `  ${ms(entry.selfMicros)} ms ${pct(entry.share)}  ${entry.label}`),
    "",
    "self time by file:",
    ...summary.files.map((entry) => `  ${ms(entry.selfMicros)} ms ${pct(entry.share)}  ${entry.label}`),
  ];
  return lines.join("\n");
}
