// What one resource of one member cluster may make the controller hold (docs/trust.md, controller.clusterCaps):
// a hostile or broken API server must not grow the controller's memory without bound. Enforced by the
// reflector (reflector.ts); a cluster past a cap is degraded (cluster-watch.ts). Pure, no dependencies,
// so the config schema can take its defaults from here.

/** How much one resource of one member cluster may make the controller hold (docs/trust.md, controller.clusterCaps). */
export interface ReflectorCaps {
  /** Pages of one complete list. */
  maxListPages: number;
  /** Objects of the resource (one list, or held while watching). */
  maxObjects: number;
  /** JSON size of one object as received, in bytes (estimated from the decoded object, see jsonSizeOver). */
  maxObjectBytes: number;
}

export const DEFAULT_CAPS: ReflectorCaps = { maxListPages: 1000, maxObjects: 100_000, maxObjectBytes: 2 * 1024 * 1024 };

/**
 * True when the JSON text of `value` is longer than `max` bytes (about: strings count their UTF-16 units,
 * escapes are not counted). Walks at most until the bound is passed, so a huge object costs O(max).
 */
export function jsonSizeOver(value: unknown, max: number): boolean {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === "string") total += item.length + 2;
    else if (typeof item === "number" || typeof item === "boolean") total += String(item).length;
    else if (item === null || item === undefined) total += 4;
    else if (Array.isArray(item)) {
      total += 1 + item.length;
      if (total > max) return true;
      for (const element of item) stack.push(element);
    } else if (typeof item === "object") {
      total += 2;
      for (const key in item) {
        total += key.length + 4;
        stack.push((item as Record<string, unknown>)[key]);
        if (total > max) return true;
      }
    }
    if (total > max) return true;
  }
  return false;
}

/** A cap was passed: not a failure of the API server, but what it sent is refused. */
export class CapExceeded extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CapExceeded";
  }
}
