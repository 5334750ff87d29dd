// The resource operations of one simulated cluster, shared by the HTTP layer and the programmatic
// object API: both go through the same defaulting, validation and store, so they produce the same events.
import { badRequest, conflict, notFound } from "./errors.ts";
import { checkStrictFields } from "./fieldvalidation.ts";
import { ClusterIpAllocator, checkIdentity, prepareWrite, validate } from "./objects.ts";
import { applyPatch, type PatchKind } from "./patch.ts";
import { type ResourceType, requireType, typeOfObject } from "./resources.ts";
import type { Selector } from "./selectors.ts";
import { ObjectStore, type StoreOptions } from "./store.ts";
import { clone, isMap, type KubeObject } from "./types.ts";

const NAMESPACES = requireType("namespaces");

export interface WriteOptions {
  /** fieldValidation=Strict: unknown fields are a 400 BadRequest. */
  strict?: boolean;
}

export class ResourceApi {
  readonly store: ObjectStore;
  private readonly ips = new ClusterIpAllocator();

  constructor(options: StoreOptions = {}) {
    this.store = new ObjectStore(options);
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const found = this.store.get(type, namespace, name);
    if (found === undefined) throw notFound(type, name);
    return found;
  }

  list(
    type: ResourceType,
    namespace: string | undefined,
    selector: Selector,
  ): { items: KubeObject[]; resourceVersion: string } {
    const items = this.store.list(type, namespace).filter(selector);
    return { items, resourceVersion: String(this.store.revision()) };
  }

  create(type: ResourceType, namespace: string | undefined, body: unknown, options: WriteOptions = {}): KubeObject {
    const incoming = checkIdentity(type, body, undefined, namespace);
    if (options.strict) checkStrictFields(type, incoming);
    if (type.namespaced) this.requireNamespace(incoming.metadata.namespace);
    if (incoming.metadata.resourceVersion !== undefined && incoming.metadata.resourceVersion !== "") {
      throw badRequest("resourceVersion should not be set on objects to be created");
    }
    const object = prepareWrite(type, incoming, undefined, this.ips);
    validate(type, object);
    return this.store.create(type, object);
  }

  /** PUT: the main resource keeps its status; the status subresource changes only the status. */
  replace(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    subresource?: "status",
    options: WriteOptions = {},
  ): KubeObject {
    const incoming = checkIdentity(type, body, name, namespace);
    if (options.strict) checkStrictFields(type, incoming);
    const existing = this.get(type, namespace, name);
    return this.write(type, existing, incoming, subresource, incoming.metadata.resourceVersion);
  }

  patch(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    kind: PatchKind,
    patch: unknown,
    subresource?: "status",
    options: WriteOptions = {},
  ): KubeObject {
    const existing = this.get(type, namespace, name);
    const patched = applyPatch(kind, existing, patch);
    const incoming = checkIdentity(type, patched, name, namespace);
    if (options.strict) checkStrictFields(type, incoming);
    const wanted = incoming.metadata.resourceVersion;
    if (wanted !== undefined && wanted !== existing.metadata.resourceVersion) throw conflict(type, name);
    return this.write(type, existing, incoming, subresource, undefined);
  }

  delete(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const existing = this.get(type, namespace, name);
    if (type === NAMESPACES) {
      // No finalizers in the sim: a namespace goes at once, with everything in it.
      for (const other of [requireType("endpointslices"), requireType("services")]) {
        for (const object of this.store.list(other, name)) this.store.delete(other, name, object.metadata.name);
      }
    }
    this.store.delete(type, existing.metadata.namespace, name);
    // As the real server: the last state before the delete, at its last revision.
    return existing;
  }

  /** Programmatic create-or-replace of a whole object, status included; creates a missing namespace. */
  apply(object: KubeObject): KubeObject {
    const type = typeOfObject(object);
    const namespace = type.namespaced ? (object.metadata.namespace ?? "default") : undefined;
    const incoming = checkIdentity(type, clone(object), object.metadata.name, namespace);
    delete incoming.metadata.resourceVersion;
    if (namespace !== undefined && this.store.get(NAMESPACES, undefined, namespace) === undefined) {
      this.create(NAMESPACES, undefined, { metadata: { name: namespace } });
    }
    const existing = this.store.get(type, namespace, incoming.metadata.name);
    if (existing === undefined) {
      const prepared = prepareWrite(type, incoming, undefined, this.ips);
      validate(type, prepared);
      return this.store.create(type, prepared);
    }
    const prepared = prepareWrite(type, incoming, existing, this.ips);
    if (!isMap(incoming.status) && existing.status !== undefined) prepared.status = existing.status;
    validate(type, prepared);
    return this.store.update(type, prepared);
  }

  private write(
    type: ResourceType,
    existing: KubeObject,
    incoming: KubeObject,
    subresource: "status" | undefined,
    expectedVersion: string | undefined,
  ): KubeObject {
    let next: KubeObject;
    if (subresource === "status") {
      next = clone(existing);
      if (incoming.status === undefined) delete next.status;
      else next.status = incoming.status;
    } else {
      next = incoming;
      if (type.hasStatus) {
        if (existing.status === undefined) delete next.status;
        else next.status = existing.status;
      }
    }
    const prepared = prepareWrite(type, next, existing, this.ips);
    validate(type, prepared);
    return this.store.update(type, prepared, expectedVersion);
  }

  private requireNamespace(namespace: string | undefined): void {
    if (namespace === undefined || namespace === "") throw badRequest("the namespace of the object is required");
    if (this.store.get(NAMESPACES, undefined, namespace) === undefined) throw notFound(NAMESPACES, namespace);
  }
}
