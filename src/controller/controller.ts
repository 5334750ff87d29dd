// startController(): member clusters -> federation state -> plan() -> records in etcd (and, when short names
// are on, what the DNS server needs to answer them: short-publisher.ts).
// Wires the cluster watches, the hostname resolver, the reconciler and the store's writer, and
// writes only while it leads (leader election through the backend) and once start-up sync is over.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { configLocation, type MemberCluster, sameSource } from "../config/members.ts";
import { electionOf, ownerOf } from "../federation/keys.ts";
import { plan } from "../federation/plan.ts";
import { DEFAULT_MAX_NETWORKS_PER_CLUSTER, type ShortSource } from "../federation/short-names.ts";
import type { ClusterState, FederationState, Location, Plan, PlanOptions } from "../federation/state.ts";
import type { FederationPolicy } from "../federation/trust.ts";
import { logger } from "../obs/log.ts";
import type { Registry } from "../obs/metrics.ts";
import { DEFAULT_PREFIX, normalizePrefix } from "../records/name.ts";
import type { KvBackend, LeaderCampaign } from "../store/kv.ts";
import { RecordWriter } from "../store/writer.ts";
import { type ClusterChange, ClusterWatch } from "./cluster-watch.ts";
import { type HostnameLookup, HostnameResolver } from "./hostnames.ts";
import { type ClusterClients, clusterClients, loadKubeConfig } from "./kube-client.ts";
import { type ClusterPhase, realTimers, type Timers } from "./lifecycle.ts";
import { ControllerMetrics } from "./metrics.ts";
import { Reconciler, type UnitWriter, type UnsyncedClusters } from "./reconciler.ts";
import { ShortPublisher } from "./short-publisher.ts";

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
  /** How long an unreachable cluster keeps its records (default 60 s). */
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
  backoff?: { initialMs: number; maxMs: number };
  timers?: Timers;
  registry?: Registry;
  /** How often the writer re-reads everything it follows in etcd to repair drift (default 5 min). */
  resyncMs?: number;
  /** Replaces the store's RecordWriter (unit tests). */
  writer?: UnitWriter;
  /** Short names (SPEC §4a): publish under this prefix (e.g. `/fedns-short`); absent: off. */
  shortNames?: { prefix: string; maxNetworksPerCluster?: number };
}

export interface ClusterStatusReport {
  name: string;
  phase: ClusterPhase;
  services: number;
  nodes: number;
  lastContact: string | undefined;
  lastEvent: string | undefined;
  unreachableSince: string | undefined;
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

interface Member {
  config: MemberCluster;
  watch: ClusterWatch;
  location: Location;
  /** When its watch started: its records are held until it syncs or the grace period has passed. */
  addedAt: number;
  graceTimer: { cancel(): void };
}

const DEFAULT_GRACE_MS = 60_000;
const DEFAULT_STARTUP_MS = 60_000;

export async function startController(options: ControllerOptions): Promise<Controller> {
  const controller = new FederationController(options);
  await controller.start();
  return controller;
}

class FederationController implements Controller {
  private readonly options: ControllerOptions;
  private readonly log = logger("controller");
  private readonly metrics: ControllerMetrics | undefined;
  private readonly members = new Map<string, Member>();
  private readonly planOptions: PlanOptions;
  private readonly resolver: HostnameResolver;
  private readonly reconciler: Reconciler;
  /** The store's writer, when not replaced by options.writer: it follows etcd from start-up (standby too). */
  private readonly recordWriter: RecordWriter | undefined;
  /** Short names' keys (absent when off). */
  private readonly short: ShortPublisher | undefined;
  private following: Promise<void> | undefined;
  private followingShort: Promise<void> | undefined;
  private readonly candidate: string;
  private startupDone = false;
  private startupTimer: NodeJS.Timeout | undefined;
  private leader = false;
  /** Ends the current term early: etcd refused a write because another candidate holds the leader key. */
  private deposed: ((reason: Error) => void) | undefined;
  private campaign: LeaderCampaign | undefined;
  private stopped = false;
  private leading: Promise<void> | undefined;
  private signalStopped: () => void = () => {};
  private readonly stoppedSignal = new Promise<void>((resolve) => {
    this.signalStopped = resolve;
  });

  constructor(options: ControllerOptions) {
    this.options = options;
    this.metrics = options.registry === undefined ? undefined : new ControllerMetrics(options.registry);
    const prefix = normalizePrefix(options.prefix ?? DEFAULT_PREFIX);
    this.planOptions = {
      federation: options.federation,
      domain: options.domain,
      prefix,
      owner: ownerOf(options.federation),
      ttl: options.ttl ?? { default: 30, min: 5, max: 3600 },
      srv: options.srv ?? { priority: 10, weight: 100 },
      namespaces: options.namespaces ?? [],
      ...(options.policy === undefined ? {} : { policy: options.policy }),
    };
    this.candidate = options.candidateId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.resolver = new HostnameResolver({
      ...(options.lookup === undefined ? {} : { lookup: options.lookup }),
      ...(options.hostnameRefreshMs === undefined ? {} : { maxRefreshMs: options.hostnameRefreshMs }),
      ...(options.hostnameMinRefreshMs === undefined ? {} : { minRefreshMs: options.hostnameMinRefreshMs }),
      ...(options.hostnameConcurrency === undefined ? {} : { concurrency: options.hostnameConcurrency }),
      // A failing hostname keeps its last good answer as long as an unreachable cluster keeps its records.
      keepFailedMs: options.graceMs ?? DEFAULT_GRACE_MS,
      ...(options.timers === undefined ? {} : { timers: options.timers }),
      ...(this.metrics === undefined ? {} : { metrics: this.metrics }),
      onChange: () => this.reconciler.markDirty("all"),
    });
    if (options.writer === undefined) {
      this.recordWriter = new RecordWriter({
        backend: options.backend,
        prefix,
        owner: this.planOptions.owner,
        ...(options.registry === undefined ? {} : { registry: options.registry }),
        // Every write carries the leader key as a compare: a deposed leader's writes fail in etcd.
        ...((options.leaderElection?.enabled ?? true) ? { fence: () => this.campaign?.fence() } : {}),
        ...(options.resyncMs === undefined ? {} : { resyncMs: options.resyncMs }),
        ...(options.timers === undefined ? {} : { timers: options.timers }),
        onDrift: (units) => this.reconciler.invalidate(units),
      });
    }
    if (options.shortNames !== undefined) {
      this.short = new ShortPublisher({
        backend: options.backend,
        prefix: options.shortNames.prefix,
        federation: options.federation,
        owner: this.planOptions.owner,
        namespaces: this.planOptions.namespaces,
        maxNetworksPerCluster: options.shortNames.maxNetworksPerCluster ?? DEFAULT_MAX_NETWORKS_PER_CLUSTER,
        ...(options.policy === undefined ? {} : { policy: options.policy }),
        sources: () => this.shortSources(),
        unsynced: () => this.unsyncedClusters(),
        batchMs: options.batchMs ?? 30,
        ...((options.leaderElection?.enabled ?? true) ? { fence: () => this.campaign?.fence() } : {}),
        onNotLeader: (err) => this.deposed?.(err),
        ...(options.registry === undefined ? {} : { registry: options.registry }),
        ...(options.resyncMs === undefined ? {} : { resyncMs: options.resyncMs }),
        ...(options.timers === undefined ? {} : { timers: options.timers }),
      });
    }
    this.reconciler = new Reconciler({
      plan: (only) => this.plan(only),
      units: () => this.units(),
      beginFull: () => this.resolver.want(this.hostnamesOf(undefined)),
      writer: options.writer ?? this.recordWriter!,
      batchMs: options.batchMs ?? 30,
      unsynced: () => this.unsyncedClusters(),
      onNotLeader: (err) => this.deposed?.(err),
      ...(options.timers === undefined ? {} : { timers: options.timers }),
      ...(this.metrics === undefined ? {} : { metrics: this.metrics }),
    });
  }

  async start(): Promise<void> {
    for (const config of this.options.clusters) this.addMember(config);
    this.log.info(
      { federation: this.options.federation, clusters: [...this.members.keys()], candidate: this.candidate },
      "controller starting",
    );
    const timeout = this.options.startupSyncTimeoutMs ?? DEFAULT_STARTUP_MS;
    this.startupTimer = setTimeout(() => this.finishStartup(true), timeout);
    this.startupTimer.unref();
    this.checkStartup();
    if (this.recordWriter !== undefined) this.following = this.follow(this.recordWriter);
    if (this.short !== undefined) this.followingShort = this.follow(this.short);
    const election = this.options.leaderElection ?? { enabled: true, leaseSeconds: 10 };
    if (election.enabled) {
      this.leading = this.lead(election.leaseSeconds);
    } else {
      this.setLeader(true);
    }
  }

  isLeader(): boolean {
    return this.leader;
  }

  async whenIdle(): Promise<void> {
    await this.reconciler.whenIdle();
    await this.short?.whenIdle();
  }

  currentPlan(): Plan {
    return this.plan(undefined);
  }

  status(): ControllerStatus {
    const iso = (at: number | undefined): string | undefined =>
      at === undefined ? undefined : new Date(at).toISOString();
    return {
      ready: this.startupDone,
      leader: this.leader,
      writing: this.reconciler.isEnabled,
      candidate: this.candidate,
      clusters: [...this.members.values()].map(({ watch }) => ({
        name: watch.name,
        phase: watch.lifecycle.phase,
        services: watch.shards.size,
        nodes: watch.nodes.size,
        lastContact: iso(watch.lifecycle.lastContact),
        lastEvent: iso(watch.lastEventAt),
        unreachableSince: iso(watch.lifecycle.unreachableSince),
      })),
    };
  }

  async updateClusters(clusters: MemberCluster[]): Promise<void> {
    const wanted = new Map(clusters.map((cluster) => [cluster.name, cluster]));
    const removals: Promise<void>[] = [];
    for (const [name, member] of this.members) {
      const next = wanted.get(name);
      if (next !== undefined && sameSource(member.config, next)) {
        if ((member.config.clientNetworks ?? []).join(",") !== (next.clientNetworks ?? []).join(",")) {
          this.short?.markDirty([name]);
        }
        member.config = next;
        const location = configLocation(next);
        if (location.zone !== member.location.zone || location.region !== member.location.region) {
          member.location = location;
          this.reconciler.markDirty("all");
        }
        continue;
      }
      this.log.info({ cluster: name }, next === undefined ? "cluster removed" : "cluster source changed; restarting");
      this.members.delete(name);
      member.graceTimer.cancel();
      this.metrics?.forgetCluster(name);
      removals.push(member.watch.stop());
    }
    await Promise.all(removals);
    for (const config of clusters) {
      if (this.members.has(config.name)) continue;
      try {
        this.addMember(config);
        this.log.info({ cluster: config.name }, "cluster added");
      } catch (err) {
        this.log.error({ cluster: config.name, err: (err as Error).message }, "cannot watch cluster; skipped");
      }
    }
    this.reconciler.markDirty("all");
    this.short?.markDirty("all");
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.signalStopped();
    clearTimeout(this.startupTimer);
    this.resolver.stop();
    await Promise.all([this.reconciler.stop(), this.short?.stopWriting()]);
    // Resigned first, so a standby takes over at once instead of after the lease.
    await this.campaign?.resign().catch((err: unknown) => {
      this.log.warn({ err: (err as Error).message }, "resigning leadership failed");
    });
    this.campaign = undefined;
    await this.recordWriter?.stop();
    await this.short?.stop();
    await this.following;
    await this.followingShort;
    for (const member of this.members.values()) member.graceTimer.cancel();
    await Promise.all([...this.members.values()].map((member) => member.watch.stop()));
    this.setLeader(false);
    await this.leading;
  }

  private addMember(config: MemberCluster): void {
    const kubeConfig = config.kubeConfig ?? loadKubeConfig(config);
    const clients: ClusterClients = clusterClients(kubeConfig, {
      ...(this.options.serviceLabelSelector === undefined
        ? {}
        : { serviceLabelSelector: this.options.serviceLabelSelector }),
    });
    const watch = new ClusterWatch({
      name: config.name,
      clients,
      graceMs: this.options.graceMs ?? DEFAULT_GRACE_MS,
      ...(this.options.probeIntervalMs === undefined ? {} : { probeIntervalMs: this.options.probeIntervalMs }),
      ...(this.options.probeTimeoutMs === undefined ? {} : { probeTimeoutMs: this.options.probeTimeoutMs }),
      ...(this.options.watchIdleMs === undefined ? {} : { watchIdleMs: this.options.watchIdleMs }),
      ...(this.options.backoff === undefined ? {} : { backoff: this.options.backoff }),
      ...(this.options.timers === undefined ? {} : { timers: this.options.timers }),
      ...(this.metrics === undefined ? {} : { metrics: this.metrics }),
      onChange: (change) => this.onClusterChange(watch, change),
      onPhaseChange: () => {
        this.checkStartup();
        // Units held for this cluster while it was syncing may now be written.
        if (this.startupDone) {
          this.reconciler.markDirty("all");
          this.short?.markDirty("all");
        }
      },
    });
    const timers = this.options.timers ?? realTimers;
    const graceMs = this.options.graceMs ?? DEFAULT_GRACE_MS;
    // When the grace period of a cluster that never synced ends, its held records are withdrawn.
    const graceTimer = timers.setTimeout(() => {
      if (!watch.synced) {
        this.reconciler.markDirty("all");
        this.short?.markDirty("all");
      }
    }, graceMs);
    this.members.set(config.name, {
      config,
      watch,
      location: configLocation(config),
      addedAt: timers.now(),
      graceTimer,
    });
    watch.start();
  }

  /** Follows etcd with the writer, retrying until it works (etcd may still be starting). */
  private async follow(writer: { follow(): Promise<void> }): Promise<void> {
    const timers = this.options.timers ?? realTimers;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await writer.follow();
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "reading the records in etcd failed; retrying");
        await new Promise<void>((resolve) => timers.setTimeout(resolve, Math.min(10_000, 250 * 2 ** attempt)));
      }
    }
  }

  /** Every unit (service) some synced member cluster has. */
  private units(): Set<string> {
    const units = new Set<string>();
    for (const { watch } of this.members.values()) {
      if (!watch.synced) continue;
      for (const key of watch.shards.keys()) units.add(key);
    }
    return units;
  }

  /** Members the plan cannot see yet, split by whether their grace period is over. */
  private unsyncedClusters(): UnsyncedClusters {
    const frozen = new Set<string>();
    const lapsed = new Set<string>();
    const now = (this.options.timers ?? realTimers).now();
    const graceMs = this.options.graceMs ?? DEFAULT_GRACE_MS;
    for (const member of this.members.values()) {
      if (member.watch.synced) continue;
      (now - member.addedAt < graceMs ? frozen : lapsed).add(member.config.name);
    }
    return { frozen, lapsed };
  }

  private onClusterChange(watch: ClusterWatch, change: ClusterChange): void {
    // Changes of a cluster that is not part of the plan (still syncing) cannot alter any record.
    if (!watch.synced) return;
    if (change.kind === "all") {
      this.reconciler.markDirty("all");
      // Node locations are shared (location.ts): any cluster's short-name keys may change.
      this.short?.markDirty("all");
    } else if (change.kind === "services") {
      this.reconciler.markDirty(change.keys);
      this.short?.markDirty([watch.name]);
    } else {
      this.short?.markDirty([watch.name]);
    }
  }

  /** Every synced member as the short-name publisher sees it. */
  private shortSources(): ShortSource[] {
    const sources: ShortSource[] = [];
    for (const { watch, location, config } of this.members.values()) {
      const state = watch.state(location, this.resolver.resolved);
      if (state === undefined) continue;
      sources.push({ state, clientNetworks: config.clientNetworks ?? [], nodeNetworks: watch.nodeNetworks });
    }
    return sources;
  }

  private checkStartup(): void {
    if (this.startupDone) return;
    if ([...this.members.values()].every((member) => member.watch.synced)) this.finishStartup(false);
  }

  private finishStartup(deadline: boolean): void {
    if (this.startupDone || this.stopped) return;
    this.startupDone = true;
    clearTimeout(this.startupTimer);
    const unsynced = [...this.members.values()].filter((m) => !m.watch.synced).map((m) => m.watch.name);
    this.metrics?.startupSkipped.set(unsynced.length);
    if (deadline && unsynced.length > 0) {
      this.log.warn({ clusters: unsynced }, "start-up sync deadline passed: writing without the clusters not synced");
    } else {
      this.log.info("all clusters synced");
    }
    if (this.leader) this.startWriting();
  }

  /** Enables the reconciler once the LB hostnames of the current state have had a first lookup. */
  private startWriting(): void {
    void this.resolver.settle(this.hostnamesOf(undefined)).finally(() => {
      if (this.leader && this.startupDone && !this.stopped) {
        this.reconciler.enable();
        this.short?.enable();
      }
    });
  }

  private hostnamesOf(only: ReadonlySet<string> | undefined): Set<string> {
    const hostnames = new Set<string>();
    for (const { watch } of this.members.values()) {
      if (!watch.synced) continue;
      const shards = only === undefined ? watch.shards.values() : [...only].map((key) => watch.shards.get(key));
      for (const shard of shards) {
        for (const ingress of shard?.ingress ?? []) {
          if (ingress.ip === undefined && ingress.hostname !== undefined) hostnames.add(ingress.hostname);
        }
      }
    }
    return hostnames;
  }

  private setLeader(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    this.metrics?.leader.set(leader ? 1 : 0);
    if (leader) {
      this.log.info({ candidate: this.candidate }, "leading: writing records");
      if (this.startupDone) this.startWriting();
    } else {
      this.reconciler.disable();
      this.short?.disable();
    }
  }

  /** Campaigns until stopped; while elected, writes; on loss, stops writing and campaigns again. */
  private async lead(leaseSeconds: number): Promise<void> {
    const electionName = electionOf(this.options.federation);
    while (!this.stopped) {
      const campaign = this.options.backend.campaign(electionName, this.candidate, leaseSeconds);
      this.campaign = campaign;
      const lost = new Promise<Error>((resolve) => campaign.onLost(resolve));
      await Promise.race([campaign.elected, this.stoppedSignal]);
      if (this.stopped) break;
      this.setLeader(true);
      const deposed = new Promise<Error>((resolve) => {
        this.deposed = resolve;
      });
      const reason = await Promise.race([lost, deposed, this.stoppedSignal]);
      this.deposed = undefined;
      this.setLeader(false);
      if (this.stopped || reason === undefined) break;
      this.log.warn({ err: reason.message }, "leadership lost: stopped writing; campaigning again");
      await campaign.resign().catch(() => undefined);
    }
  }

  private plan(only: ReadonlySet<string> | undefined): Plan {
    const clusters = new Map<string, ClusterState>();
    for (const { watch, location } of this.members.values()) {
      const state = watch.state(location, this.resolver.resolved, only);
      if (state !== undefined) clusters.set(state.name, state);
    }
    const hostnames = this.hostnamesOf(only);
    if (only === undefined) this.resolver.want(hostnames);
    else this.resolver.add(hostnames);
    const federation: FederationState = { clusters };
    return plan(federation, this.planOptions);
  }
}
