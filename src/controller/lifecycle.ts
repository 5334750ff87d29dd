// The life of one member cluster as the record rules see it:
//   syncing ──synced──> active ──failure──> unreachable ──grace──> stale ──contact──> resyncing ──synced──> active
// (unreachable ──contact──> active; resyncing ──failure──> stale). Only active and unreachable
// clusters count fully; stale and resyncing ones are withdrawn (plan keeps last addresses);
// syncing ones are left out of the plan until their first full list. The phase is what status and metrics
// show; the records follow plan(), which decides the grace period itself (federation/grace.ts) from
// `unreachableSince` with the same rule this class's grace timer applies.
import { graceOver } from "../federation/grace.ts";
import type { ClusterStatus } from "../federation/state.ts";
import { realTimers, type Timers } from "../obs/clock.ts";

export type ClusterPhase = "syncing" | "active" | "unreachable" | "stale" | "resyncing";

export const PHASES: readonly ClusterPhase[] = ["syncing", "active", "unreachable", "stale", "resyncing"];

export interface LifecycleOptions {
  graceMs: number;
  timers?: Timers;
  /** Called after every phase change (including the one the grace timer makes). */
  onPhaseChange?(phase: ClusterPhase, previous: ClusterPhase): void;
}

export class ClusterLifecycle {
  private current: ClusterPhase = "syncing";
  private failingSince: number | undefined;
  /** Past a cap (controller.clusterCaps): failing whatever the API server answers, until it fits again. */
  private degradedNow = false;
  private lastContactAt: number | undefined;
  private graceTimer: { cancel(): void } | undefined;
  private readonly graceMs: number;
  private readonly timers: Timers;
  private readonly onPhaseChange: ((phase: ClusterPhase, previous: ClusterPhase) => void) | undefined;

  constructor(options: LifecycleOptions) {
    this.graceMs = options.graceMs;
    this.timers = options.timers ?? realTimers;
    this.onPhaseChange = options.onPhaseChange;
  }

  get phase(): ClusterPhase {
    return this.current;
  }

  /** How the plan treats this cluster; undefined: not part of the plan (never synced). */
  get status(): ClusterStatus | undefined {
    switch (this.current) {
      case "syncing":
        return undefined;
      case "active":
      case "unreachable":
        return "active";
      default:
        return "stale";
    }
  }

  get lastContact(): number | undefined {
    return this.lastContactAt;
  }

  /** When the API server started failing, if it is failing now. */
  get unreachableSince(): number | undefined {
    return this.failingSince;
  }

  /** All resources listed completely (first time, or again after recovery). */
  synced(): void {
    if (this.current !== "syncing" && this.current !== "resyncing") return;
    if (this.failingSince === undefined) {
      this.set("active");
    } else {
      this.set("unreachable");
      this.armGrace();
    }
  }

  /**
   * The API server answered. "recovered": it had been failing (retry what is in backoff);
   * "resync": the cluster had been withdrawn and must be listed again from scratch before it
   * counts (the caller relists its informers).
   */
  contactOk(): "ok" | "recovered" | "resync" {
    this.lastContactAt = this.timers.now();
    if (this.failingSince === undefined || this.degradedNow) return "ok";
    this.failingSince = undefined;
    this.graceTimer?.cancel();
    this.graceTimer = undefined;
    if (this.current === "unreachable") this.set("active");
    else if (this.current === "stale") {
      this.set("resyncing");
      return "resync";
    }
    return "recovered";
  }

  contactFailed(): void {
    if (this.failingSince !== undefined) return;
    this.failingSince = this.timers.now();
    if (this.current === "active") {
      this.set("unreachable");
      this.armGrace();
    } else if (this.current === "resyncing") {
      this.set("stale");
    }
  }

  get degraded(): boolean {
    return this.degradedNow;
  }

  /**
   * The cluster sent more than the caps allow: it counts as failing (its state is kept for the grace
   * period, then withdrawn like an unreachable cluster's) even while its API server answers.
   */
  degrade(): void {
    if (this.degradedNow) return;
    this.degradedNow = true;
    this.contactFailed();
  }

  /** It fits within the caps again: as if the API server answered after failing. */
  restore(): "ok" | "recovered" | "resync" {
    if (!this.degradedNow) return "ok";
    this.degradedNow = false;
    return this.contactOk();
  }

  dispose(): void {
    this.graceTimer?.cancel();
    this.graceTimer = undefined;
  }

  private armGrace(): void {
    this.graceTimer?.cancel();
    const since = this.failingSince ?? this.timers.now();
    const remaining = Math.max(0, since + this.graceMs - this.timers.now());
    // Shows the phase; the records follow plan(), which applies the same rule (federation/grace.ts).
    this.graceTimer = this.timers.setTimeout(() => {
      this.graceTimer = undefined;
      if (this.current !== "unreachable") return;
      if (graceOver(since, this.timers.now(), this.graceMs)) this.set("stale");
      // Node's timers run on the event loop's cached time, which lags Date.now() after a long turn, so a
      // timer can fire a few ms before the grace period is over by the clock: wait for the rest.
      else this.armGrace();
    }, remaining);
  }

  private set(phase: ClusterPhase): void {
    const previous = this.current;
    if (previous === phase) return;
    this.current = phase;
    this.onPhaseChange?.(phase, previous);
  }
}
