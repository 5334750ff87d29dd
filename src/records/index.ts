// The in-memory record index: every skydns key under the prefix, arranged as a tree of
// reversed labels, answering lookups with the CoreDNS etcd plugin's semantics
// (plugin/etcd Records + msg.Group). Built and patched by the store's source; read by answer().
import { keySegments, labelsOf, nameOfSegments, normalizeName, normalizePrefix, wireNameProblem } from "./name.ts";
import { decodeService, type HostType, hostType, type SkydnsService } from "./service.ts";

export const DEFAULT_RECORD_TTL = 300;
/** CoreDNS fills a zero priority with 10 when reading records. */
const DEFAULT_PRIORITY = 10;
/** A lookup visiting at least this many nodes is remembered until the generation moves. */
const MEMO_MIN_VISITS = 32;
/** Remembered lookups, at most (oldest dropped first)… */
const MEMO_MAX_ENTRIES = 4096;
/** …and records referenced by them, at most, so memory stays bounded whatever is asked. */
const MEMO_MAX_RECORDS = 1_000_000;

export interface IndexedRecord {
  readonly key: string;
  /** The DNS name the key stands for, leaf label included (CoreDNS `msg.Domain(key)`). */
  readonly name: string;
  readonly service: SkydnsService;
  readonly host: HostType;
  readonly ttl: number;
  readonly priority: number;
  readonly modRevision: number;
}

export interface KeyValue {
  key: string;
  value: string;
  modRevision: number;
}

export type IndexChange =
  | { type: "put"; key: string; value: string; revision: number }
  | { type: "delete"; key: string; revision: number };

export interface RejectedKey {
  key: string;
  error: string;
}

export interface ApplyResult {
  /** Changes that altered what is served. */
  changed: number;
  /** Values that could not be used; the key is absent from the index until a good value arrives. */
  rejected: RejectedKey[];
}

interface Node {
  children: Map<string, Node>;
  record: IndexedRecord | undefined;
  /** Number of records in this node and below it. */
  count: number;
  /** Highest revision of a change at or below this node: the zone serial source. */
  lastChange: number;
}

function newNode(): Node {
  return { children: new Map(), record: undefined, count: 0, lastChange: 0 };
}

export interface RecordIndexOptions {
  prefix: string;
  defaultTtl?: number;
}

export class RecordIndex {
  readonly prefix: string;
  readonly defaultTtl: number;
  private root: Node = newNode();
  private values = new Map<string, string>();
  private revisionSeen = 0;
  private gen = 0;
  /** Remembered lookups of this generation (null: the name does not exist). */
  private memo = new Map<string, readonly IndexedRecord[] | null>();
  private memoGeneration = 0;
  private memoRecords = 0;
  private visits = 0;

  constructor(options: RecordIndexOptions) {
    this.prefix = normalizePrefix(options.prefix);
    this.defaultTtl = options.defaultTtl ?? DEFAULT_RECORD_TTL;
  }

  /** Bumped on every change to what is served; cached answers keyed on it stay valid until it moves. */
  get generation(): number {
    return this.gen;
  }

  /** The etcd revision the index reflects. */
  get revision(): number {
    return this.revisionSeen;
  }

  get size(): number {
    return this.root.count;
  }

  /** Applies watch events in order. A bad value removes the key (as if absent) and is reported, never thrown. */
  apply(changes: readonly IndexChange[]): ApplyResult {
    const result: ApplyResult = { changed: 0, rejected: [] };
    for (const change of changes) {
      this.revisionSeen = Math.max(this.revisionSeen, change.revision);
      if (change.type === "delete") {
        if (this.remove(change.key, change.revision)) result.changed++;
        continue;
      }
      if (this.values.get(change.key) === change.value) continue;
      const built = this.build(change.key, change.value, change.revision);
      if ("error" in built) {
        result.rejected.push({ key: change.key, error: built.error });
        if (this.remove(change.key, change.revision)) result.changed++;
        continue;
      }
      this.insert(built.segments, built.record, change.value);
      result.changed++;
    }
    if (result.changed > 0) this.gen++;
    return result;
  }

  /**
   * Replaces the whole content with a fresh range read (start-up, or reload after compaction).
   * Only keys whose value differs are touched, so zone serials move only where data changed.
   */
  replaceAll(entries: readonly KeyValue[], revision: number): ApplyResult {
    const fresh = new Map(entries.map((entry) => [entry.key, entry]));
    const changes: IndexChange[] = [];
    for (const key of this.values.keys()) {
      if (!fresh.has(key)) changes.push({ type: "delete", key, revision });
    }
    for (const entry of entries) {
      if (this.values.get(entry.key) !== entry.value) {
        changes.push({ type: "put", key: entry.key, value: entry.value, revision: entry.modRevision || revision });
      }
    }
    const result = this.apply(changes);
    this.revisionSeen = Math.max(this.revisionSeen, revision);
    return result;
  }

  /**
   * The records for a name as CoreDNS's etcd plugin finds them: everything below the name's path,
   * or the key of the name itself when nothing is below; `*`/`any` labels match any label;
   * then the `group` filter. Undefined when no key matches: the name does not exist (NXDOMAIN).
   * Lookups that walk a big subtree are remembered until the generation moves: do not modify the result.
   */
  lookup(name: string): readonly IndexedRecord[] | undefined {
    const normal = normalizeName(name);
    if (this.memoGeneration !== this.gen) {
      this.memo.clear();
      this.memoRecords = 0;
      this.memoGeneration = this.gen;
    }
    const remembered = this.memo.get(normal);
    if (remembered !== undefined) return remembered === null ? undefined : remembered;
    const visitsBefore = this.visits;
    const found = this.search(labelsOf(normal).reverse());
    if (this.visits - visitsBefore >= MEMO_MIN_VISITS) this.remember(normal, found);
    return found;
  }

  /**
   * True when the name exists (lookup() would not return undefined): some key lies at or below it,
   * or below a match of its wildcard labels. Walks the name's path (branching only where a wildcard
   * label matches several children) and stops at the first match: never the subtree below the name.
   */
  exists(name: string): boolean {
    return this.matches(this.root, labelsOf(name).reverse(), 0);
  }

  /** Tree nodes visited by lookups and existence checks so far: for tests that bound the work per question. */
  get nodeVisits(): number {
    return this.visits;
  }

  /** Highest revision of a change at or below the name (or its nearest existing ancestor). */
  lastChange(name: string): number {
    let node = this.root;
    for (const segment of labelsOf(name).reverse()) {
      const next = node.children.get(segment);
      if (next === undefined) break;
      node = next;
    }
    return node.lastChange;
  }

  /** Every record, in key order: for `fedns records` and diagnostics. */
  all(): IndexedRecord[] {
    const found: IndexedRecord[] = [];
    this.collect(this.root, found);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private search(labels: readonly string[]): readonly IndexedRecord[] | undefined {
    const star = labels.findIndex(isWildcard);
    let node: Node | undefined = this.root;
    const fixed = star === -1 ? labels.length : star;
    for (let depth = 0; depth < fixed; depth++) {
      this.visits++;
      node = node.children.get(labels[depth]!);
      if (node === undefined) return undefined;
    }
    if (node.count === 0) return undefined;
    const found: IndexedRecord[] = [];
    if (star === -1) {
      for (const child of node.children.values()) this.collect(child, found);
      if (found.length === 0 && node.record !== undefined) found.push(node.record);
    } else {
      // CoreDNS loopNodes: every non-wildcard label must equal the key's segment at its depth, and the
      // key must be at least as deep as the question; so walk the pattern and take whole subtrees at its end.
      this.collectMatching(node, labels, star, found);
    }
    if (found.length === 0) return undefined;
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return groupFilter(found);
  }

  private collect(node: Node, into: IndexedRecord[]): void {
    this.visits++;
    if (node.record !== undefined) into.push(node.record);
    for (const child of node.children.values()) this.collect(child, into);
  }

  private collectMatching(node: Node, labels: readonly string[], depth: number, into: IndexedRecord[]): void {
    if (depth === labels.length) {
      this.collect(node, into);
      return;
    }
    this.visits++;
    const label = labels[depth]!;
    if (isWildcard(label)) {
      for (const child of node.children.values()) this.collectMatching(child, labels, depth + 1, into);
      return;
    }
    const child = node.children.get(label);
    if (child !== undefined) this.collectMatching(child, labels, depth + 1, into);
  }

  /** Whether some record lies at or below a node matching labels[depth..] (wildcards match any child). */
  private matches(node: Node, labels: readonly string[], depth: number): boolean {
    this.visits++;
    if (node.count === 0) return false;
    if (depth === labels.length) return true;
    const label = labels[depth]!;
    if (isWildcard(label)) {
      for (const child of node.children.values()) if (this.matches(child, labels, depth + 1)) return true;
      return false;
    }
    const child = node.children.get(label);
    return child !== undefined && this.matches(child, labels, depth + 1);
  }

  private remember(name: string, found: readonly IndexedRecord[] | undefined): void {
    const size = found?.length ?? 0;
    if (size > MEMO_MAX_RECORDS) return;
    while (this.memo.size >= MEMO_MAX_ENTRIES || this.memoRecords + size > MEMO_MAX_RECORDS) {
      const oldest = this.memo.entries().next();
      if (oldest.done === true) break;
      this.memo.delete(oldest.value[0]);
      this.memoRecords -= oldest.value[1]?.length ?? 0;
    }
    this.memo.set(name, found ?? null);
    this.memoRecords += size;
  }

  private build(
    key: string,
    value: string,
    revision: number,
  ): { segments: string[]; record: IndexedRecord } | { error: string } {
    const segments = keySegments(this.prefix, key);
    if ("error" in segments) return segments;
    // The key's name goes on the wire (SRV/MX/NS targets of address records): it must fit there.
    const name = nameOfSegments(segments);
    const problem = wireNameProblem(name);
    if (problem !== undefined) return { error: `key is not a valid DNS name: ${problem}` };
    const decoded = decodeService(value);
    if (!decoded.ok) return { error: decoded.error };
    const service = decoded.service;
    const record: IndexedRecord = {
      key,
      name,
      service,
      host: service.host === "" ? { kind: "invalid", reason: "no host" } : hostType(service.host),
      ttl: service.ttl !== undefined && service.ttl > 0 ? service.ttl : this.defaultTtl,
      priority: service.priority !== undefined && service.priority > 0 ? service.priority : DEFAULT_PRIORITY,
      modRevision: revision,
    };
    return { segments, record };
  }

  private insert(segments: string[], record: IndexedRecord, value: string): void {
    const isNew = !this.values.has(record.key);
    this.values.set(record.key, value);
    let node = this.root;
    const path: Node[] = [node];
    for (const segment of segments) {
      let next = node.children.get(segment);
      if (next === undefined) {
        next = newNode();
        node.children.set(segment, next);
      }
      node = next;
      path.push(node);
    }
    node.record = record;
    for (const visited of path) {
      if (isNew) visited.count++;
      visited.lastChange = Math.max(visited.lastChange, record.modRevision);
    }
  }

  private remove(key: string, revision: number): boolean {
    if (!this.values.has(key)) return false;
    this.values.delete(key);
    const segments = keySegments(this.prefix, key);
    if ("error" in segments) return true;
    const path: Node[] = [this.root];
    let node = this.root;
    for (const segment of segments) {
      const next = node.children.get(segment);
      if (next === undefined) return true;
      node = next;
      path.push(node);
    }
    node.record = undefined;
    for (const visited of path) {
      visited.count--;
      visited.lastChange = Math.max(visited.lastChange, revision);
    }
    for (let depth = segments.length; depth > 0; depth--) {
      const child = path[depth]!;
      if (child.count > 0) break;
      path[depth - 1]!.children.delete(segments[depth - 1]!);
    }
    return true;
  }
}

function isWildcard(label: string): boolean {
  return label === "*" || label === "any";
}

/**
 * CoreDNS msg.Group: the shortest key carrying a `group` sets the group; records of other groups are
 * dropped (those without a group stay), unless keys of the shortest length disagree on it.
 */
function groupFilter(records: IndexedRecord[]): IndexedRecord[] {
  const first = records[0];
  if (first === undefined) return records;
  let group = first.service.group ?? "";
  let slashes = slashCount(first.key);
  const lengths = records.map((record) => slashCount(record.key));
  for (let i = 0; i < records.length; i++) {
    const length = lengths[i]!;
    if (length < slashes) {
      const recordGroup = records[i]!.service.group ?? "";
      if (recordGroup === "") break;
      slashes = length;
      group = recordGroup;
    }
  }
  if (group === "") return records;
  const kept: IndexedRecord[] = [];
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const recordGroup = record.service.group ?? "";
    if (recordGroup === "") {
      kept.push(record);
      continue;
    }
    if (lengths[i] === slashes && recordGroup !== group) return records;
    if (recordGroup === group) kept.push(record);
  }
  return kept;
}

function slashCount(key: string): number {
  let count = 0;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) === 47) count++;
  return count;
}
