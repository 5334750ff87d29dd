// Can fedns's credentials do what the controller does in a member cluster? For each of services,
// endpointslices and nodes: a list with limit=1 and a watch with timeoutSeconds=1 from that list's version.
import { CoreV1Api, DiscoveryV1Api, type KubeConfig, Watch } from "@kubernetes/client-node";
import { withSignal } from "../../controller/kube-client.ts";
import { kubeErrorOf } from "../../controller/kube-errors.ts";
import { describeError, withTimeout } from "./findings.ts";

export const RESOURCES = ["services", "endpointslices", "nodes"] as const;
export type Resource = (typeof RESOURCES)[number];

const WATCH_PATHS: Record<Resource, string> = {
  services: "/api/v1/services",
  endpointslices: "/apis/discovery.k8s.io/v1/endpointslices",
  nodes: "/api/v1/nodes",
};

export interface AccessFailure {
  resource: Resource;
  verb: "list" | "watch";
  /** HTTP status when the API server answered; undefined when it could not be reached. */
  status: number | undefined;
  message: string;
}

/** The HTTP status the API server answered with (kube-errors.ts decides; never a stray numeric code). */
function statusOf(err: unknown, verb: "list" | "watch"): number | undefined {
  return kubeErrorOf(err, verb, verb === "watch" ? "watch" : "call").status;
}

interface Listed {
  metadata?: { resourceVersion?: string };
}

async function listOne(config: KubeConfig, resource: Resource, signal: AbortSignal): Promise<string> {
  const options = withSignal(signal);
  let list: Listed;
  if (resource === "services") {
    list = await config.makeApiClient(CoreV1Api).listServiceForAllNamespaces({ limit: 1 }, options);
  } else if (resource === "nodes") {
    list = await config.makeApiClient(CoreV1Api).listNode({ limit: 1 }, options);
  } else {
    list = await config.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces({ limit: 1 }, options);
  }
  return list.metadata?.resourceVersion ?? "";
}

/** Opens a short watch and closes it as soon as the API server accepted it; rejects when it did not. */
async function watchBriefly(config: KubeConfig, resource: Resource, resourceVersion: string): Promise<void> {
  let failure: unknown;
  let ended = false;
  const params: Record<string, string | number | boolean> = { timeoutSeconds: 1, allowWatchBookmarks: true };
  if (resourceVersion !== "") params.resourceVersion = resourceVersion;
  const connection = await new Watch(config).watch(
    WATCH_PATHS[resource],
    params,
    (type, object) => {
      // A watch that opens but whose first event is an error (e.g. 410 Gone) is still a failure.
      if (type === "ERROR" && !ended) failure ??= new WatchEventError(object);
    },
    (err: unknown) => {
      if (!ended && err !== null && err !== undefined) failure ??= err;
      ended = true;
    },
  );
  ended = true;
  connection.abort();
  if (failure !== undefined) throw failure;
}

class WatchEventError extends Error {
  readonly statusCode: number | undefined;
  constructor(status: unknown) {
    const object = (status ?? {}) as { code?: unknown; message?: unknown };
    super(typeof object.message === "string" ? object.message : "watch error event");
    this.statusCode = typeof object.code === "number" ? object.code : undefined;
  }
}

/** The first failing call for the resource, or undefined when list and watch both work. */
export async function checkAccess(
  config: KubeConfig,
  resource: Resource,
  timeoutMs: number,
): Promise<AccessFailure | undefined> {
  let resourceVersion: string;
  try {
    resourceVersion = await listOne(config, resource, AbortSignal.timeout(timeoutMs));
  } catch (err) {
    return { resource, verb: "list", status: statusOf(err, "list"), message: describeError(err) };
  }
  try {
    await withTimeout(watchBriefly(config, resource, resourceVersion), timeoutMs, `watch ${resource}`);
  } catch (err) {
    return { resource, verb: "watch", status: statusOf(err, "watch"), message: describeError(err) };
  }
  return undefined;
}
