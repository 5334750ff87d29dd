// Membership: the member clusters being watched, kept in line with the config (start and reload: new
// clusters are watched, removed ones stopped, a changed source restarts its watch, a changed location
// re-plans), and what the federation state needs of them: their ClusterStates, units and LB hostnames.
import { configLocation, type MemberCluster, sameSource } from "../config/members.ts";
import { clientUnit, serviceUnit } from "../federation/short-keys.ts";
import type { ShortSource } from "../federation/short-names.ts";
import type { ClusterState, Location } from "../federation/state.ts";
import type { Timers } from "../obs/clock.ts";
import { logger } from "../obs/log.ts";
import { LoopBudget } from "../obs/loop-budget.ts";
import { type ClusterChange, ClusterWatch, type ClusterWatchOptions } from "./cluster-watch.ts";
import { clusterClients, loadKubeConfig } from "./kube-client.ts";
import type { ClusterPhase } from "./lifecycle.ts";
import type { ControllerMetrics } from "./metrics.ts";

export interface MembershipOptions {
  /** Label selector on Services (server-side); empty: all. */
  serviceLabelSelector?: string;
  graceMs: number;
  /** Passed to each ClusterWatch (probe, watch idleness, backoff, caps). */
  watch: Pick<ClusterWatchOptions, "probeIntervalMs" | "probeTimeoutMs" | "watchIdleMs" | "backoff" | "caps">;
  timers: Timers;
  metrics?: ControllerMetrics;
  /** Something in a member changed the desired records of these units (or possibly of all). */
  onChange(units: string[] | "all"): void;
  /** A member's phase changed (synced, unreachable, stale...). */
  onPhaseChange(): void;
  /** Short names: these units' published keys may have changed (or all: locations are shared). */
  onShortChange?(units: string[] | "all"): void;
}

export interface Member {
  config: MemberCluster;
  watch: ClusterWatch;
  location: Location;
  /** When its watch started (the grace period of a cluster that never syncs counts from here). */
  addedAt: number;
}

export interface ClusterStatusReport {
  name: string;
  phase: ClusterPhase;
  services: number;
  nodes: number;
  lastContact: string | undefined;
  lastEvent: string | undefined;
  unreachableSince: string | undefined;
  /** Why the cluster is past controller.clusterCaps (what it sends is dropped), or undefined. */
  degraded: string | undefined;
}

export class Membership {
  private readonly options: MembershipOptions;
  private readonly log = logger("controller");
  private readonly members = new Map<string, Member>();
  private changes = 0;

  constructor(options: MembershipOptions) {
    this.options = options;
  }

  get names(): string[] {
    return [...this.members.keys()];
  }

  all(): IterableIterator<Member> {
    return this.members.values();
  }

  /** Every member has listed everything once. */
  get allSynced(): boolean {
    for (const member of this.members.values()) if (!member.watch.synced) return false;
    return true;
  }

  /** Names of the members that have not synced (yet). */
  unsynced(): string[] {
    return [...this.members.values()].filter((m) => !m.watch.synced).map((m) => m.config.name);
  }

  /** Changes whenever the member list or a member's location changes (plan contexts are then out of date). */
  get version(): number {
    return this.changes;
  }

  /**
   * Starts watching the configured clusters (start-up); one that cannot be watched is an error. Each member
   * costs its clients and watches: 100 of them at once would be one long task, so this yields within the budget.
   */
  async start(clusters: readonly MemberCluster[]): Promise<void> {
    const budget = new LoopBudget();
    for (const config of clusters) {
      this.add(config);
      await budget.spend();
    }
  }

  /** Applies a new cluster list (config reload). */
  async update(clusters: readonly MemberCluster[]): Promise<void> {
    this.changes += 1;
    const wanted = new Map(clusters.map((cluster) => [cluster.name, cluster]));
    const removals: Promise<void>[] = [];
    for (const [name, member] of this.members) {
      const next = wanted.get(name);
      if (next !== undefined && sameSource(member.config, next)) {
        if ((member.config.clientNetworks ?? []).join(",") !== (next.clientNetworks ?? []).join(",")) {
          this.options.onShortChange?.([clientUnit(name)]);
        }
        member.config = next;
        const location = configLocation(next);
        if (location.zone !== member.location.zone || location.region !== member.location.region) {
          member.location = location;
          this.options.onChange("all");
        }
        continue;
      }
      this.log.info({ cluster: name }, next === undefined ? "cluster removed" : "cluster source changed; restarting");
      this.members.delete(name);
      this.options.metrics?.forgetCluster(name);
      removals.push(member.watch.stop());
    }
    await Promise.all(removals);
    this.changes += 1;
    for (const config of clusters) {
      if (this.members.has(config.name)) continue;
      try {
        this.add(config);
        this.log.info({ cluster: config.name }, "cluster added");
      } catch (err) {
        this.log.error({ cluster: config.name, err: (err as Error).message }, "cannot watch cluster; skipped");
      }
    }
    this.options.onChange("all");
    this.options.onShortChange?.("all");
  }

  async stop(): Promise<void> {
    await Promise.all([...this.members.values()].map((member) => member.watch.stop()));
  }

  /** The ClusterStates of the synced members (`only`: restricted to those units). */
  states(resolvedHostnames: Map<string, string[]>, only: ReadonlySet<string> | undefined): Map<string, ClusterState> {
    const clusters = new Map<string, ClusterState>();
    for (const { watch, location } of this.members.values()) {
      const state = watch.state(location, resolvedHostnames, only);
      if (state !== undefined) clusters.set(state.name, state);
    }
    return clusters;
  }

  /** Every synced member as the short-name publisher sees it. */
  shortSources(resolvedHostnames: Map<string, string[]>): ShortSource[] {
    const sources: ShortSource[] = [];
    for (const { watch, location, config } of this.members.values()) {
      const state = watch.state(location, resolvedHostnames);
      if (state === undefined) continue;
      sources.push({
        state,
        clientNetworks: config.clientNetworks ?? [],
        nodeNetworks: watch.nodeNetworks,
        nodesVersion: watch.nodesVersion,
      });
    }
    return sources;
  }

  /** Every unit (service) some synced member cluster has. */
  units(): Set<string> {
    const units = new Set<string>();
    for (const { watch } of this.members.values()) {
      if (!watch.synced) continue;
      for (const key of watch.shards.keys()) units.add(key);
    }
    return units;
  }

  /** The LB hostnames (ingress without an IP) of the synced members' shards (`only`: of those units). */
  hostnames(only: ReadonlySet<string> | undefined): Set<string> {
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

  reports(): ClusterStatusReport[] {
    const iso = (at: number | undefined): string | undefined =>
      at === undefined ? undefined : new Date(at).toISOString();
    return [...this.members.values()].map(({ watch }) => ({
      name: watch.name,
      phase: watch.lifecycle.phase,
      services: watch.shards.size,
      nodes: watch.nodes.size,
      lastContact: iso(watch.lifecycle.lastContact),
      lastEvent: iso(watch.lastEventAt),
      unreachableSince: iso(watch.lifecycle.unreachableSince),
      degraded: watch.degraded,
    }));
  }

  private add(config: MemberCluster): void {
    const kubeConfig = config.kubeConfig ?? loadKubeConfig(config);
    const clients = clusterClients(kubeConfig, {
      ...(this.options.serviceLabelSelector === undefined
        ? {}
        : { serviceLabelSelector: this.options.serviceLabelSelector }),
    });
    const watch: ClusterWatch = new ClusterWatch({
      name: config.name,
      clients,
      graceMs: this.options.graceMs,
      ...definedOf(this.options.watch),
      timers: this.options.timers,
      ...(this.options.metrics === undefined ? {} : { metrics: this.options.metrics }),
      onChange: (change) => this.changed(watch, change),
      onPhaseChange: () => this.options.onPhaseChange(),
    });
    this.members.set(config.name, {
      config,
      watch,
      location: configLocation(config),
      addedAt: this.options.timers.now(),
    });
    watch.start();
  }

  private changed(watch: ClusterWatch, change: ClusterChange): void {
    // Changes of a cluster that is not part of the plan (still syncing) cannot alter any record.
    if (!watch.synced) return;
    if (change.kind === "all") {
      this.options.onChange("all");
      // Node locations are shared (location.ts): any member's short-name keys may change.
      this.options.onShortChange?.("all");
      return;
    }
    if (change.kind === "services") {
      this.options.onChange(change.keys);
      this.options.onShortChange?.(change.keys.map((key) => serviceUnitOfShard(watch.name, key)));
    } else {
      this.options.onShortChange?.([clientUnit(watch.name)]);
    }
  }
}

/** The fields of `options` that are set (exactOptionalPropertyTypes: undefined is not passed on). */
function definedOf<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** The short-name unit of a cluster's shard `namespace/name`. */
function serviceUnitOfShard(cluster: string, key: string): string {
  const slash = key.indexOf("/");
  return serviceUnit(cluster, key.slice(0, slash), key.slice(slash + 1));
}
