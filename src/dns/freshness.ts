// Whether something computed from the record index is still what the index would give now, decided
// per name instead of per index generation: it remembers the names it read (its dependencies) and
// the index revision it was computed at, and stays valid while no change at or below any of those
// names has happened since (RecordIndex.lastChange). A name that did not exist stays a valid
// dependency while nothing exists at or below it (its nearest existing ancestor's lastChange would
// move with every change beside it). One home for that rule: the response cache (cache.ts) and the
// subtree memo (subtree-memo.ts) both ask here.
import type { RecordIndex } from "../records/index.ts";

/** When and from what a cached value was computed. */
export interface Stamp {
  /** Existing names whose records (at or below them) the value was computed from. */
  readonly deps: readonly string[];
  /** Names read that did not exist (nothing at or below them). */
  readonly absent: readonly string[];
  /** index.revision when the value was computed. */
  readonly revision: number;
  /** The index generation the value was last known valid at: the O(1) fast path. */
  generation: number;
}

/** A stamp for a value computed now from `index`, reading `deps`. */
export function stampOf(index: RecordIndex, deps: Iterable<string>): Stamp {
  const existing: string[] = [];
  const absent: string[] = [];
  for (const dep of deps) (index.exists(dep, LITERAL) ? existing : absent).push(dep);
  return { deps: existing, absent, revision: index.revision, generation: index.generation };
}

/** Dependencies are names as stored: `*` labels in them are literal (their wildcard expansion is in dependencyOf). */
const LITERAL = { wildcards: false } as const;

/**
 * True while no change at or below a dependency happened since the stamp, and nothing appeared at or
 * below one that did not exist (same index object assumed:
 * a swapped-in index has no history of what it replaced, so its owner drops everything on a swap).
 * Strict: a change at the stamp's own revision counts as newer, so a revision whose changes arrived in
 * several apply() calls can never hide behind the stamp. Revalidation moves the stamp's generation on,
 * so the next check at the same generation costs nothing.
 */
export function stillFresh(index: RecordIndex, stamp: Stamp): boolean {
  const generation = index.generation;
  if (stamp.generation === generation) return true;
  for (const dep of stamp.deps) if (index.lastChange(dep) >= stamp.revision) return false;
  for (const dep of stamp.absent) if (index.exists(dep, LITERAL)) return false;
  stamp.generation = generation;
  return true;
}

/**
 * The name whose subtree decides a lookup of `name`: the name itself, or with `*`/`any` labels expanded
 * (CoreDNS wildcards), the part right of the rightmost such label (every match lies below it).
 */
export function dependencyOf(name: string, wildcards: boolean): string {
  if (!wildcards) return name;
  let end = name.length;
  let cut = -1;
  for (let i = name.length; i >= 0; i--) {
    if (i === 0 || name.charCodeAt(i - 1) === 46) {
      const label = name.slice(i, end);
      if (label === "*" || label === "any") {
        cut = end;
        break;
      }
      end = i - 1;
    }
  }
  if (cut === -1) return name;
  return cut >= name.length ? "" : name.slice(cut + 1);
}
