// SipHash-2-4 (Aumasson & Bernstein): a keyed 64-bit hash, used for DNS server cookies (RFC 9018)
// and to spread response-rate-limit buckets. 64-bit words are kept as two uint32 halves (no BigInt
// on the hot path).

/** The SipHash-2-4 of `message` under a 16-byte `key`, as 8 bytes (little-endian, as the reference). */
export function siphash24(key: Uint8Array, message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(8);
  const [hi, lo] = siphash24Words(key, message);
  out.writeUInt32LE(lo, 0);
  out.writeUInt32LE(hi, 4);
  return out;
}

/** The hash as [high, low] 32-bit halves. */
export function siphash24Words(key: Uint8Array, message: Uint8Array): [number, number] {
  if (key.length !== 16) throw new Error("SipHash needs a 16-byte key");
  const k0l = le32(key, 0);
  const k0h = le32(key, 4);
  const k1l = le32(key, 8);
  const k1h = le32(key, 12);
  const v = new Uint32Array(8);
  // v0..v3 as (high, low) pairs at 0/1, 2/3, 4/5, 6/7.
  v[0] = k0h ^ 0x736f6d65;
  v[1] = k0l ^ 0x70736575;
  v[2] = k1h ^ 0x646f7261;
  v[3] = k1l ^ 0x6e646f6d;
  v[4] = k0h ^ 0x6c796765;
  v[5] = k0l ^ 0x6e657261;
  v[6] = k1h ^ 0x74656462;
  v[7] = k1l ^ 0x79746573;
  const length = message.length;
  const whole = length - (length % 8);
  for (let i = 0; i < whole; i += 8) compress(v, le32(message, i + 4), le32(message, i));
  // Last block: the remaining bytes, and the length's low byte in the top byte.
  let lastLow = 0;
  let lastHigh = (length & 0xff) << 24;
  for (let i = whole; i < length; i++) {
    const shift = (i - whole) * 8;
    if (shift < 32) lastLow |= message[i]! << shift;
    else lastHigh |= message[i]! << (shift - 32);
  }
  compress(v, lastHigh >>> 0, lastLow >>> 0);
  v[5] = v[5]! ^ 0xff;
  for (let i = 0; i < 4; i++) round(v);
  return [(v[0]! ^ v[2]! ^ v[4]! ^ v[6]!) >>> 0, (v[1]! ^ v[3]! ^ v[5]! ^ v[7]!) >>> 0];
}

function le32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** Two rounds over one message word m = (high, low). */
function compress(v: Uint32Array, high: number, low: number): void {
  v[6] = v[6]! ^ high;
  v[7] = v[7]! ^ low;
  round(v);
  round(v);
  v[0] = v[0]! ^ high;
  v[1] = v[1]! ^ low;
}

/** a += b for the words at index a and b (each a high/low pair). */
function add(v: Uint32Array, a: number, b: number): void {
  const low = (v[a + 1]! + v[b + 1]!) >>> 0;
  v[a] = (v[a]! + v[b]! + (low < v[a + 1]! ? 1 : 0)) >>> 0;
  v[a + 1] = low;
}

/** Rotates the word at index a left by n bits (0 < n < 32), or swaps its halves for n = 32. */
function rotl(v: Uint32Array, a: number, n: number): void {
  const high = v[a]!;
  const low = v[a + 1]!;
  if (n === 32) {
    v[a] = low;
    v[a + 1] = high;
    return;
  }
  v[a] = ((high << n) | (low >>> (32 - n))) >>> 0;
  v[a + 1] = ((low << n) | (high >>> (32 - n))) >>> 0;
}

function xor(v: Uint32Array, a: number, b: number): void {
  v[a] = v[a]! ^ v[b]!;
  v[a + 1] = v[a + 1]! ^ v[b + 1]!;
}

const V0 = 0;
const V1 = 2;
const V2 = 4;
const V3 = 6;

function round(v: Uint32Array): void {
  add(v, V0, V1);
  rotl(v, V1, 13);
  xor(v, V1, V0);
  rotl(v, V0, 32);
  add(v, V2, V3);
  rotl(v, V3, 16);
  xor(v, V3, V2);
  add(v, V0, V3);
  rotl(v, V3, 21);
  xor(v, V3, V0);
  add(v, V2, V1);
  rotl(v, V1, 17);
  xor(v, V1, V2);
  rotl(v, V2, 32);
}
