// The federation state as plan() reads it, assembled for the composition (controller.ts) from the member
// clusters (membership.ts), the resolved LB hostnames and the store's view (the last known records of clusters
// that have not synced, for grace.ts), planned with a plan context that is rebuilt only when its inputs change;
// and the signature of a unit's inputs, for the reconciler's memo.
import { DEFAULT_GRACE_MS, isStale } from "../federation/grace.ts";
import { DEFAULT_LIMITS } from "../federation/limits.ts";
import { type PlanContext, planContext, planServices } from "../federation/plan.ts";
import type { FederationState, Plan, PlanOptions } from "../federation/state.ts";
import type { Timers } from "../obs/clock.ts";
import type { HostnameResolver } from "./hostnames.ts";
import type { Membership } from "./membership.ts";

/** The part of the store's writer the view reads: what it holds of ours. */
export interface StoreView {
  ownedUnits(): string[];
  /** The `cluster` fields of the records of ours the store holds for a unit (last known records, grace.ts). */
  storedClusters(unit: string): ReadonlySet<string | undefined>;
}

export interface FederationViewOptions {
  membership: Membership;
  resolver: HostnameResolver;
  writer: StoreView;
  planOptions: PlanOptions;
  timers: Timers;
}

export class FederationView {
  private readonly options: FederationViewOptions;
  /** Bumped when an LB hostname resolves differently (plan contexts are then out of date). */
  private hostnameChanges = 0;
  /** The plan context (federation/plan.ts) and the inputs it was built from (contextInputs). */
  private context: { inputs: readonly number[]; value: PlanContext } | undefined;
  /** contextInputs() of the current synchronous run (signature() is called for every unit of a slice). */
  private inputsNow: readonly number[] | undefined;

  constructor(options: FederationViewOptions) {
    this.options = options;
  }

  /** An LB hostname resolves differently now. */
  hostnamesChanged(): void {
    this.hostnameChanges += 1;
    this.inputsNow = undefined;
  }

  /** The federation state of `only` (undefined: everything) as of now, planned. */
  plan(only: ReadonlySet<string> | undefined): Plan {
    const { membership, resolver } = this.options;
    const hostnames = membership.hostnames(only);
    if (only === undefined) resolver.want(hostnames);
    else resolver.add(hostnames);
    const state: FederationState = {
      clusters: membership.states(resolver.resolved, only),
      now: this.options.timers.now(),
    };
    const unseen = new Map<string, number>();
    for (const member of membership.all()) if (!member.watch.synced) unseen.set(member.config.name, member.addedAt);
    if (unseen.size > 0) {
      state.unseen = unseen;
      state.lastKnown = this.lastKnown(only, unseen);
    }
    return planServices(state, this.options.planOptions, this.contextOf(state));
  }

  /** The units (of `only`, or all the store has of ours) holding records of unseen clusters, with their clusters. */
  private lastKnown(
    only: ReadonlySet<string> | undefined,
    unseen: ReadonlyMap<string, number>,
  ): Map<string, ReadonlySet<string | undefined>> {
    const lastKnown = new Map<string, ReadonlySet<string | undefined>>();
    for (const unit of only ?? this.options.writer.ownedUnits()) {
      const clusters = this.options.writer.storedClusters(unit);
      for (const cluster of clusters) {
        if (cluster !== undefined && unseen.has(cluster)) {
          lastKnown.set(unit, clusters);
          break;
        }
      }
    }
    return lastKnown;
  }

  /** The plan context of the current state: rebuilt only when what it is built from has changed. */
  private contextOf(federation: FederationState): PlanContext {
    const inputs = this.currentInputs();
    if (this.context === undefined || !sameNumbers(this.context.inputs, inputs)) {
      this.context = { inputs, value: planContext(federation, this.options.planOptions) };
    }
    return this.context.value;
  }

  /**
   * contextInputs(), computed once per synchronous run: what it counts changes only in event handlers, which run
   * after the microtask queued here (and hostnamesChanged() forgets it at once).
   */
  private currentInputs(): readonly number[] {
    if (this.inputsNow === undefined) {
      this.inputsNow = this.contextInputs();
      queueMicrotask(() => {
        this.inputsNow = undefined;
      });
    }
    return this.inputsNow;
  }

  /**
   * Counters that, between two changes of the member list, only grow, and grow with every change of what a
   * plan context is built from: members synced, their nodes, and for a cluster past its record budget its shards.
   */
  private contextInputs(): number[] {
    const limit = this.options.planOptions.policy?.limits.recordsPerCluster ?? DEFAULT_LIMITS.recordsPerCluster;
    let synced = 0;
    let nodes = 0;
    let overBudget = 0;
    for (const { watch } of this.options.membership.all()) {
      if (!watch.synced) continue;
      synced += 1;
      nodes += watch.nodesVersion;
      if (watch.recordCost > limit) overBudget += watch.shardsVersion + 1;
    }
    return [this.options.membership.version, this.hostnameChanges, synced, nodes, overBudget];
  }

  /**
   * What a unit's records depend on, for the reconciler's memo: the plan context's inputs, and each member's
   * phase, since when it is unreachable, whether its grace period is over, and its shard of the unit (shards are replaced, never changed in
   * place: cluster-state.ts). Undefined (no memo) while a member has not synced: what is held for it depends on
   * the store and the clock (grace.ts).
   */
  signature(unit: string): unknown[] | undefined {
    const signature: unknown[] = [...this.currentInputs()];
    const now = this.options.timers.now();
    const graceMs = this.options.planOptions.graceMs ?? DEFAULT_GRACE_MS;
    for (const { watch } of this.options.membership.all()) {
      const status = watch.lifecycle.status;
      if (status === undefined) return undefined;
      const shard = watch.shards.get(unit);
      if (shard === undefined) continue;
      const since = watch.lifecycle.phase === "unreachable" ? watch.lifecycle.unreachableSince : undefined;
      const stale = isStale(since === undefined ? { status } : { status, unreachableSince: since }, now, graceMs);
      // Since when too: the plan that sees a grace period start arms the wake-up at its end (plan.recheckAt);
      // without it every unit would be skipped until the grace period is over, and nothing would wake up then.
      signature.push(watch, status, since, stale, shard);
    }
    return signature;
  }
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
