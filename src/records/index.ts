// The in-memory record index: every skydns key under the prefix, arranged as a tree of
// reversed labels. Records of other writers answer with the CoreDNS etcd plugin's subtree reading
// (plugin/etcd Records + msg.Group); records fedns writes (owner `fedns/…`) answer exactly at their
// owner name (ownerNameOf). Built and patched by the store's source; read by the answer path.
// Every read takes a LookupBudget, so no question costs more than the budget, whatever the data.
import { LookupBudget } from "./budget.ts";
import { keySegments, labelsOf, nameOfSegments, normalizeName, normalizePrefix, wireNameProblem } from "./name.ts";
import { decodeService, type HostType, hostType, type SkydnsService } from "./service.ts";
import { isFednsOwned, ownerNameOf, type RecordType, recordType } from "./type.ts";

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
  /** The name the record answers for (ownerNameOf). */
  readonly owner: string;
  /** The record's type (recordType). */
  readonly type: RecordType;
  /** Written by fedns: answers only at `owner`, only as `type`. */
  readonly fedns: boolean;
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

/** The records answering at a name, and whether the budget cut the collection short. */
export interface NameRecords {
  /** fedns records owned by the name, then other writers' records in key order after the group filter. */
  readonly records: readonly IndexedRecord[];
  readonly truncated: boolean;
}

export interface ReadOptions {
  budget?: LookupBudget;
  /** Expand `*` and `any` labels of the question (CoreDNS); false reads them literally. Default true. */
  wildcards?: boolean;
}

interface Node {
  children: Map<string, Node> | undefined;
  record: IndexedRecord | undefined;
  /** fedns records whose owner name is this node's name, in key order. */
  owned: IndexedRecord[] | undefined;
  /** Number of records in this node and below it. */
  count: number;
  /**
   * Number of records answering at this node's name or below it: other writers' records at or below
   * it, fedns records whose owner name is. A per-address key of fedns (its owner one label up) makes
   * no name exist: 0 here means NXDOMAIN, as a zone file without that name would answer.
   */
  named: number;
  /** Number of other writers' records in this node and below it: subtree reads walk only where it is > 0. */
  foreign: number;
  /** Highest revision of a change at or below this node: the zone serial source and per-name generation. */
  lastChange: number;
}

function newNode(): Node {
  return { children: undefined, record: undefined, owned: undefined, count: 0, named: 0, foreign: 0, lastChange: 0 };
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
  private visits = 0;

  constructor(options: RecordIndexOptions) {
    this.prefix = normalizePrefix(options.prefix);
    this.defaultTtl = options.defaultTtl ?? DEFAULT_RECORD_TTL;
  }

  /** Bumped on every change to what is served. */
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
      this.remove(change.key, change.revision);
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
   * The records answering at a name: fedns records whose owner name matches it, plus other writers'
   * records as CoreDNS's etcd plugin finds them (everything below the name's path, or the key of the
   * name itself when nothing is below, then the `group` filter). `*`/`any` labels match any label.
   * Undefined when no record answers at or below the name (no other writer's key at or below it, no
   * fedns owner name at or below it): it does not exist (NXDOMAIN).
   */
  at(name: string, options: ReadOptions = {}): NameRecords | undefined {
    const budget = options.budget ?? new LookupBudget();
    const labels = labelsOf(normalizeName(name)).reverse();
    const wildcards = options.wildcards ?? true;
    const star = wildcards ? labels.findIndex(isWildcard) : -1;
    let node: Node | undefined = this.root;
    const fixed = star === -1 ? labels.length : star;
    for (let depth = 0; depth < fixed; depth++) {
      if (!this.visit(budget)) return { records: [], truncated: true };
      node = node.children?.get(labels[depth]!);
      if (node === undefined) return undefined;
    }
    if (node.named === 0) return undefined;
    const owned: IndexedRecord[] = [];
    const foreign: IndexedRecord[] = [];
    if (star === -1) {
      if (node.owned !== undefined) for (const record of node.owned) if (budget.take()) owned.push(record);
      this.collectForeign(node, foreign, budget);
    } else {
      // CoreDNS loopNodes: every non-wildcard label must equal the key's segment at its depth, and the
      // key must be at least as deep as the question; so walk the pattern and take whole subtrees at its end.
      this.collectMatching(node, labels, star, owned, foreign, budget);
    }
    foreign.sort(byKey);
    const records = owned.length === 0 ? groupFilter(foreign) : [...owned, ...groupFilter(foreign)];
    // A wildcard question that matched no key names nothing (an exact one stopped at an existing node).
    if (star !== -1 && records.length === 0 && !budget.exhausted && !this.matches(this.root, labels, 0, budget, true)) {
      return undefined;
    }
    return { records, truncated: budget.exhausted };
  }

  /** fedns records owned by exactly this name (no wildcards, no subtree), in key order. */
  ownedBy(name: string): readonly IndexedRecord[] {
    let node: Node | undefined = this.root;
    for (const segment of labelsOf(name).reverse()) {
      node = node.children?.get(segment);
      if (node === undefined) return [];
    }
    return node.owned ?? [];
  }

  /** at(name)'s records, or undefined when the name does not exist. */
  lookup(name: string, options: ReadOptions = {}): readonly IndexedRecord[] | undefined {
    return this.at(name, options)?.records;
  }

  /**
   * True when the name exists (at() would not return undefined): some record answers at or below it,
   * or below a match of its wildcard labels. Walks the name's path (branching only where a wildcard
   * label matches several children) and stops at the first match: never the subtree below the name.
   */
  exists(name: string, options: ReadOptions = {}): boolean {
    const budget = options.budget ?? new LookupBudget();
    return this.matches(this.root, labelsOf(name).reverse(), 0, budget, options.wildcards ?? true);
  }

  /** Tree nodes visited by lookups and existence checks so far: for tests that bound the work per question. */
  get nodeVisits(): number {
    return this.visits;
  }

  /** Highest revision of a change at or below the name (or its nearest existing ancestor). */
  lastChange(name: string): number {
    let node = this.root;
    for (const segment of labelsOf(name).reverse()) {
      const next = node.children?.get(segment);
      if (next === undefined) break;
      node = next;
    }
    return node.lastChange;
  }

  /** Every record, in key order: for `fedns records`, zone transfers and diagnostics. */
  all(): IndexedRecord[] {
    const found: IndexedRecord[] = [];
    const walk = (node: Node): void => {
      if (node.record !== undefined) found.push(node.record);
      if (node.children !== undefined) for (const child of node.children.values()) walk(child);
    };
    walk(this.root);
    return found.sort(byKey);
  }

  private visit(budget: LookupBudget): boolean {
    if (!budget.visit()) return false;
    this.visits++;
    return true;
  }

  /** Other writers' records at and below a node, pruned to branches that hold some. */
  private collectForeign(node: Node, into: IndexedRecord[], budget: LookupBudget): void {
    if (node.foreign === 0) return;
    if (node.children !== undefined && node.foreign > (node.record !== undefined && !node.record.fedns ? 1 : 0)) {
      for (const child of node.children.values()) {
        if (child.foreign === 0) continue;
        if (!this.visit(budget)) return;
        this.collectBelow(child, into, budget);
        if (budget.exhausted) return;
      }
      if (into.length > 0) return;
    }
    // CoreDNS: the key of the name itself only when nothing is below it.
    if (node.record !== undefined && !node.record.fedns && budget.take()) into.push(node.record);
  }

  private collectBelow(node: Node, into: IndexedRecord[], budget: LookupBudget): void {
    if (node.record !== undefined && !node.record.fedns) {
      if (!budget.take()) return;
      into.push(node.record);
    }
    if (node.children === undefined) return;
    for (const child of node.children.values()) {
      if (child.foreign === 0) continue;
      if (!this.visit(budget)) return;
      this.collectBelow(child, into, budget);
      if (budget.exhausted) return;
    }
  }

  private collectMatching(
    node: Node,
    labels: readonly string[],
    depth: number,
    owned: IndexedRecord[],
    foreign: IndexedRecord[],
    budget: LookupBudget,
  ): void {
    if (depth === labels.length) {
      // fedns records answer a wildcard question only at owner names of the question's depth.
      if (node.owned !== undefined) for (const record of node.owned) if (budget.take()) owned.push(record);
      if (node.foreign > 0) this.collectBelow(node, foreign, budget);
      return;
    }
    if (node.children === undefined) return;
    const label = labels[depth]!;
    if (isWildcard(label)) {
      for (const child of node.children.values()) {
        if (!this.visit(budget)) return;
        this.collectMatching(child, labels, depth + 1, owned, foreign, budget);
        if (budget.exhausted) return;
      }
      return;
    }
    if (!this.visit(budget)) return;
    const child = node.children.get(label);
    if (child !== undefined) this.collectMatching(child, labels, depth + 1, owned, foreign, budget);
  }

  /** Whether some record lies at or below a node matching labels[depth..] (wildcards match any child). */
  private matches(node: Node, labels: readonly string[], depth: number, budget: LookupBudget, wild: boolean): boolean {
    if (!this.visit(budget)) return false;
    if (node.named === 0) return false;
    if (depth === labels.length) return true;
    const label = labels[depth]!;
    if (wild && isWildcard(label)) {
      if (node.children === undefined) return false;
      for (const child of node.children.values()) if (this.matches(child, labels, depth + 1, budget, wild)) return true;
      return false;
    }
    const child = node.children?.get(label);
    return child !== undefined && this.matches(child, labels, depth + 1, budget, wild);
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
    const shape = { name, service };
    const record: IndexedRecord = {
      key,
      name,
      service,
      host: service.host === "" ? { kind: "invalid", reason: "no host" } : hostType(service.host),
      ttl: service.ttl !== undefined && service.ttl > 0 ? service.ttl : this.defaultTtl,
      priority: service.priority !== undefined && service.priority > 0 ? service.priority : DEFAULT_PRIORITY,
      modRevision: revision,
      owner: ownerNameOf(shape),
      type: recordType(shape),
      fedns: isFednsOwned(service),
    };
    return { segments, record };
  }

  private insert(segments: string[], record: IndexedRecord, value: string): void {
    this.values.set(record.key, value);
    let node = this.root;
    const path: Node[] = [node];
    for (const segment of segments) {
      node.children ??= new Map();
      let next = node.children.get(segment);
      if (next === undefined) {
        next = newNode();
        node.children.set(segment, next);
      }
      node = next;
      path.push(node);
    }
    node.record = record;
    const namedDepth = record.fedns ? labelsOf(record.owner).length : path.length;
    for (const [depth, visited] of path.entries()) {
      visited.count++;
      if (depth <= namedDepth) visited.named++;
      if (!record.fedns) visited.foreign++;
      visited.lastChange = Math.max(visited.lastChange, record.modRevision);
    }
    if (record.fedns) {
      const ownerNode = path[labelsOf(record.owner).length] ?? node;
      const owned = ownerNode.owned ?? [];
      let at = owned.length;
      while (at > 0 && owned[at - 1]!.key > record.key) at--;
      owned.splice(at, 0, record);
      ownerNode.owned = owned;
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
      const next = node.children?.get(segment);
      if (next === undefined) return true;
      node = next;
      path.push(node);
    }
    const record = node.record;
    if (record === undefined) return true;
    node.record = undefined;
    if (record.fedns) {
      const ownerNode = path[labelsOf(record.owner).length] ?? node;
      const owned = ownerNode.owned?.filter((other) => other !== record);
      ownerNode.owned = owned === undefined || owned.length === 0 ? undefined : owned;
    }
    const namedDepth = record.fedns ? labelsOf(record.owner).length : path.length;
    for (const [depth, visited] of path.entries()) {
      visited.count--;
      if (depth <= namedDepth) visited.named--;
      if (!record.fedns) visited.foreign--;
      visited.lastChange = Math.max(visited.lastChange, revision);
    }
    for (let depth = segments.length; depth > 0; depth--) {
      const child = path[depth]!;
      if (child.count > 0) break;
      const parent = path[depth - 1]!;
      parent.children?.delete(segments[depth - 1]!);
      if (parent.children?.size === 0) parent.children = undefined;
    }
    return true;
  }
}

function byKey(a: IndexedRecord, b: IndexedRecord): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
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
