// startController(): the composition of the controller: member clusters (membership.ts) -> federation state ->
// plan() -> records in etcd (reconciler.ts, the store's writer). Writes only while it leads (leadership.ts)
// and once start-up sync is over; one clock (options.timers) for every timer.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { MemberCluster } from "../config/members.ts";
import { DEFAULT_GRACE_MS } from "../federation/grace.ts";
import { ownerOf, serialMarkerKey, serialMarkerValue } from "../federation/keys.ts";
import { DEFAULT_MAX_NETWORKS_PER_CLUSTER } from "../federation/short-names.ts";
import type { Plan, PlanOptions } from "../federation/state.ts";
import type { FederationPolicy } from "../federation/trust.ts";
import { realTimers, sleep, type Timers } from "../obs/clock.ts";
import { logger } from "../obs/log.ts";
import type { Registry } from "../obs/metrics.ts";
import { DEFAULT_PREFIX, normalizePrefix } from "../records/name.ts";
import type { KvBackend } from "../store/kv.ts";
import { RecordWriter } from "../store/writer.ts";
import type { ReflectorCaps } from "./caps.ts";
import { FederationView, type StoreView } from "./federation-view.ts";
import { type HostnameLookup, HostnameResolver } from "./hostnames.ts";
import { Leadership } from "./leadership.ts";
import { type ClusterStatusReport, Membership } from "./membership.ts";
import { ControllerMetrics } from "./metrics.ts";
import { Reconciler, type UnitWriter } from "./reconciler.ts";
import { ShortPublisher } from "./short-publisher.ts";

export type { ClusterStatusReport };

/** What the controller needs of the store's writer: the reconciler's part, and the store's view for plan(). */
export interface StoreWriter extends UnitWriter, StoreView {}

export interface ControllerOptions {
  federation: string;
  domain: string;
  /** etcd key prefix (default `/skydns`). */
  prefix?: string;
  backend: KvBackend;
  clusters: MemberCluster[];
  ttl?: { default: number; min: number; max: number };
  srv?: { priority: number; weight: number };
  /** Namespaces to federate (empty: all). */
  namespaces?: string[];
  /** Per-cluster trust and plan()'s limits (config/policy.ts); default: no per-cluster policy, default limits. */
  policy?: FederationPolicy;
  /** Label selector on Services (server-side); empty: all. */
  serviceLabelSelector?: string;
  /** How long an unreachable or unsynced cluster keeps its records (default 60 s; federation/grace.ts). */
  graceMs?: number;
  /** How long start-up waits for every cluster to sync before writing without the laggards (default 60 s). */
  startupSyncTimeoutMs?: number;
  /** Batching delay of the reconciler (default 30 ms). */
  batchMs?: number;
  /** Ceiling of the LB hostname refresh interval (record TTLs are clamped to it; default 60 s). */
  hostnameRefreshMs?: number;
  /** Floor of that interval and first retry delay (default 5 s). */
  hostnameMinRefreshMs?: number;
  /** LB hostname lookups in flight at most (default 8). */
  hostnameConcurrency?: number;
  /** Resolves LB hostnames; default: dnsLookup() with the system's name servers (controller/hostnames.ts). */
  lookup?: HostnameLookup;
  /** Leader election through the backend (default on, 10 s lease). */
  leaderElection?: { enabled: boolean; leaseSeconds: number };
  /** This replica's name in the election (default host-pid-random). */
  candidateId?: string;
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  /** A member's watch silent (no event, no bookmark) for this long is cut as hanging (default 150 s). */
  watchIdleMs?: number;
  /** What one resource of one member cluster may make the controller hold (default caps.ts DEFAULT_CAPS). */
  clusterCaps?: ReflectorCaps;
  backoff?: { initialMs: number; maxMs: number };
  timers?: Timers;
  registry?: Registry;
  /** How often the writer re-reads everything it follows in etcd to repair drift (default 5 min). */
  resyncMs?: number;
  /** Replaces the store's RecordWriter (unit tests). */
  writer?: StoreWriter;
  /** Short names (SPEC §4a): publish under this prefix (e.g. `/fedns-short`); absent: off. */
  shortNames?: { prefix: string; maxNetworksPerCluster?: number };
}

export interface ControllerStatus {
  /** Start-up sync is over (every cluster synced, or the deadline passed). */
  ready: boolean;
  leader: boolean;
  /** Leader, start-up done and first LB hostname lookups settled: records are being written. */
  writing: boolean;
  candidate: string;
  clusters: ClusterStatusReport[];
}

export interface Controller {
  /** Applies a new cluster list (config reload): new clusters are watched, removed ones withdrawn. */
  updateClusters(clusters: MemberCluster[]): Promise<void>;
  status(): ControllerStatus;
  isLeader(): boolean;
  /** Resolves when no reconcile is pending or running (tests). */
  whenIdle(): Promise<void>;
  /** The desired records as of now (for `fedns check` and tests). */
  currentPlan(): Plan;
  stop(): Promise<void>;
}

const DEFAULT_STARTUP_MS = 60_000;

export async function startController(options: ControllerOptions): Promise<Controller> {
  const controller = new FederationController(options);
  await controller.start();
  return controller;
}

class FederationController implements Controller {
  private readonly options: ControllerOptions;
  private readonly log = logger("controller");
  private readonly timers: Timers;
  private readonly metrics: ControllerMetrics | undefined;
  private readonly planOptions: PlanOptions;
  private readonly membership: Membership;
  private readonly resolver: HostnameResolver;
  private readonly reconciler: Reconciler;
  private readonly writer: StoreWriter;
  /** The store's writer, when not replaced by options.writer: it follows etcd from start-up (standby too). */
  private readonly recordWriter: RecordWriter | undefined;
  private readonly leadership: Leadership;
  private following: Promise<void> | undefined;
  /** Short names' keys (absent when off). */
  private readonly short: ShortPublisher | undefined;
  private followingShort: Promise<void> | undefined;
  private readonly candidate: string;
  private startupDone = false;
  private startupTimer: { cancel(): void } | undefined;
  /** The one wake-up for grace periods: plans again when the earliest one ends (plan.recheckAt). */
  private recheck: { at: number; timer: { cancel(): void } } | undefined;
  private stopped = false;
  private readonly view: FederationView;

  constructor(options: ControllerOptions) {
    this.options = options;
    this.timers = options.timers ?? realTimers;
    this.metrics = options.registry === undefined ? undefined : new ControllerMetrics(options.registry, this.timers);
    const prefix = normalizePrefix(options.prefix ?? DEFAULT_PREFIX);
    const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.planOptions = {
      federation: options.federation,
      domain: options.domain,
      prefix,
      owner: ownerOf(options.federation),
      ttl: options.ttl ?? { default: 30, min: 5, max: 3600 },
      srv: options.srv ?? { priority: 10, weight: 100 },
      namespaces: options.namespaces ?? [],
      graceMs,
      ...(options.policy === undefined ? {} : { policy: options.policy }),
    };
    this.candidate = options.candidateId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    const election = options.leaderElection ?? { enabled: true, leaseSeconds: 10 };
    this.leadership = new Leadership({
      backend: options.backend,
      federation: options.federation,
      candidate: this.candidate,
      election,
      onChange: (leader) => this.leaderChanged(leader),
    });
    this.membership = new Membership({
      ...(options.serviceLabelSelector === undefined ? {} : { serviceLabelSelector: options.serviceLabelSelector }),
      graceMs,
      watch: {
        ...(options.probeIntervalMs === undefined ? {} : { probeIntervalMs: options.probeIntervalMs }),
        ...(options.probeTimeoutMs === undefined ? {} : { probeTimeoutMs: options.probeTimeoutMs }),
        ...(options.watchIdleMs === undefined ? {} : { watchIdleMs: options.watchIdleMs }),
        ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
        ...(options.clusterCaps === undefined ? {} : { caps: options.clusterCaps }),
      },
      timers: this.timers,
      ...(this.metrics === undefined ? {} : { metrics: this.metrics }),
      onChange: (units) => this.reconciler.markDirty(units),
      onShortChange: (units) => this.short?.markDirty(units),
      onPhaseChange: () => {
        this.checkStartup();
        // Units held for this cluster while it was syncing may now be written.
        if (this.startupDone) {
          this.reconciler.markDirty("all");
          this.short?.markDirty("all");
        }
      },
    });
    this.resolver = new HostnameResolver({
      ...(options.lookup === undefined ? {} : { lookup: options.lookup }),
      ...(options.hostnameRefreshMs === undefined ? {} : { maxRefreshMs: options.hostnameRefreshMs }),
      ...(options.hostnameMinRefreshMs === undefined ? {} : { minRefreshMs: options.hostnameMinRefreshMs }),
      ...(options.hostnameConcurrency === undefined ? {} : { concurrency: options.hostnameConcurrency }),
      // A failing hostname keeps its last good answer as long as an unreachable cluster keeps its records.
      keepFailedMs: graceMs,
      timers: this.timers,
      ...(this.metrics === undefined ? {} : { metrics: this.metrics }),
      onChange: () => {
        this.view.hostnamesChanged();
        this.reconciler.markDirty("all");
      },
    });
    if (options.writer === undefined) {
      this.recordWriter = new RecordWriter({
        backend: options.backend,
        prefix,
        owner: this.planOptions.owner,
        // Every txn that deletes also moves the domain's serial marker (docs/zone-transfers.md, "Serials").
        serialMarker: { key: serialMarkerKey(options.domain), value: serialMarkerValue(this.planOptions.owner) },
        ...(options.registry === undefined ? {} : { registry: options.registry }),
        // Every write carries the leader key as a compare: a deposed leader's writes fail in etcd.
        ...(election.enabled ? { fence: () => this.leadership.fence() } : {}),
        ...(options.resyncMs === undefined ? {} : { resyncMs: options.resyncMs }),
        timers: this.timers,
        onDrift: (units) => this.reconciler.invalidate(units),
      });
    }
    this.writer = options.writer ?? this.recordWriter!;
    if (options.shortNames !== undefined) {
      this.short = new ShortPublisher({
        backend: options.backend,
        prefix: options.shortNames.prefix,
        federation: options.federation,
        owner: this.planOptions.owner,
        namespaces: this.planOptions.namespaces,
        maxNetworksPerCluster: options.shortNames.maxNetworksPerCluster ?? DEFAULT_MAX_NETWORKS_PER_CLUSTER,
        ...(options.policy === undefined ? {} : { policy: options.policy }),
        sources: () => this.membership.shortSources(this.resolver.resolved),
        unseen: () => this.unseen(),
        graceMs,
        now: () => this.timers.now(),
        batchMs: options.batchMs ?? 30,
        ...(election.enabled ? { fence: () => this.leadership.fence() } : {}),
        onNotLeader: (err) => this.leadership.depose(err),
        ...(options.registry === undefined ? {} : { registry: options.registry }),
        ...(options.resyncMs === undefined ? {} : { resyncMs: options.resyncMs }),
        timers: this.timers,
      });
    }
    this.view = new FederationView({
      membership: this.membership,
      resolver: this.resolver,
      writer: this.writer,
      planOptions: this.planOptions,
      timers: this.timers,
    });
    this.reconciler = new Reconciler({
      plan: (only) => this.plan(only),
      units: () => this.membership.units(),
      signature: (unit) => this.view.signature(unit),
      beginFull: () => this.resolver.want(this.membership.hostnames(undefined)),
      writer: this.writer,
      batchMs: options.batchMs ?? 30,
      onNotLeader: (err) => this.leadership.depose(err),
      timers: this.timers,
      ...(this.metrics === undefined ? {} : { metrics: this.metrics }),
    });
  }

  async start(): Promise<void> {
    await this.membership.start(this.options.clusters);
    this.log.info(
      { federation: this.options.federation, clusters: this.membership.names, candidate: this.candidate },
      "controller starting",
    );
    const timeout = this.options.startupSyncTimeoutMs ?? DEFAULT_STARTUP_MS;
    this.startupTimer = this.timers.setTimeout(() => this.finishStartup(true), timeout);
    this.checkStartup();
    if (this.recordWriter !== undefined) this.following = this.follow(this.recordWriter);
    if (this.short !== undefined) this.followingShort = this.follow(this.short);
    this.leadership.start();
  }

  isLeader(): boolean {
    return this.leadership.isLeader;
  }

  async whenIdle(): Promise<void> {
    await this.reconciler.whenIdle();
    await this.short?.whenIdle();
  }

  currentPlan(): Plan {
    return this.plan(undefined);
  }

  /** Plans through the view; a grace period ending later wakes the controller then (plan.recheckAt). */
  private plan(only: ReadonlySet<string> | undefined): Plan {
    const result = this.view.plan(only);
    this.wakeAt(result.recheckAt);
    return result;
  }

  status(): ControllerStatus {
    return {
      ready: this.startupDone,
      leader: this.leadership.isLeader,
      writing: this.reconciler.isEnabled,
      candidate: this.candidate,
      clusters: this.membership.reports(),
    };
  }

  updateClusters(clusters: MemberCluster[]): Promise<void> {
    return this.membership.update(clusters);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.startupTimer?.cancel();
    this.recheck?.timer.cancel();
    this.resolver.stop();
    await Promise.all([this.reconciler.stop(), this.short?.stopWriting()]);
    // Resigned first, so a standby takes over at once instead of after the lease.
    await this.leadership.stop();
    await this.recordWriter?.stop();
    await this.short?.stop();
    await this.following;
    await this.followingShort;
    await this.membership.stop();
  }

  /** Follows etcd with the writer, retrying until it works (etcd may still be starting). */
  private async follow(writer: { follow(): Promise<void> }): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await writer.follow();
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "reading the records in etcd failed; retrying");
        await sleep(this.timers, Math.min(10_000, 250 * 2 ** attempt));
      }
    }
  }

  private checkStartup(): void {
    if (!this.startupDone && this.membership.allSynced) this.finishStartup(false);
  }

  private finishStartup(deadline: boolean): void {
    if (this.startupDone || this.stopped) return;
    this.startupDone = true;
    this.startupTimer?.cancel();
    const unsynced = this.membership.unsynced();
    this.metrics?.startupSkipped.set(unsynced.length);
    if (deadline && unsynced.length > 0) {
      this.log.warn({ clusters: unsynced }, "start-up sync deadline passed: writing without the clusters not synced");
    } else {
      this.log.info("all clusters synced");
    }
    if (this.leadership.isLeader) this.startWriting();
  }

  /** Enables the reconciler once the LB hostnames of the current state have had a first lookup. */
  private startWriting(): void {
    void this.resolver.settle(this.membership.hostnames(undefined)).finally(() => {
      if (this.leadership.isLeader && this.startupDone && !this.stopped) {
        this.reconciler.enable();
        this.short?.enable();
      }
    });
  }

  private leaderChanged(leader: boolean): void {
    this.metrics?.leader.set(leader ? 1 : 0);
    if (leader) {
      this.log.info({ candidate: this.candidate }, "leading: writing records");
      if (this.startupDone) this.startWriting();
    } else {
      this.reconciler.disable();
      this.short?.disable();
    }
  }

  /** Plans everything again at `at` (a grace period ends), unless an earlier wake-up is armed. */
  /** Members that have not synced (yet), with when their watch started (their grace period counts from there). */
  private unseen(): Map<string, number> {
    const unseen = new Map<string, number>();
    for (const member of this.membership.all()) {
      if (!member.watch.synced) unseen.set(member.config.name, member.addedAt);
    }
    return unseen;
  }

  private wakeAt(at: number | undefined): void {
    if (at === undefined || this.stopped) return;
    if (this.recheck !== undefined && this.recheck.at <= at) return;
    this.recheck?.timer.cancel();
    const timer = this.timers.setTimeout(
      () => {
        this.recheck = undefined;
        this.reconciler.markDirty("all");
        this.short?.markDirty("all");
      },
      Math.max(0, at - this.timers.now()),
    );
    this.recheck = { at, timer };
  }
}
