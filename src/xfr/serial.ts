// RFC 1982 serial number arithmetic on 32-bit SOA serials.

const HALF = 2 ** 31;
const FULL = 2 ** 32;

/** -1 when a is older than b, 0 when equal, 1 when newer; undefined when undefined by RFC 1982 (2^31 apart). */
export function compareSerials(a: number, b: number): -1 | 0 | 1 | undefined {
  const x = a >>> 0;
  const y = b >>> 0;
  if (x === y) return 0;
  const ahead = (x - y + FULL) % FULL;
  if (ahead === HALF) return undefined;
  return ahead < HALF ? 1 : -1;
}

/** True when `serial` is `current` or newer: a secondary holding it needs nothing. */
export function isCurrent(serial: number, current: number): boolean {
  const order = compareSerials(serial, current);
  return order === 0 || order === 1;
}
