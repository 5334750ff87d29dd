// The in-memory record index: every skydns key under the prefix, arranged as a tree of
// reversed labels. Records of other writers answer with the CoreDNS etcd plugin's subtree reading
// (plugin/etcd Records + msg.Group); records fedns writes (owner `fedns/…`) answer exactly at their
// owner name (ownerNameOf). Built and patched by the store's source; read by the answer path.
// Every read takes a LookupBudget, so no question costs more than the budget, whatever the data.
//
// Compact (issue 8): a tree node exists per name that has keys below it (one object, its children
// inline when there is one, in a small array up to 16, in a Map beyond); a key's record hangs in its
// parent's children as the leaf itself (stored-record.ts: numbers and shared strings, no key, no
// name, no raw value) and becomes a node only when keys lie below it too or it owns its own name.
// A fedns record points at its owner name's node; the node counts how many of its leaves it owns.

import { SERVING_TURN_BUDGET_MS } from "../obs/loop-budget.ts";
import { LookupBudget } from "./budget.ts";
import { labelsOf, normalizeName, normalizePrefix, segmentsBelow } from "./name.ts";
import { type PreparedKey, prepareKey } from "./prepared.ts";
import { type IndexedRecord, Interner, nameOfNode, type PathNode, StoredRecord } from "./stored-record.ts";

export type { HostKind, IndexedRecord } from "./stored-record.ts";

export const DEFAULT_RECORD_TTL = 300;
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

/** A name and the records that answer exactly there, for zone transfers and other full walks. */
export interface NameEntry {
  /** The name (lowercase, no trailing dot). */
  readonly name: string;
  /** fedns records owned by the name, then other writers' records whose key is the name; key order. */
  readonly records: readonly IndexedRecord[];
}

export interface WalkOptions {
  /** Walk for this long at most, then let answers and timers run (default 8 ms). */
  sliceMs?: number;
  signal?: AbortSignal;
}

/** The index changed while forEachName() walked it: what was visited is no consistent copy. */
export class IndexChangedError extends Error {
  constructor(zone: string) {
    super(`the record index changed while walking ${JSON.stringify(zone)}`);
    this.name = "IndexChangedError";
  }
}

type Child = Node | StoredRecord;
type Children = Child | Child[] | Map<string, Child>;
/** Children held in an array up to this many, then in a Map. */
const ARRAY_CHILDREN = 16;
const UNLIMITED = { maxVisits: Number.MAX_SAFE_INTEGER, maxRecords: Number.MAX_SAFE_INTEGER };

class Node implements PathNode {
  readonly label: string;
  readonly parent: Node | undefined;
  children: Children | undefined = undefined;
  /** The record of the key that ends at this name, when keys lie below it too or it owns its own name. */
  record: StoredRecord | undefined = undefined;
  /** fedns records owned by this name whose key is not a child of it (their group lies further up), key order. */
  owned: StoredRecord[] | undefined = undefined;
  /** fedns records at child positions (leaves, or children's `record`) owned by this name. */
  leafOwned = 0;
  /**
   * Number of records answering at this node's name or below it: other writers' records at or below
   * it, fedns records whose owner name is. A per-address key of fedns (its owner one label up) makes
   * no name exist: 0 here means NXDOMAIN, as a zone file without that name would answer.
   */
  named = 0;
  /** Number of other writers' records in this node and below it: subtree reads walk only where it is > 0. */
  foreign = 0;
  /** Highest revision of a change at or below this node: the zone serial source and per-name generation. */
  lastChange = 0;

  constructor(label: string, parent: Node | undefined) {
    this.label = label;
    this.parent = parent;
  }
}

function childOf(node: Node, label: string): Child | undefined {
  const children = node.children;
  if (children === undefined) return undefined;
  if (children instanceof Map) return children.get(label);
  if (Array.isArray(children)) {
    for (const child of children) if (child.label === label) return child;
    return undefined;
  }
  return children.label === label ? children : undefined;
}

/** Adds a child, or replaces the one of the same label. */
function setChild(node: Node, child: Child): void {
  const children = node.children;
  if (children === undefined) {
    node.children = child;
  } else if (children instanceof Map) {
    children.set(child.label, child);
  } else if (Array.isArray(children)) {
    const at = children.findIndex((other) => other.label === child.label);
    if (at !== -1) children[at] = child;
    else if (children.length < ARRAY_CHILDREN) node.children = children.concat([child]);
    else node.children = new Map([...children, child].map((entry) => [entry.label, entry]));
  } else if (children.label === child.label) {
    node.children = child;
  } else {
    node.children = [children, child];
  }
}

function removeChild(node: Node, label: string): void {
  const children = node.children;
  if (children === undefined) return;
  if (children instanceof Map) {
    children.delete(label);
    if (children.size === 0) node.children = undefined;
  } else if (Array.isArray(children)) {
    const kept = children.filter((child) => child.label !== label);
    node.children = kept.length === 0 ? undefined : kept.length === 1 ? kept[0] : kept;
  } else if (children.label === label) {
    node.children = undefined;
  }
}

const NO_CHILDREN: readonly Child[] = [];

function childrenOf(node: Node): Iterable<Child> {
  const children = node.children;
  if (children === undefined) return NO_CHILDREN;
  if (children instanceof Map) return children.values();
  if (Array.isArray(children)) return children;
  return [children];
}

function namedOf(child: Child): number {
  return child instanceof Node ? child.named : child.fedns ? 0 : 1;
}

function foreignOf(child: Child): number {
  return child instanceof Node ? child.foreign : child.fedns ? 0 : 1;
}

function depthOf(node: PathNode): number {
  let depth = 0;
  for (let at = node.parent; at !== undefined; at = at.parent) depth++;
  return depth;
}

export interface RecordIndexOptions {
  prefix: string;
  defaultTtl?: number;
}

export class RecordIndex {
  readonly prefix: string;
  readonly defaultTtl: number;
  /** `<prefix>/`: what every key starts with. */
  private readonly base: string;
  private readonly root: Node;
  private readonly interner = new Interner();
  private cachedPath: { segments: readonly string[]; path: Node[] } | undefined;
  private count = 0;
  private revisionSeen = 0;
  private gen = 0;
  private visits = 0;
  /** Serial markers (federation/keys.ts): name -> mod revision; `serialMarks` memoized per zone. */
  private readonly markers = new Map<string, number>();
  private marksMemo = new Map<string, number>();

  constructor(options: RecordIndexOptions) {
    this.prefix = normalizePrefix(options.prefix);
    this.defaultTtl = options.defaultTtl ?? DEFAULT_RECORD_TTL;
    this.base = `${this.prefix}/`;
    this.root = new Node(this.prefix, undefined);
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
    return this.count;
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
      const prepared = prepareKey(this.base, change.key, change.value, change.revision);
      if ("error" in prepared) {
        result.rejected.push({ key: change.key, error: prepared.error });
        if (this.remove(change.key, change.revision)) result.changed++;
        continue;
      }
      if (this.place(prepared)) result.changed++;
    }
    if (result.changed > 0) this.gen++;
    return result;
  }

  /**
   * Puts records prepared elsewhere (the loader worker: records/prepared.ts), as apply() puts their keys' values.
   * Returns how many changed what is served.
   */
  putPrepared(records: Iterable<PreparedKey>): number {
    let changed = 0;
    for (const prepared of records) {
      this.revisionSeen = Math.max(this.revisionSeen, prepared.fields.modRevision);
      if (this.place(prepared, true)) changed++;
    }
    if (changed > 0) this.gen++;
    return changed;
  }

  /** Places a prepared key's record, replacing the key's previous one; false when it served the same data. */
  private place(prepared: PreparedKey, ownStrings = false): boolean {
    const { segments, fields } = prepared;
    const record = new StoredRecord(fields, this.defaultTtl, this.interner, ownStrings);
    const existing = this.find(segments);
    // The same data again (etcd moves modRevision on every put): nothing served changes, no serial moves.
    if (existing?.sameData(record, fields.group)) return false;
    if (existing !== undefined) this.removeAt(segments, fields.modRevision);
    this.insert(segments, record, prepared);
    return true;
  }

  /**
   * Replaces the whole content with a fresh range read (tools and tests; the record source builds a new
   * index instead). Only keys whose data differs are touched, so zone serials move only where data changed.
   */
  replaceAll(entries: readonly KeyValue[], revision: number): ApplyResult {
    const fresh = new Set(entries.map((entry) => entry.key));
    const changes: IndexChange[] = [];
    for (const record of this.all()) {
      const key = record.key;
      if (!fresh.has(key)) changes.push({ type: "delete", key, revision });
    }
    for (const entry of entries) {
      changes.push({ type: "put", key: entry.key, value: entry.value, revision: entry.modRevision || revision });
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
    let node: Child = this.root;
    const fixed = star === -1 ? labels.length : star;
    for (let depth = 0; depth < fixed; depth++) {
      if (!this.visit(budget)) return { records: [], truncated: true };
      const next: Child | undefined = node instanceof Node ? childOf(node, labels[depth]!) : undefined;
      if (next === undefined) return undefined;
      node = next;
    }
    if (namedOf(node) === 0) return undefined;
    const owned: StoredRecord[] = [];
    const foreign: StoredRecord[] = [];
    if (star === -1) {
      collectOwned(node, owned, budget);
      this.collectForeign(node, foreign, budget);
    } else {
      // CoreDNS loopNodes: every non-wildcard label must equal the key's segment at its depth, and the
      // key must be at least as deep as the question; so walk the pattern and take whole subtrees at its end.
      this.collectMatching(node, labels, star, owned, foreign, budget);
    }
    const filtered = groupFilter(inKeyOrder(foreign));
    const records = owned.length === 0 ? filtered : [...owned, ...filtered];
    // A wildcard question that matched no key names nothing (an exact one stopped at an existing node).
    if (star !== -1 && records.length === 0 && !budget.exhausted && !this.matches(this.root, labels, 0, budget, true)) {
      return undefined;
    }
    return { records, truncated: budget.exhausted };
  }

  /** fedns records owned by exactly this name (no wildcards, no subtree), in key order. */
  ownedBy(name: string): readonly IndexedRecord[] {
    const node = this.nodeAt(labelsOf(name).reverse());
    if (node === undefined) return [];
    const found: StoredRecord[] = [];
    collectOwned(node, found, new LookupBudget(UNLIMITED));
    return found;
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
    let node: Child = this.root;
    for (const segment of labelsOf(name).reverse()) {
      const next: Child | undefined = node instanceof Node ? childOf(node, segment) : undefined;
      if (next === undefined) break;
      node = next;
    }
    return node instanceof Node ? node.lastChange : node.modRevision;
  }

  /**
   * Records a serial marker at a name (the domain whose writer moved it) with its mod revision. A marker
   * never moves back on a running index (a lower or repeated revision is ignored): a zone's serial must not
   * go down. True when it moved.
   */
  setSerialMarker(name: string, revision: number): boolean {
    const normal = normalizeName(name);
    if ((this.markers.get(normal) ?? 0) >= revision) return false;
    this.markers.set(normal, revision);
    this.marksMemo = new Map();
    return true;
  }

  /** Serial markers held. */
  get serialMarkers(): number {
    return this.markers.size;
  }

  hasSerialMarker(name: string): boolean {
    return this.markers.has(normalizeName(name));
  }

  /**
   * The highest mod revision of the serial markers at, below or above a zone's name: a domain's marker
   * moves with the deletes anywhere in it, so it counts for the zone holding it, for zones inside it and for
   * the zones it holds (at worst a serial moves once more than needed, never less).
   */
  serialMarks(zone: string): number {
    // Keyed by the name as asked (the configured zones, on every answer carrying an SOA): no normalizing per hit.
    const known = this.marksMemo.get(zone);
    if (known !== undefined) return known;
    const normal = normalizeName(zone);
    let highest = 0;
    for (const [name, revision] of this.markers) {
      if (revision > highest && (isAtOrBelow(name, normal) || isAtOrBelow(normal, name))) highest = revision;
    }
    // Bounded: one entry per zone asked (the configured zones), reset whenever a marker moves.
    if (this.marksMemo.size < MAX_MARKS_MEMO) this.marksMemo.set(zone, highest);
    return highest;
  }

  /** Every record, in key order: for `fedns records` and diagnostics (one pass over everything: not for serving). */
  all(): IndexedRecord[] {
    const found: StoredRecord[] = [];
    const walk = (node: Node): void => {
      if (node.record !== undefined) found.push(node.record);
      for (const child of childrenOf(node)) {
        if (child instanceof Node) walk(child);
        else found.push(child);
      }
    };
    walk(this.root);
    return inKeyOrder(found);
  }

  /**
   * Every name at or below `zone` that records answer at, each once with the records that answer exactly
   * there (NameEntry): a synchronous walk in tree order, a cursor for callers that slice it themselves.
   * If the index changes while the generator is suspended, it neither throws nor loops: a record present
   * and unchanged throughout is yielded exactly once; a key changed meanwhile may be yielded in its old or
   * its new form, twice (its owner moved to a name not walked yet) or not at all. Callers either refuse
   * such a walk (forEachName) or dedupe by key and replay the changes (xfr/content.ts buildVersion).
   */
  *names(zone: string): Generator<NameEntry> {
    const start = this.nodeAt(labelsOf(zone).reverse());
    if (start === undefined) return;
    const stack: Node[] = [start];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      if (node.named === 0 && node.foreign === 0) continue;
      const here: StoredRecord[] = [];
      collectOwned(node, here, new LookupBudget(UNLIMITED));
      if (node.record !== undefined && !node.record.fedns) here.push(node.record);
      if (here.length > 0) yield { name: nameOfNode(node), records: here };
      const below: Node[] = [];
      for (const child of childrenOf(node)) {
        if (child instanceof Node) below.push(child);
        else if (!child.fedns) yield { name: child.name, records: [child] };
      }
      for (let i = below.length - 1; i >= 0; i--) stack.push(below[i]!);
    }
  }

  /**
   * names(zone) in slices that yield the event loop every `sliceMs`: `visit` gets each name. Resolves with
   * the generation the whole walk saw; rejects with IndexChangedError when the index changed in between
   * (nothing consistent was seen: walk again), or with the signal's reason when aborted.
   */
  async forEachName(zone: string, visit: (entry: NameEntry) => void, options: WalkOptions = {}): Promise<number> {
    const sliceMs = options.sliceMs ?? SERVING_TURN_BUDGET_MS;
    const generation = this.gen;
    let sliceStarted = performance.now();
    for (const entry of this.names(zone)) {
      visit(entry);
      if (performance.now() - sliceStarted < sliceMs) continue;
      await new Promise((resolve) => setImmediate(resolve));
      options.signal?.throwIfAborted();
      if (this.gen !== generation) throw new IndexChangedError(zone);
      sliceStarted = performance.now();
    }
    return generation;
  }

  private nodeAt(labels: readonly string[]): Node | undefined {
    let node: Node = this.root;
    for (const label of labels) {
      const next = childOf(node, label);
      if (!(next instanceof Node)) return undefined;
      node = next;
    }
    return node;
  }

  private visit(budget: LookupBudget): boolean {
    if (!budget.visit()) return false;
    this.visits++;
    return true;
  }

  /** Other writers' records at and below a node, pruned to branches that hold some. */
  private collectForeign(node: Child, into: StoredRecord[], budget: LookupBudget): void {
    if (foreignOf(node) === 0) return;
    if (!(node instanceof Node)) {
      if (budget.take()) into.push(node);
      return;
    }
    const self = node.record !== undefined && !node.record.fedns ? 1 : 0;
    if (node.children !== undefined && node.foreign > self) {
      for (const child of childrenOf(node)) {
        if (foreignOf(child) === 0) continue;
        if (!this.visit(budget)) return;
        this.collectBelow(child, into, budget);
        if (budget.exhausted) return;
      }
      if (into.length > 0) return;
    }
    // CoreDNS: the key of the name itself only when nothing is below it.
    if (self === 1 && budget.take()) into.push(node.record!);
  }

  private collectBelow(node: Child, into: StoredRecord[], budget: LookupBudget): void {
    if (!(node instanceof Node)) {
      if (!node.fedns && budget.take()) into.push(node);
      return;
    }
    if (node.record !== undefined && !node.record.fedns) {
      if (!budget.take()) return;
      into.push(node.record);
    }
    for (const child of childrenOf(node)) {
      if (foreignOf(child) === 0) continue;
      if (!this.visit(budget)) return;
      this.collectBelow(child, into, budget);
      if (budget.exhausted) return;
    }
  }

  private collectMatching(
    node: Child,
    labels: readonly string[],
    depth: number,
    owned: StoredRecord[],
    foreign: StoredRecord[],
    budget: LookupBudget,
  ): void {
    if (depth === labels.length) {
      // fedns records answer a wildcard question only at owner names of the question's depth.
      collectOwned(node, owned, budget);
      if (foreignOf(node) > 0) this.collectBelow(node, foreign, budget);
      return;
    }
    if (!(node instanceof Node) || node.children === undefined) return;
    const label = labels[depth]!;
    if (isWildcard(label)) {
      for (const child of childrenOf(node)) {
        if (!this.visit(budget)) return;
        this.collectMatching(child, labels, depth + 1, owned, foreign, budget);
        if (budget.exhausted) return;
      }
      return;
    }
    if (!this.visit(budget)) return;
    const child = childOf(node, label);
    if (child !== undefined) this.collectMatching(child, labels, depth + 1, owned, foreign, budget);
  }

  /** Whether some record lies at or below a node matching labels[depth..] (wildcards match any child). */
  private matches(node: Child, labels: readonly string[], depth: number, budget: LookupBudget, wild: boolean): boolean {
    if (!this.visit(budget)) return false;
    if (namedOf(node) === 0) return false;
    if (depth === labels.length) return true;
    if (!(node instanceof Node)) return false;
    const label = labels[depth]!;
    if (wild && isWildcard(label)) {
      for (const child of childrenOf(node)) if (this.matches(child, labels, depth + 1, budget, wild)) return true;
      return false;
    }
    const child = childOf(node, label);
    return child !== undefined && this.matches(child, labels, depth + 1, budget, wild);
  }

  /** The record stored at a key's segments, if any. */
  private find(segments: readonly string[]): StoredRecord | undefined {
    const path = this.parentPath(segments, false);
    if (path === undefined) return undefined;
    const child = childOf(path[path.length - 1]!, segments[segments.length - 1]!);
    return child instanceof Node ? child.record : child;
  }

  /**
   * The nodes from the root to a key's parent name, created where missing when `create` (a leaf on the way
   * becomes a node holding its record), else undefined when missing. Remembered: the keys of a sorted load
   * share their parent in runs, so most keys cost no walk. Nodes leave the tree only when pruned, which
   * forgets it.
   */
  private parentPath(segments: readonly string[], create: boolean): Node[] | undefined {
    const depth = segments.length - 1;
    const cached = this.cachedPath;
    if (cached !== undefined && cached.segments.length === segments.length) {
      let same = true;
      for (let i = depth - 1; i >= 0 && same; i--) same = cached.segments[i] === segments[i];
      if (same) return cached.path;
    }
    const path: Node[] = [this.root];
    let node = this.root;
    for (let i = 0; i < depth; i++) {
      const label = segments[i]!;
      let next = childOf(node, label);
      if (!(next instanceof Node)) {
        if (!create) return undefined;
        // A key below another key's leaf: the leaf becomes a node holding its record.
        const created: Node = new Node(this.interner.intern(label), node);
        if (next !== undefined) {
          created.record = next;
          created.named = namedOf(next);
          created.foreign = foreignOf(next);
          created.lastChange = next.modRevision;
        }
        setChild(node, created);
        next = created;
      }
      node = next;
      path.push(node);
    }
    this.cachedPath = { segments, path };
    return path;
  }

  private insert(segments: readonly string[], record: StoredRecord, placing: PreparedKey): void {
    const depth = segments.length;
    const ownerDepth = placing.ownerDepth;
    const path = this.parentPath(segments, true)!;
    const node = path[path.length - 1]!;
    const fedns = record.fedns;
    record.parent = node;
    const label = record.label;
    const at = childOf(node, label);
    let own: Node | undefined;
    if (at instanceof Node) {
      own = at;
      at.record = record;
    } else if (fedns && ownerDepth >= depth) {
      // A fedns record owning its own key's name: that name needs a node to be owned at.
      own = new Node(label, node);
      own.record = record;
      setChild(node, own);
    } else {
      setChild(node, record);
    }
    const namedDepth = fedns ? ownerDepth : depth;
    // `path` is shared with the next keys (parentPath): the record's own node, if any, is depth `depth`.
    for (let k = 0; k <= depth; k++) {
      const visited = k < depth ? path[k]! : own;
      if (visited === undefined) continue;
      if (k <= namedDepth) visited.named++;
      if (!fedns) visited.foreign++;
      if (record.modRevision > visited.lastChange) visited.lastChange = record.modRevision;
    }
    this.count++;
    if (!fedns) return;
    const ownerNode = ownerDepth >= depth ? own! : path[ownerDepth]!;
    record.setOwnerNode(ownerNode);
    // The group is the owner node's name unless written otherwise (case, trailing dot) or no ancestor.
    if (placing.keepRawGroup && placing.fields.group !== undefined) record.keepRawGroup(placing.fields.group);
    if (ownerDepth === depth - 1) ownerNode.leafOwned++;
    else if (ownerDepth < depth - 1) ownerNode.owned = insertByKey(ownerNode.owned ?? [], record);
  }

  private remove(key: string, revision: number): boolean {
    const segments = segmentsBelow(this.base, key);
    return "error" in segments ? false : this.removeAt(segments, revision);
  }

  private removeAt(segments: readonly string[], revision: number): boolean {
    const depth = segments.length;
    const path: Node[] = [this.root];
    let node = this.root;
    for (let i = 0; i < depth - 1; i++) {
      const next = childOf(node, segments[i]!);
      if (!(next instanceof Node)) return false;
      node = next;
      path.push(node);
    }
    const at = childOf(node, segments[depth - 1]!);
    const record = at instanceof Node ? at.record : at;
    if (at === undefined || record === undefined) return false;
    if (at instanceof Node) {
      at.record = undefined;
      path.push(at);
    } else {
      removeChild(node, record.label);
    }
    const fedns = record.fedns;
    const ownerDepth = fedns && record.ownerNode !== undefined ? depthOf(record.ownerNode) : depth;
    const namedDepth = fedns ? ownerDepth : depth;
    for (let k = 0; k < path.length; k++) {
      const visited = path[k]!;
      if (k <= namedDepth) visited.named--;
      if (!fedns) visited.foreign--;
      if (revision > visited.lastChange) visited.lastChange = revision;
    }
    this.count--;
    if (fedns && record.ownerNode instanceof Node) {
      const ownerNode = record.ownerNode;
      if (ownerDepth === depth - 1) ownerNode.leafOwned--;
      else if (ownerDepth < depth - 1) {
        const owned = ownerNode.owned?.filter((other) => other !== record);
        ownerNode.owned = owned === undefined || owned.length === 0 ? undefined : owned;
      }
    }
    // Prune names nothing is stored at or below any more.
    for (let k = path.length - 1; k > 0; k--) {
      const empty = path[k]!;
      if (empty.children !== undefined || empty.record !== undefined) break;
      removeChild(path[k - 1]!, empty.label);
      this.cachedPath = undefined;
    }
    return true;
  }
}

/** fedns records owned by a node, key order: its own key's record, then owned children, then deeper ones. */
function collectOwned(node: Child, into: StoredRecord[], budget: LookupBudget): void {
  if (!(node instanceof Node)) return;
  const own = node.record;
  const mine: StoredRecord[] = [];
  if (own?.fedns && own.ownerNode === node) mine.push(own);
  if (node.leafOwned > 0) {
    const leaves: StoredRecord[] = [];
    for (const child of childrenOf(node)) {
      const record = child instanceof Node ? child.record : child;
      if (record?.fedns && record.ownerNode === node) leaves.push(record);
    }
    if (!sortedByLabel(leaves)) leaves.sort(byLabel);
    mine.push(...leaves);
  }
  const ordered = node.owned === undefined ? mine : inKeyOrder([...mine, ...node.owned]);
  for (const record of ordered) {
    if (!budget.take()) return;
    into.push(record);
  }
}

function byLabel(a: StoredRecord, b: StoredRecord): number {
  return a.label < b.label ? -1 : a.label > b.label ? 1 : 0;
}

function sortedByLabel(records: readonly StoredRecord[]): boolean {
  for (let i = 1; i < records.length; i++) if (records[i - 1]!.label > records[i]!.label) return false;
  return true;
}

/** Records sorted by key, each key built once. */
function inKeyOrder(records: StoredRecord[]): StoredRecord[] {
  if (records.length < 2) return records;
  const keyed = records.map((record) => ({ key: record.key, record }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map((entry) => entry.record);
}

function insertByKey(owned: StoredRecord[], record: StoredRecord): StoredRecord[] {
  const key = record.key;
  let at = owned.length;
  while (at > 0 && owned[at - 1]!.key > key) at--;
  return [...owned.slice(0, at), record, ...owned.slice(at)];
}

const MAX_MARKS_MEMO = 1024;

/** True when `name` is `ancestor` or below it (normalized names; "" is the root). */
function isAtOrBelow(name: string, ancestor: string): boolean {
  return ancestor === "" || name === ancestor || name.endsWith(`.${ancestor}`);
}

function isWildcard(label: string): boolean {
  return label === "*" || label === "any";
}

/**
 * CoreDNS msg.Group: the shortest key carrying a `group` sets the group; records of other groups are
 * dropped (those without a group stay), unless keys of the shortest length disagree on it.
 */
function groupFilter(records: StoredRecord[]): StoredRecord[] {
  const first = records[0];
  if (first === undefined) return records;
  let group = first.group ?? "";
  const lengths = records.map(depthOfRecord);
  let slashes = lengths[0]!;
  for (let i = 0; i < records.length; i++) {
    const length = lengths[i]!;
    if (length < slashes) {
      const recordGroup = records[i]!.group ?? "";
      if (recordGroup === "") break;
      slashes = length;
      group = recordGroup;
    }
  }
  if (group === "") return records;
  const kept: StoredRecord[] = [];
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const recordGroup = record.group ?? "";
    if (recordGroup === "") {
      kept.push(record);
      continue;
    }
    if (lengths[i] === slashes && recordGroup !== group) return records;
    if (recordGroup === group) kept.push(record);
  }
  return kept;
}

/** The number of segments of a record's key (CoreDNS compares keys by their number of slashes). */
function depthOfRecord(record: StoredRecord): number {
  return record.parent === undefined ? 0 : depthOf(record.parent) + 1;
}
