// The member cluster's API server as the reflectors see it: one KubeConfig per cluster,
// list calls through the generated client (with a timeout), watches through client-node's Watch.
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import type { AgentOptions } from "node:https";
import {
  type Cluster,
  type ConfigurationOptions,
  HttpMethod,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  RequestContext,
  Watch,
} from "@kubernetes/client-node";
import { type Dispatcher, fetch } from "undici";
import { KubeError, kubeErrorOf } from "./kube-errors.ts";
import type { ListPage, ResourceClient, WatchConnection } from "./reflector.ts";

export interface KubeSource {
  /** Path of a kubeconfig file; the default loading rules ($KUBECONFIG, ~/.kube/config) when absent. */
  kubeconfig?: string;
  /** Context to use; the file's current context when absent. */
  context?: string;
}

/** Parsed kubeconfig files by path, with the mtime and size they were parsed at. */
const parsedFiles = new Map<string, { mtimeMs: number; size: number; config: KubeConfig }>();

/**
 * The file parsed once for all the members that name it (100 members of one 100-context kubeconfig would parse
 * it 100 times, in one task at start-up); parsed again when its mtime or size changed (rotated credentials).
 */
function parsedKubeconfig(path: string): KubeConfig {
  const stat = statSync(path);
  const known = parsedFiles.get(path);
  if (known !== undefined && known.mtimeMs === stat.mtimeMs && known.size === stat.size) return known.config;
  const config = new KubeConfig();
  config.loadFromFile(path);
  parsedFiles.set(path, { mtimeMs: stat.mtimeMs, size: stat.size, config });
  return config;
}

/** How many times a kubeconfig file was parsed (tests). */
export function kubeconfigParses(): number {
  return parseCount;
}
let parseCount = 0;

export function loadKubeConfig(source: KubeSource): KubeConfig {
  const config = new KubeConfig();
  if (source.kubeconfig !== undefined) {
    const before = parsedFiles.get(source.kubeconfig)?.config;
    const file = parsedKubeconfig(source.kubeconfig);
    if (file !== before) parseCount += 1;
    // Each member gets its own KubeConfig (its own current context and dispatcher) over the shared, parsed lists.
    config.loadFromOptions({
      clusters: file.clusters,
      users: file.users,
      contexts: file.contexts,
      currentContext: file.currentContext,
    });
  } else {
    config.loadFromDefault();
  }
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

/** The Status message of an error response body, when it is one. */
function statusMessageOf(text: string): string {
  try {
    const body = JSON.parse(text) as { kind?: unknown; message?: unknown };
    return body.kind === "Status" && typeof body.message === "string" ? body.message : "";
  } catch {
    return "";
  }
}

/**
 * One page of a list as plain JSON: the generated client turns every object into model classes first
 * (ObjectSerializer), which costs ~10x the JSON parse and holds the event loop for hundreds of ms per page of
 * 500 Services at 100 clusters (issue 8). The reducers read the raw shape, as they do for watch events.
 */
async function rawList(
  config: KubeConfig,
  context: string,
  path: string,
  params: Record<string, string | number | undefined>,
  signal: AbortSignal,
): Promise<ListPage> {
  try {
    const server = config.getCurrentCluster()?.server ?? "";
    const url = new URL(`${server.replace(/\/+$/, "")}${path}`);
    for (const [key, value] of Object.entries(params))
      if (value !== undefined) url.searchParams.set(key, String(value));
    const request = new RequestContext(url.toString(), HttpMethod.GET);
    await config.applySecurityAuthentication(request);
    const response = await fetch(url, {
      method: "GET",
      headers: request.getHeaders(),
      dispatcher: request.getDispatcher() as Dispatcher | undefined,
      signal,
    });
    const text = await response.text();
    if (response.status < 200 || response.status > 299) {
      throw new KubeError("http", `${context}: the API server answered HTTP ${response.status}`, {
        status: response.status,
        detail: statusMessageOf(text),
      });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new KubeError("decode", `${context}: unreadable answer (${(error as Error).message})`, { cause: error });
    }
    const list = body as { items?: unknown; metadata?: { resourceVersion?: unknown; continue?: unknown } } | null;
    if (list === null || typeof list !== "object" || !Array.isArray(list.items)) {
      throw new KubeError("decode", `${context}: unreadable answer (no items)`);
    }
    const resourceVersion = list.metadata?.resourceVersion;
    const continueToken = list.metadata?.continue;
    return {
      items: list.items,
      resourceVersion: typeof resourceVersion === "string" ? resourceVersion : "",
      ...(typeof continueToken === "string" && continueToken !== "" ? { continueToken } : {}),
    };
  } catch (error) {
    throw kubeErrorOf(error, context);
  }
}

export function clusterClients(config: KubeConfig, options: { serviceLabelSelector?: string } = {}): ClusterClients {
  shareDispatcher(config);
  const watch = new Watch(config);
  // client-node aborts a watch after this long without data; API servers send bookmarks about once a
  // minute, so its 30 s default would cut healthy idle watches. Hangs are caught by the probe and by the
  // reflector's own idle timer (shorter); this one is only a backstop.
  // (The field is private in client-node's typings; it has no setter.)
  Reflect.set(watch, "requestTimeoutMs", WATCH_IDLE_TIMEOUT_MS);
  const selector = options.serviceLabelSelector === "" ? undefined : options.serviceLabelSelector;
  const pageOf =
    (what: string, path: string, labelSelector?: string): ResourceClient["list"] =>
    ({ continueToken, signal }) =>
      rawList(config, `list ${what}`, path, { limit: PAGE_SIZE, continue: continueToken, labelSelector }, signal);
  return {
    server: config.getCurrentCluster()?.server ?? "",
    services: {
      list: pageOf("services", "/api/v1/services", selector),
      watch: watcher(watch, "/api/v1/services", selector),
    },
    endpointSlices: {
      list: pageOf("endpointslices", "/apis/discovery.k8s.io/v1/endpointslices"),
      watch: watcher(watch, "/apis/discovery.k8s.io/v1/endpointslices"),
    },
    nodes: {
      list: pageOf("nodes", "/api/v1/nodes"),
      watch: watcher(watch, "/api/v1/nodes"),
    },
    probe: async (signal) => {
      await rawList(config, "probe (list one node)", "/api/v1/nodes", { limit: 1 }, signal);
    },
  };
}
