// The object store of one simulated cluster: one revision counter for every write (etcd-like),
// a bounded history of events for watch replay, and synchronous listeners for live watches.
import { alreadyExists, conflict, notFound } from "./errors.ts";
import type { ResourceType } from "./resources.ts";
import { clone, jsonEqual, type KubeObject } from "./types.ts";

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  type: EventType;
  resourceType: ResourceType;
  revision: number;
  /** The object after the write (for DELETED: the last state, stamped with the delete revision). */
  object: KubeObject;
  /** The object before the write (MODIFIED and DELETED). */
  previous: KubeObject | undefined;
}

export type StoreListener = (event: StoreEvent) => void;

export interface StoreOptions {
  /** Events kept for watch replay; older ones are dropped as if compacted. */
  maxHistory?: number;
}

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ""}/${name}`;
}

export class ObjectStore {
  private revisionCounter = 0;
  private compacted = 0;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private history: StoreEvent[] = [];
  private readonly listeners = new Set<StoreListener>();
  private readonly maxHistory: number;

  constructor(options: StoreOptions = {}) {
    this.maxHistory = options.maxHistory ?? 10_000;
  }

  revision(): number {
    return this.revisionCounter;
  }

  /** The oldest revision a watch may start from; older ones get 410 Expired. */
  compactedRevision(): number {
    return this.compacted;
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const found = this.table(type).get(keyOf(type.namespaced ? namespace : undefined, name));
    return found === undefined ? undefined : clone(found);
  }

  /** Objects of a type (in one namespace when given), sorted by namespace and name as the real server does. */
  list(type: ResourceType, namespace?: string): KubeObject[] {
    const all = [...this.table(type).entries()]
      .filter(([, o]) => namespace === undefined || !type.namespaced || o.metadata.namespace === namespace)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return all.map(([, o]) => clone(o));
  }

  create(type: ResourceType, object: KubeObject): KubeObject {
    const table = this.table(type);
    const key = keyOf(object.metadata.namespace, object.metadata.name);
    if (table.has(key)) throw alreadyExists(type, object.metadata.name);
    const stored = this.stamp(clone(object));
    table.set(key, stored);
    this.record({
      type: "ADDED",
      resourceType: type,
      revision: this.revisionCounter,
      object: stored,
      previous: undefined,
    });
    return clone(stored);
  }

  /**
   * Replaces an object. With `expectedVersion` the write fails with 409 Conflict unless it matches.
   * A write that changes nothing keeps the revision (no event), as the real API server does.
   */
  update(type: ResourceType, object: KubeObject, expectedVersion?: string): KubeObject {
    const table = this.table(type);
    const key = keyOf(object.metadata.namespace, object.metadata.name);
    const current = table.get(key);
    if (current === undefined) throw notFound(type, object.metadata.name);
    if (
      expectedVersion !== undefined &&
      expectedVersion !== "" &&
      expectedVersion !== current.metadata.resourceVersion
    ) {
      throw conflict(type, object.metadata.name);
    }
    const next = clone(object);
    next.metadata.resourceVersion = current.metadata.resourceVersion;
    if (jsonEqual(next, current)) return clone(current);
    const stored = this.stamp(next);
    table.set(key, stored);
    this.record({
      type: "MODIFIED",
      resourceType: type,
      revision: this.revisionCounter,
      object: stored,
      previous: current,
    });
    return clone(stored);
  }

  delete(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const table = this.table(type);
    const key = keyOf(type.namespaced ? namespace : undefined, name);
    const current = table.get(key);
    if (current === undefined) throw notFound(type, name);
    table.delete(key);
    const gone = this.stamp(clone(current));
    this.record({
      type: "DELETED",
      resourceType: type,
      revision: this.revisionCounter,
      object: gone,
      previous: current,
    });
    return clone(gone);
  }

  /** Drops all history up to the current revision: watches from older revisions get 410. */
  compact(): void {
    this.history = [];
    this.compacted = this.revisionCounter;
  }

  /** Events after `revision`, oldest first; undefined when history no longer reaches back that far. */
  eventsAfter(revision: number): StoreEvent[] | undefined {
    if (revision < this.compacted) return undefined;
    let start = this.history.length;
    while (start > 0 && (this.history[start - 1]?.revision ?? 0) > revision) start--;
    return this.history.slice(start);
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private table(type: ResourceType): Map<string, KubeObject> {
    let table = this.objects.get(type.resource);
    if (table === undefined) {
      table = new Map();
      this.objects.set(type.resource, table);
    }
    return table;
  }

  private stamp(object: KubeObject): KubeObject {
    this.revisionCounter++;
    object.metadata.resourceVersion = String(this.revisionCounter);
    return object;
  }

  private record(event: StoreEvent): void {
    this.history.push(event);
    if (this.history.length > this.maxHistory) {
      const dropped = this.history.splice(0, this.history.length - this.maxHistory);
      this.compacted = Math.max(this.compacted, dropped[dropped.length - 1]?.revision ?? 0);
    }
    for (const listener of [...this.listeners]) listener(event);
  }
}
