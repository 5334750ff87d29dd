// The member cluster's API server as the reflectors see it: one KubeConfig per cluster,
// list calls through the generated client (with a timeout), watches through client-node's Watch.
import { createHash } from "node:crypto";
import type { AgentOptions } from "node:https";
import {
  type Cluster,
  type ConfigurationOptions,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  Watch,
} from "@kubernetes/client-node";
import { kubeErrorOf } from "./kube-errors.ts";
import type { ListPage, ResourceClient, WatchConnection } from "./reflector.ts";

export interface KubeSource {
  /** Path of a kubeconfig file; the default loading rules ($KUBECONFIG, ~/.kube/config) when absent. */
  kubeconfig?: string;
  /** Context to use; the file's current context when absent. */
  context?: string;
}

export function loadKubeConfig(source: KubeSource): KubeConfig {
  const config = new KubeConfig();
  if (source.kubeconfig !== undefined) config.loadFromFile(source.kubeconfig);
  else config.loadFromDefault();
  if (source.context !== undefined) {
    if (config.getContextObject(source.context) === null) {
      throw new Error(`kubeconfig ${source.kubeconfig ?? "(default)"} has no context "${source.context}"`);
    }
    config.setCurrentContext(source.context);
  }
  if (config.getCurrentCluster() === null) {
    throw new Error(
      `kubeconfig ${source.kubeconfig ?? "(default)"}: no cluster for context "${config.currentContext}"`,
    );
  }
  return config;
}

export interface ClusterClients {
  services: ResourceClient;
  endpointSlices: ResourceClient;
  nodes: ResourceClient;
  /** A cheap authenticated request (list one node) that tells whether the API server answers. */
  probe(signal: AbortSignal): Promise<void>;
  server: string;
}

const PAGE_SIZE = 500;
const WATCH_TIMEOUT_MIN_S = 300;
const WATCH_IDLE_TIMEOUT_MS = 2 * WATCH_TIMEOUT_MIN_S * 1000 + 30_000;

/** Per-call options that make the generated client's request abortable (list timeouts, stop). */
export function withSignal(signal: AbortSignal): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (context) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: "append" };
}

interface ListLike {
  items: unknown[];
  metadata?: { resourceVersion?: string; _continue?: string };
}

/** Runs one list call; its failure comes out classified (see kube-errors.ts). */
async function listed(context: string, call: () => Promise<unknown>): Promise<ListPage> {
  try {
    return page((await call()) as ListLike);
  } catch (error) {
    throw kubeErrorOf(error, context);
  }
}

function page(list: ListLike): ListPage {
  const continueToken = list.metadata?._continue;
  return {
    items: list.items,
    resourceVersion: list.metadata?.resourceVersion ?? "",
    ...(continueToken === undefined || continueToken === "" ? {} : { continueToken }),
  };
}

function watcher(watch: Watch, path: string, labelSelector?: string): ResourceClient["watch"] {
  return async (resourceVersion, onEvent, onDone): Promise<WatchConnection> => {
    // Like client-go: the server ends each watch after 5-10 min (spreading the renewals of many
    // watchers); bookmarks keep the resource version fresh in between.
    const timeoutSeconds = WATCH_TIMEOUT_MIN_S + Math.floor(Math.random() * WATCH_TIMEOUT_MIN_S);
    const params: Record<string, string | boolean | number> = {
      allowWatchBookmarks: true,
      resourceVersion,
      timeoutSeconds,
    };
    if (labelSelector !== undefined && labelSelector !== "") params.labelSelector = labelSelector;
    // Classified here, where it is known that a numeric `statusCode` is the HTTP response's status.
    const done = (error: unknown): void =>
      onDone(error === null || error === undefined ? null : kubeErrorOf(error, `watch ${path}`, "watch"));
    try {
      const controller = await watch.watch(path, params, (type, object) => onEvent(type, object), done);
      return { abort: () => controller.abort() };
    } catch (error) {
      throw kubeErrorOf(error, `watch ${path}`, "watch");
    }
  };
}

type DispatcherFactory = (cluster: Cluster | null, agentOptions: AgentOptions) => unknown;

/**
 * client-node builds a new undici Agent for every request (list page, watch, probe), so every call opens a new
 * TLS connection and parses the CA again: at 100 clusters the probes alone cost a core (issue 8). This keeps one
 * dispatcher per KubeConfig and reuses its keep-alive connections, replacing it only when the TLS settings
 * (CA, client certificate, server name) change, e.g. a rotated certificate file. Returns the calls made.
 */
export function shareDispatcher(config: KubeConfig): { created: () => number } {
  // The factory is private in client-node's typings; it is what applySecurityAuthentication (lists, watches) calls.
  const make = Reflect.get(config, "createDispatcher") as DispatcherFactory | undefined;
  let created = 0;
  if (typeof make !== "function") return { created: () => created };
  let cached: { key: string; dispatcher: unknown } | undefined;
  const shared: DispatcherFactory = (cluster, agentOptions) => {
    const key = createHash("sha256")
      .update(
        JSON.stringify([cluster?.server, cluster?.proxyUrl, config.createDispatcherOptions(cluster, agentOptions)]),
      )
      .digest("base64");
    if (cached?.key === key) return cached.dispatcher;
    const previous = cached?.dispatcher as { close?: () => Promise<void> } | undefined;
    // Requests still on the previous one finish first (undici's close is graceful).
    void previous?.close?.().catch(() => undefined);
    created += 1;
    cached = { key, dispatcher: make.call(config, cluster, agentOptions) };
    return cached.dispatcher;
  };
  Reflect.set(config, "createDispatcher", shared);
  return { created: () => created };
}

export function clusterClients(config: KubeConfig, options: { serviceLabelSelector?: string } = {}): ClusterClients {
  shareDispatcher(config);
  const core = config.makeApiClient(CoreV1Api);
  const discovery = config.makeApiClient(DiscoveryV1Api);
  const watch = new Watch(config);
  // client-node aborts a watch after this long without data; API servers send bookmarks about once a
  // minute, so its 30 s default would cut healthy idle watches. Hangs are caught by the probe and by the
  // reflector's own idle timer (shorter); this one is only a backstop.
  // (The field is private in client-node's typings; it has no setter.)
  Reflect.set(watch, "requestTimeoutMs", WATCH_IDLE_TIMEOUT_MS);
  const selector = options.serviceLabelSelector === "" ? undefined : options.serviceLabelSelector;
  return {
    server: config.getCurrentCluster()?.server ?? "",
    services: {
      list: ({ continueToken, signal }) =>
        listed("list services", () =>
          core.listServiceForAllNamespaces(
            {
              limit: PAGE_SIZE,
              ...(continueToken === undefined ? {} : { _continue: continueToken }),
              ...(selector === undefined ? {} : { labelSelector: selector }),
            },
            withSignal(signal),
          ),
        ),
      watch: watcher(watch, "/api/v1/services", selector),
    },
    endpointSlices: {
      list: ({ continueToken, signal }) =>
        listed("list endpointslices", () =>
          discovery.listEndpointSliceForAllNamespaces(
            { limit: PAGE_SIZE, ...(continueToken === undefined ? {} : { _continue: continueToken }) },
            withSignal(signal),
          ),
        ),
      watch: watcher(watch, "/apis/discovery.k8s.io/v1/endpointslices"),
    },
    nodes: {
      list: ({ continueToken, signal }) =>
        listed("list nodes", () =>
          core.listNode(
            { limit: PAGE_SIZE, ...(continueToken === undefined ? {} : { _continue: continueToken }) },
            withSignal(signal),
          ),
        ),
      watch: watcher(watch, "/api/v1/nodes"),
    },
    probe: async (signal) => {
      await listed("probe (list one node)", () => core.listNode({ limit: 1 }, withSignal(signal)));
    },
  };
}
