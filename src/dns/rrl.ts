// Response-rate limiting, the model of NSD, Knot (mod-rrl) and BIND: a token bucket per (source
// network, response class, name), refilled at `responsesPerSecond`; a response past its bucket is
// dropped, except every `slip`-th one, which is sent truncated (TC, no records) so that a real
// client behind the address retries over TCP while a spoofed flood gets nothing to amplify.
//
// The buckets live in a fixed-size hash table (typed arrays allocated once, like Knot's): a
// flood of distinct names or sources costs evictions, never memory. A bucket is found by a keyed
// SipHash of its key (the key is random per process, so collisions cannot be aimed); a new key
// takes an empty slot among the few probed, or the least recently used one. Pure: the clock is
// injected, and the caller decides what is exempt (TCP, valid cookies, exempt networks).
import { randomBytes } from "node:crypto";
import { inNetwork, type Network } from "./client-address.ts";
import { siphash24Words } from "./siphash.ts";

export interface RrlOptions {
  /** Responses per second per bucket; also the burst a bucket holds (one second's worth). */
  responsesPerSecond: number;
  /** Every slip-th limited response is sent truncated; 0: all are dropped; 1: all truncated. */
  slip: number;
  /** Sources are grouped by network: IPv4 /24, IPv6 /56 by default. */
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
  /** Buckets in the table (fixed at start). */
  tableSize: number;
  /** Sources never limited (the member clusters' forwarders, monitoring). */
  exempt: Network[];
}

export const RRL_DEFAULTS: RrlOptions = {
  responsesPerSecond: 20,
  slip: 2,
  ipv4PrefixLength: 24,
  ipv6PrefixLength: 56,
  tableSize: 65_536,
  exempt: [],
};

/** Responses of one class from one network share a bucket per name (see `rrlName` in the handler). */
export const RESPONSE_CLASS = {
  ANSWER: 0,
  NXDOMAIN: 1,
  NODATA: 2,
  ERROR: 3,
} as const;
export type ResponseClass = (typeof RESPONSE_CLASS)[keyof typeof RESPONSE_CLASS];

export type RrlDecision = "pass" | "drop" | "slip";

/** Slots probed for a key before the least recently used one is taken over. */
const PROBES = 4;
const MAX_NAME = 255;

export class ResponseRateLimiter {
  private readonly rate: number;
  private readonly slip: number;
  private readonly options: RrlOptions;
  private readonly nowMs: () => number;
  private readonly key = randomBytes(16);
  private readonly input = Buffer.alloc(16 + 1 + MAX_NAME * 3);
  private readonly fingerprints: Uint32Array;
  private readonly tokens: Float64Array;
  private readonly updated: Float64Array;
  private readonly limited: Uint32Array;
  private readonly used: Uint8Array;
  /** Keys that took over a slot in use (the table is too small for the traffic when this grows fast). */
  evictions = 0;

  constructor(options: RrlOptions, nowMs: () => number = Date.now) {
    this.options = options;
    this.rate = options.responsesPerSecond;
    this.slip = options.slip;
    this.nowMs = nowMs;
    const size = Math.max(PROBES, options.tableSize);
    this.fingerprints = new Uint32Array(size);
    this.tokens = new Float64Array(size);
    this.updated = new Float64Array(size);
    this.limited = new Uint32Array(size);
    this.used = new Uint8Array(size);
  }

  /** Whether the source is in an exempt network. */
  exempt(address: Uint8Array): boolean {
    for (const network of this.options.exempt) if (inNetwork(address, network)) return true;
    return false;
  }

  /** Takes one token from the bucket of (the source's network, class, name): pass, or drop/slip when empty. */
  decide(address: Uint8Array, responseClass: ResponseClass, name: string): RrlDecision {
    const [high, low] = this.hashKey(address, responseClass, name);
    const slot = this.slotFor(high, low);
    const now = this.nowMs();
    const elapsed = Math.max(0, now - this.updated[slot]!);
    const tokens = Math.min(this.rate, this.tokens[slot]! + (elapsed * this.rate) / 1000);
    this.updated[slot] = now;
    if (tokens >= 1) {
      this.tokens[slot] = tokens - 1;
      return "pass";
    }
    this.tokens[slot] = tokens;
    const count = ++this.limited[slot]!;
    return this.slip > 0 && count % this.slip === 0 ? "slip" : "drop";
  }

  /** The slot holding this key, or a fresh one for it (empty, else the least recently used of the probed). */
  private slotFor(fingerprint: number, low: number): number {
    const size = this.fingerprints.length;
    const start = low % size;
    let victim = start;
    for (let i = 0; i < PROBES; i++) {
      const slot = (start + i) % size;
      if (this.used[slot] === 0) {
        victim = slot;
        break;
      }
      if (this.fingerprints[slot] === fingerprint) return slot;
      if (this.updated[slot]! < this.updated[victim]!) victim = slot;
    }
    if (this.used[victim] === 1) this.evictions++;
    this.used[victim] = 1;
    this.fingerprints[victim] = fingerprint;
    this.tokens[victim] = this.rate;
    this.updated[victim] = this.nowMs();
    this.limited[victim] = 0;
    return victim;
  }

  /** SipHash of (network prefix of the source, class, name). */
  private hashKey(address: Uint8Array, responseClass: ResponseClass, name: string): [number, number] {
    const input = this.input;
    const prefix = address.length === 4 ? this.options.ipv4PrefixLength : this.options.ipv6PrefixLength;
    let at = 0;
    input[at++] = address.length;
    for (let i = 0, bits = prefix; i < address.length; i++, bits -= 8) {
      input[at++] = bits >= 8 ? address[i]! : bits > 0 ? address[i]! & (0xff << (8 - bits)) : 0;
    }
    input[at++] = responseClass;
    at += input.write(name, at, Math.min(name.length, MAX_NAME), "latin1");
    return siphash24Words(this.key, input.subarray(0, at));
  }
}
