// One member cluster: reflectors on Services, EndpointSlices and Nodes feeding its ClusterObjects (the one
// cluster reader, cluster-state.ts), plus its lifecycle (sync, reachability).
import type { NodeNetworks } from "../federation/short-names.ts";
import type { ClusterState, Location, ServiceShard } from "../federation/state.ts";
import { realTimers, type Timers } from "../obs/clock.ts";
import { type Logger, logger } from "../obs/log.ts";
import { DEFAULT_CAPS, type ReflectorCaps } from "./caps.ts";
import { ClusterObjects } from "./cluster-state.ts";
import type { ClusterClients } from "./kube-client.ts";
import { KubeError, kubeErrorOf, serverAnswered } from "./kube-errors.ts";
import { reduceEndpointSlice, reduceNode, reduceService } from "./kube-objects.ts";
import { ClusterLifecycle, type ClusterPhase } from "./lifecycle.ts";
import type { ControllerMetrics } from "./metrics.ts";
import { type CapsGuard, Reflector, type ReflectorSink, type ResourceClient } from "./reflector.ts";

/**
 * What changed in a cluster: some services, everything (node locations, a full relist, a phase change), or
 * only where its nodes' pods ask from (addresses, pod CIDRs: short names only).
 */
export type ClusterChange = { kind: "services"; keys: string[] } | { kind: "all" } | { kind: "node-networks" };

export interface ClusterWatchOptions {
  name: string;
  clients: ClusterClients;
  graceMs: number;
  /** How often the API server is probed while watches are quiet (detects hanging servers). */
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  /** A watch silent (no event, no bookmark) for this long is cut as hanging (reflector.ts default). */
  watchIdleMs?: number;
  /** Per list page (reflector.ts default). */
  listTimeoutMs?: number;
  /** What one resource of this cluster may make the controller hold (controller.clusterCaps; default DEFAULT_CAPS). */
  caps?: ReflectorCaps;
  backoff?: { initialMs: number; maxMs: number };
  timers?: Timers;
  metrics?: ControllerMetrics;
  /** Default: the `cluster` component logger. */
  log?: Logger;
  onChange(change: ClusterChange): void;
  onPhaseChange?(phase: ClusterPhase, previous: ClusterPhase): void;
}

type Resource = "services" | "endpointslices" | "nodes";

/** Warnings about failures the API server answered (403, 400, 410...) repeat after this, doubling up to the max. */
const ANSWERED_WARN_INITIAL_MS = 60_000;
const ANSWERED_WARN_MAX_MS = 30 * 60_000;

/** A resource (or the probe) the API server keeps answering with an error. */
interface AnsweredFailure {
  status: number;
  nextWarnAt: number;
  intervalMs: number;
  /** Failures logged at debug level since the last warning. */
  suppressed: number;
}

export class ClusterWatch {
  readonly name: string;
  readonly lifecycle: ClusterLifecycle;
  private readonly objects = new ClusterObjects();
  private readonly answeredFailures = new Map<string, AnsweredFailure>();
  /** Resources past a cap, with why: while any is, the cluster is degraded. */
  private readonly overCaps = new Map<Resource, string>();
  private readonly reflectors: Reflector<unknown>[] = [];
  private readonly listed = new Set<Resource>();
  private readonly options: ClusterWatchOptions;
  private readonly log: Logger;
  private readonly timers: Timers;
  private probeTimer: { cancel(): void } | undefined;
  private running = false;
  private lastEvent: number | undefined;

  constructor(options: ClusterWatchOptions) {
    this.options = options;
    this.name = options.name;
    this.timers = options.timers ?? realTimers;
    this.log = (options.log ?? logger("cluster")).child({ cluster: options.name });
    this.lifecycle = new ClusterLifecycle({
      graceMs: options.graceMs,
      timers: this.timers,
      onPhaseChange: (phase, previous) => {
        this.log.info({ phase, previous }, `cluster ${this.name} is ${phase}`);
        options.metrics?.setPhase(this.name, phase);
        options.onPhaseChange?.(phase, previous);
        options.onChange({ kind: "all" });
      },
    });
    options.metrics?.setPhase(this.name, "syncing");
    options.metrics?.degraded.set({ cluster: this.name }, 0);
    options.metrics?.trackCluster(this.name, () => this.lifecycle.lastContact);
    this.reflectors = [
      this.reflector("services", options.clients.services, reduceService, {
        replace: (items) => {
          this.objects.replaceServices(items);
          this.changed(true);
        },
        upsert: (key, item) => this.changed(this.objects.setService(key, item)),
        remove: (key) => this.changed(this.objects.setService(key, undefined)),
      }),
      this.reflector("endpointslices", options.clients.endpointSlices, reduceEndpointSlice, {
        replace: (items) => {
          this.objects.replaceSlices(items);
          this.changed(true);
        },
        upsert: (key, item) => this.changed(this.objects.setSlice(key, item)),
        remove: (key) => this.changed(this.objects.setSlice(key, undefined)),
      }),
      this.reflector("nodes", options.clients.nodes, reduceNode, {
        replace: (items) => {
          this.objects.replaceNodes(items);
          this.changed(true);
        },
        upsert: (key, node) => this.changed(this.objects.setNode(key, node)),
        remove: (key) => this.changed(this.objects.setNode(key, undefined)),
      }),
    ] as Reflector<unknown>[];
  }

  /** Why the cluster is degraded (past a cap), or undefined. */
  get degraded(): string | undefined {
    return this.overCaps.values().next().value;
  }

  get synced(): boolean {
    return this.lifecycle.phase !== "syncing";
  }

  /** When the last watch event arrived. */
  get lastEventAt(): number | undefined {
    return this.lastEvent;
  }

  /** `namespace/name` -> the shard (service with the endpoints of all its slices). */
  get shards(): ReadonlyMap<string, ServiceShard> {
    return this.objects.shards;
  }

  get nodes(): ReadonlyMap<string, Location> {
    return this.objects.nodes;
  }

  /** Node name -> its addresses and pod CIDRs (short names: who is asking). */
  get nodeNetworks(): ReadonlyMap<string, NodeNetworks> {
    return this.objects.nodeNetworks;
  }

  /** Load-balancer entries over all shards (plan()'s per-cluster record budget; state.ts recordCost). */
  get recordCost(): number {
    return this.objects.recordCost;
  }

  /** Changes with every change of the node locations (plan contexts built from them are then out of date). */
  get nodesVersion(): number {
    return this.objects.nodesVersion;
  }

  /** Changes with every shard added, replaced or removed. */
  get shardsVersion(): number {
    return this.objects.shardsVersion;
  }

  /** How many Services the EndpointSlice index holds an entry for (tests: the index must not leak). */
  get slicedServiceCount(): number {
    return this.objects.slicedServiceCount;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const reflector of this.reflectors) reflector.start();
    this.scheduleProbe();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.probeTimer?.cancel();
    this.lifecycle.dispose();
    await Promise.all(this.reflectors.map((reflector) => reflector.stop()));
  }

  /**
   * The cluster as plan() sees it, or undefined while it has not synced. `only` restricts the
   * services to those keys (incremental reconciles); nodes and config always come complete.
   */
  state(
    configLocation: Location,
    resolvedHostnames: Map<string, string[]>,
    only?: Iterable<string>,
  ): ClusterState | undefined {
    const status = this.lifecycle.status;
    if (status === undefined) return undefined;
    const since = this.lifecycle.phase === "unreachable" ? this.lifecycle.unreachableSince : undefined;
    return this.objects.state(
      {
        name: this.name,
        status,
        configLocation,
        resolvedHostnames,
        ...(since === undefined ? {} : { unreachableSince: since }),
      },
      only,
    );
  }

  private reflector<T>(
    resource: Resource,
    client: ResourceClient,
    reduce: (raw: unknown) => T | undefined,
    store: Pick<ReflectorSink<T>, "replace" | "upsert" | "remove">,
  ): Reflector<T> {
    const metrics = this.options.metrics;
    const labels = { cluster: this.name, resource };
    const sink: ReflectorSink<T> = {
      replace: (items) => {
        this.answeredOk(resource);
        store.replace(items);
        this.listedOnce(resource);
      },
      upsert: (key, item) => {
        this.answeredOk(resource);
        this.lastEvent = this.timers.now();
        metrics?.kubeEvents.inc(labels);
        store.upsert(key, item);
      },
      remove: (key) => {
        this.answeredOk(resource);
        this.lastEvent = this.timers.now();
        metrics?.kubeEvents.inc(labels);
        store.remove(key);
      },
      contact: () => this.contactOk(),
      failure: (error) => {
        metrics?.kubeErrors.inc(labels);
        this.failed(resource, error, "list/watch failed; retrying with backoff");
      },
      invalid: (raw) => {
        metrics?.invalidObjects.inc(labels);
        const meta = (raw as { metadata?: { namespace?: unknown; name?: unknown } } | null)?.metadata;
        this.log.warn({ resource, namespace: meta?.namespace, name: meta?.name }, "unreadable object skipped");
      },
    };
    const held = this.objects.held(resource);
    const guard: CapsGuard = {
      caps: this.options.caps ?? DEFAULT_CAPS,
      size: () => held.size,
      has: (key) => held.has(key),
      exceeded: (problem) => this.exceeded(resource, problem),
      fits: () => this.fits(resource),
    };
    return new Reflector<T>({
      resource,
      client,
      reduce,
      sink,
      guard,
      log: this.log,
      timers: this.timers,
      ...(this.options.backoff === undefined ? {} : { backoff: this.options.backoff }),
      ...(this.options.watchIdleMs === undefined ? {} : { watchIdleMs: this.options.watchIdleMs }),
      ...(this.options.listTimeoutMs === undefined ? {} : { listTimeoutMs: this.options.listTimeoutMs }),
    });
  }

  /** A resource passed a cap: the cluster is degraded (logged once, until it fits again). */
  private exceeded(resource: Resource, problem: string): void {
    const known = this.overCaps.has(resource);
    this.overCaps.set(resource, problem);
    if (known) {
      this.log.debug({ resource, problem }, "still past its caps");
      return;
    }
    this.log.warn(
      { resource, problem },
      "cluster degraded: past controller.clusterCaps; what it sent is dropped, its previous state kept for the grace period",
    );
    this.options.metrics?.degraded.set({ cluster: this.name }, 1);
    this.lifecycle.degrade();
  }

  private fits(resource: Resource): void {
    if (!this.overCaps.delete(resource) || this.overCaps.size > 0) return;
    this.log.info({ resource }, "cluster within controller.clusterCaps again");
    this.options.metrics?.degraded.set({ cluster: this.name }, 0);
    this.afterContact(this.lifecycle.restore());
  }

  private contactOk(): void {
    this.afterContact(this.lifecycle.contactOk());
  }

  private afterContact(result: "ok" | "recovered" | "resync"): void {
    if (result === "resync") {
      // Withdrawn clusters come back only after a complete, fresh list of everything.
      this.listed.clear();
      for (const reflector of this.reflectors) reflector.forceRelist();
    } else if (result === "recovered") {
      for (const reflector of this.reflectors) reflector.retryNow();
    }
  }

  /**
   * A list, watch or probe failed. Only a failure without an answer from the API server (refused,
   * reset, timed out or hanging, TLS; see kube-errors.ts) makes the cluster unreachable. One the server
   * answered (403 after an RBAC change, 400, 410...) says nothing about reachability: flipping the phase on
   * it would flap with the next successful probe, so it is only warned about, with backoff, until that
   * source recovers.
   */
  private failed(source: Resource | "probe", error: KubeError, message: string): void {
    if (!serverAnswered(error)) {
      // One warning per outage; the retries that follow are debug noise.
      const level = this.lifecycle.unreachableSince === undefined ? "warn" : "debug";
      this.log[level]({ resource: source, kind: error.kind, err: error.message }, message);
      this.lifecycle.contactFailed();
      return;
    }
    const now = this.timers.now();
    const status = error.status ?? 0;
    const what = error.kind === "http" ? `HTTP ${status}` : "an unreadable answer";
    const fields = {
      resource: source,
      kind: error.kind,
      status,
      err: error.detail === "" ? error.message : error.detail,
    };
    const known = this.answeredFailures.get(source);
    if (known === undefined || known.status !== status || now >= known.nextWarnAt) {
      const intervalMs =
        known === undefined || known.status !== status
          ? ANSWERED_WARN_INITIAL_MS
          : Math.min(ANSWERED_WARN_MAX_MS, known.intervalMs * 2);
      const suppressed = known?.suppressed ?? 0;
      this.log.warn(
        suppressed === 0 ? fields : { ...fields, failuresSinceLastWarning: suppressed },
        `${message}: the API server answered ${what}`,
      );
      this.answeredFailures.set(source, { status, nextWarnAt: now + intervalMs, intervalMs, suppressed: 0 });
    } else {
      known.suppressed += 1;
      this.log.debug(fields, message);
    }
  }

  /** `source` works again after failures the API server answered. */
  private answeredOk(source: Resource | "probe"): void {
    if (this.answeredFailures.size === 0) return;
    const known = this.answeredFailures.get(source);
    if (known === undefined) return;
    this.answeredFailures.delete(source);
    this.log.info({ resource: source, status: known.status }, "recovered after failures the API server answered");
  }

  private listedOnce(resource: Resource): void {
    this.listed.add(resource);
    if (this.listed.size === 3) this.lifecycle.synced();
  }

  private scheduleProbe(): void {
    if (!this.running) return;
    this.probeTimer = this.timers.setTimeout(() => void this.probe(), this.options.probeIntervalMs ?? 5000);
  }

  private async probe(): Promise<void> {
    const timeoutMs = this.options.probeTimeoutMs ?? 5000;
    const abort = new AbortController();
    const timer = this.timers.setTimeout(
      () => abort.abort(new KubeError("timeout", `probe: no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      await this.options.clients.probe(abort.signal);
      if (this.running) {
        this.answeredOk("probe");
        this.contactOk();
      }
    } catch (err) {
      if (this.running) {
        this.options.metrics?.kubeErrors.inc({ cluster: this.name, resource: "probe" });
        this.failed("probe", kubeErrorOf(err, "probe"), "API server probe failed");
      }
    } finally {
      timer.cancel();
    }
    this.scheduleProbe();
  }

  /** Reports what an update of the objects changed: some shards (keys), possibly all of them (true), or nothing. */
  private changed(affected: string[] | boolean | "node-networks"): void {
    if (affected === false) return;
    if (affected === "node-networks") {
      this.options.onChange({ kind: "node-networks" });
      return;
    }
    if (Array.isArray(affected)) {
      if (affected.length > 0) this.options.onChange({ kind: "services", keys: affected });
      return;
    }
    this.options.onChange({ kind: "all" });
  }
}
