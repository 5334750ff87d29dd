// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for.
import type { ResourceType } from "./resources.ts";
import { isMap, type JsonMap, type KubeObject } from "./types.ts";

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export type IncludeObject = "None" | "Metadata" | "Object";

export interface Table {
  kind: "Table";
  apiVersion: "meta.k8s.io/v1";
  metadata: { resourceVersion?: string };
  columnDefinitions: Column[];
  rows: { cells: unknown[]; object?: unknown }[];
}

function column(name: string, description: string, priority = 0, type = "string", format = ""): Column {
  return { name, type, format, description, priority };
}

/** "5s", "3m2s", "45m", "7h", "3d": the short ages kubectl prints. */
export function age(created: string | undefined, now = Date.now()): string {
  if (created === undefined) return "<unknown>";
  const seconds = Math.max(0, Math.floor((now - Date.parse(created)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

function map(value: unknown): JsonMap {
  return isMap(value) ? value : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

const NAME = column("Name", "Name must be unique within a namespace.", 0, "string", "name");
const AGE = column(
  "Age",
  "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

const COLUMNS: Record<string, { columns: Column[]; cells: (o: KubeObject) => unknown[] }> = {
  Service: {
    columns: [
      NAME,
      column("Type", "The type of the service."),
      column("Cluster-IP", "The cluster IP of the service."),
      column("External-IP", "The external IPs of the service."),
      column("Port(s)", "The ports of the service."),
      AGE,
      column("Selector", "The selector of the service.", 1),
    ],
    cells: (o) => {
      const spec = map(o.spec);
      const ingress = list(map(map(o.status).loadBalancer).ingress).map((i) => map(i).ip ?? map(i).hostname);
      const external = ingress.length > 0 ? ingress.join(",") : spec.type === "LoadBalancer" ? "<pending>" : "<none>";
      const ports = list(spec.ports)
        .map((p) => `${map(p).port}${map(p).nodePort ? `:${map(p).nodePort}` : ""}/${map(p).protocol ?? "TCP"}`)
        .join(",");
      const selector = Object.entries(map(spec.selector))
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(",");
      return [
        o.metadata.name,
        spec.type ?? "ClusterIP",
        spec.clusterIP ?? "<none>",
        external,
        ports || "<none>",
        age(o.metadata.creationTimestamp),
        selector || "<none>",
      ];
    },
  },
  Node: {
    columns: [
      NAME,
      column("Status", "The status of the node"),
      column("Roles", "The roles of the node"),
      AGE,
      column("Version", "Kubelet Version reported by the node."),
    ],
    cells: (o) => {
      const ready = list(map(o.status).conditions).find((c) => map(c).type === "Ready");
      const status = ready && map(ready).status === "True" ? "Ready" : "NotReady";
      const roles = Object.keys(o.metadata.labels ?? {})
        .filter((k) => k.startsWith("node-role.kubernetes.io/"))
        .map((k) => k.slice("node-role.kubernetes.io/".length));
      const version = map(map(o.status).nodeInfo).kubeletVersion ?? "";
      return [o.metadata.name, status, roles.join(",") || "<none>", age(o.metadata.creationTimestamp), version];
    },
  },
  Namespace: {
    columns: [NAME, column("Status", "The status of the namespace"), AGE],
    cells: (o) => [o.metadata.name, map(o.status).phase ?? "Active", age(o.metadata.creationTimestamp)],
  },
  EndpointSlice: {
    columns: [
      NAME,
      column("AddressType", "The address type of the endpoint slice."),
      column("Ports", "The ports of the endpoint slice."),
      column("Endpoints", "The addresses of the endpoints."),
      AGE,
    ],
    cells: (o) => {
      const ports = list(o.ports).map((p) => String(map(p).port ?? "<unset>"));
      const addresses = list(o.endpoints).flatMap((e) => list(map(e).addresses).map(String));
      return [
        o.metadata.name,
        o.addressType ?? "",
        ports.join(",") || "<unset>",
        addresses.join(",") || "<unset>",
        age(o.metadata.creationTimestamp),
      ];
    },
  },
};

function rowObject(object: KubeObject, include: IncludeObject): unknown {
  if (include === "Object") return object;
  if (include === "None") return undefined;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: object.metadata };
}

export function toTable(
  type: ResourceType,
  objects: KubeObject[],
  resourceVersion: string | undefined,
  include: IncludeObject,
): Table {
  const printer = COLUMNS[type.kind];
  const columns = printer?.columns ?? [NAME, AGE];
  const cells = printer?.cells ?? ((o: KubeObject) => [o.metadata.name, age(o.metadata.creationTimestamp)]);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: resourceVersion === undefined ? {} : { resourceVersion },
    columnDefinitions: columns,
    rows: objects.map((o) => {
      const row: { cells: unknown[]; object?: unknown } = { cells: cells(o) };
      const included = rowObject(o, include);
      if (included !== undefined) row.object = included;
      return row;
    }),
  };
}

/** True when the Accept header asks for a Table (kubectl get). */
export function wantsTable(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const first = accept.split(",")[0] ?? "";
  return /as=Table/.test(first) && /g=meta\.k8s\.io/.test(first);
}

export function includeObjectOf(value: string | null): IncludeObject {
  return value === "None" || value === "Object" ? value : "Metadata";
}
