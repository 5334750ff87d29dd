// The in-memory record index: every skydns key under the prefix, arranged as a tree of
// reversed labels, answering lookups with the CoreDNS etcd plugin's semantics
// (plugin/etcd Records + msg.Group). Built and patched by the store's source; read by answer().
import { labelsOf, normalizePrefix } from "./name.ts";
import { decodeService, type HostType, hostType, type SkydnsService } from "./service.ts";

export const DEFAULT_RECORD_TTL = 300;
/** CoreDNS fills a zero priority with 10 when reading records. */
const DEFAULT_PRIORITY = 10;

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
   */
  lookup(name: string): IndexedRecord[] | undefined {
    const labels = labelsOf(name).reverse();
    const star = labels.findIndex((label) => label === "*" || label === "any");
    const fixed = star === -1 ? labels : labels.slice(0, star);
    let node: Node | undefined = this.root;
    for (const segment of fixed) {
      node = node.children.get(segment);
      if (node === undefined) return undefined;
    }
    let found: IndexedRecord[];
    if (star === -1) {
      found = [];
      for (const child of node.children.values()) collect(child, found);
      if (found.length === 0 && node.record !== undefined) found.push(node.record);
    } else {
      found = [];
      for (const child of node.children.values()) collect(child, found);
      found = found.filter((record) => matchesWildcard(labels, record, this.prefixDepth()));
    }
    if (found.length === 0) return undefined;
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return groupFilter(found);
  }

  /** True when some key lies at or below the name (so the name exists, perhaps as an empty non-terminal). */
  exists(name: string): boolean {
    return this.lookup(name) !== undefined;
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
    collect(this.root, found);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private prefixDepth(): number {
    return this.prefix.split("/").length;
  }

  private segmentsOf(key: string): string[] | { error: string } {
    const base = `${this.prefix}/`;
    if (!key.startsWith(base)) return { error: `key is not below ${base}` };
    const reversedLabels = key.slice(base.length).split("/");
    if (reversedLabels.some((segment) => segment.length === 0)) return { error: "key has an empty path segment" };
    return reversedLabels;
  }

  private build(
    key: string,
    value: string,
    revision: number,
  ): { segments: string[]; record: IndexedRecord } | { error: string } {
    const segments = this.segmentsOf(key);
    if ("error" in segments) return segments;
    const decoded = decodeService(value);
    if (!decoded.ok) return { error: decoded.error };
    const service = decoded.service;
    const record: IndexedRecord = {
      key,
      name: [...segments].reverse().join(".").toLowerCase(),
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
    const segments = this.segmentsOf(key);
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

function collect(node: Node, into: IndexedRecord[]): void {
  if (node.record !== undefined) into.push(node.record);
  for (const child of node.children.values()) collect(child, into);
}

/** CoreDNS loopNodes with a wildcard: every non-wildcard label of the question must equal the key's segment. */
function matchesWildcard(reversedLabels: string[], record: IndexedRecord, prefixDepth: number): boolean {
  const keyParts = record.key.split("/").slice(prefixDepth);
  if (keyParts.length < reversedLabels.length) return false;
  return reversedLabels.every((label, i) => label === "*" || label === "any" || keyParts[i] === label);
}

/**
 * CoreDNS msg.Group: the shortest key carrying a `group` sets the group; records of other groups are
 * dropped (those without a group stay), unless keys of the shortest length disagree on it.
 */
export function groupFilter(records: IndexedRecord[]): IndexedRecord[] {
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
