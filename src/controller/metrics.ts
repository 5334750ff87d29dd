// The controller's Prometheus metrics, registered once on the registry it is given.
import { realTimers, type Timers } from "../obs/clock.ts";
import { Counter, Gauge, Histogram, type Registry } from "../obs/metrics.ts";
import { PHASES } from "./lifecycle.ts";

export class ControllerMetrics {
  /** 1 for the phase each cluster is in, 0 for the others. */
  readonly clusterPhase: Gauge<"cluster" | "phase">;
  readonly lastEventAge: Gauge<"cluster">;
  readonly kubeEvents: Counter<"cluster" | "resource">;
  readonly kubeErrors: Counter<"cluster" | "resource">;
  readonly invalidObjects: Counter<"cluster" | "resource">;
  readonly reconcileDuration: Histogram;
  readonly reconciles: Counter<"scope">;
  readonly servicesWritten: Counter;
  readonly writeErrors: Counter;
  readonly planWarnings: Counter<"kind">;
  readonly refused: Counter<"cluster" | "kind">;
  readonly leader: Gauge;
  readonly startupSkipped: Gauge;
  readonly hostnameLookups: Counter<"result">;
  readonly held: Gauge;
  readonly hostnameQueue: Gauge;
  readonly degraded: Gauge<"cluster">;

  /** `timers`: the clock the last-contact times are taken on. */
  constructor(registry: Registry, timers: Timers = realTimers) {
    const registers = [registry];
    this.clusterPhase = new Gauge({
      name: "fedns_controller_cluster_phase",
      help: "Phase of each member cluster (syncing, active, unreachable, stale, resyncing): 1 for the current one",
      labelNames: ["cluster", "phase"],
      registers,
    });
    const lastEvent = new Map<string, () => number | undefined>();
    this.lastEventAge = new Gauge({
      name: "fedns_controller_cluster_last_event_age_seconds",
      help: "Seconds since the member cluster's API server last answered (list, watch event, probe)",
      labelNames: ["cluster"],
      registers,
      collect() {
        const now = timers.now();
        for (const [cluster, last] of lastEvent) {
          const at = last();
          if (at !== undefined) this.set({ cluster }, (now - at) / 1000);
        }
      },
    });
    this.lastEventSources = lastEvent;
    this.kubeEvents = new Counter({
      name: "fedns_controller_kube_events_total",
      help: "Watch events received from member clusters",
      labelNames: ["cluster", "resource"],
      registers,
    });
    this.kubeErrors = new Counter({
      name: "fedns_controller_kube_errors_total",
      help: "Failed list/watch/probe requests to member clusters",
      labelNames: ["cluster", "resource"],
      registers,
    });
    this.invalidObjects = new Counter({
      name: "fedns_controller_invalid_objects_total",
      help: "Kubernetes objects that could not be read and were skipped",
      labelNames: ["cluster", "resource"],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: "fedns_controller_reconcile_duration_seconds",
      help: "Time of one reconcile: plan plus writes",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.reconciles = new Counter({
      name: "fedns_controller_reconciles_total",
      help: "Reconciles run, by scope (full or incremental)",
      labelNames: ["scope"],
      registers,
    });
    this.servicesWritten = new Counter({
      name: "fedns_controller_service_writes_total",
      help: "Services whose records were changed in etcd",
      registers,
    });
    this.writeErrors = new Counter({
      name: "fedns_controller_write_errors_total",
      help: "Failed writes of a service's records (retried on the next reconcile)",
      registers,
    });
    this.planWarnings = new Counter({
      name: "fedns_controller_plan_warnings_total",
      help: "Things plan() skipped or worked around (invalid labels, missing location, bad TTL...)",
      labelNames: ["kind"],
      registers,
    });
    this.refused = new Counter({
      name: "fedns_controller_refused_total",
      help: "Objects of a member cluster refused by its trust rules or dropped past a limit (docs/trust.md), counted when first seen; kind names the rule or limit",
      labelNames: ["cluster", "kind"],
      registers,
    });
    this.leader = new Gauge({
      name: "fedns_controller_leader",
      help: "1 while this controller is the leader and writes to etcd",
      registers,
    });
    this.startupSkipped = new Gauge({
      name: "fedns_controller_startup_unsynced_clusters",
      help: "Clusters that had not synced when the start-up deadline passed (left out until they sync)",
      registers,
    });
    this.held = new Gauge({
      name: "fedns_controller_services_held",
      help: "Services left as etcd has them because a member cluster has not synced (plan.held), as of the last full reconcile",
      registers,
    });
    this.hostnameLookups = new Counter({
      name: "fedns_controller_hostname_lookups_total",
      help: "Lookups of load balancer hostnames, by result (ok, empty: no A/AAAA record, error, timeout)",
      labelNames: ["result"],
      registers,
    });
    this.degraded = new Gauge({
      name: "fedns_cluster_degraded",
      help: "1 while a member cluster is past controller.clusterCaps (list pages, objects, object size): what it sends is dropped",
      labelNames: ["cluster"],
      registers,
    });
    this.hostnameQueue = new Gauge({
      name: "fedns_controller_hostname_lookups_queued",
      help: "Load balancer hostname lookups waiting for one of the controller.resolver.concurrency slots",
      registers,
    });
  }

  private readonly lastEventSources: Map<string, () => number | undefined>;

  trackCluster(cluster: string, lastContact: () => number | undefined): void {
    this.lastEventSources.set(cluster, lastContact);
  }

  setPhase(cluster: string, phase: string): void {
    for (const candidate of PHASES) this.clusterPhase.set({ cluster, phase: candidate }, candidate === phase ? 1 : 0);
  }

  forgetCluster(cluster: string): void {
    this.lastEventSources.delete(cluster);
    for (const phase of PHASES) this.clusterPhase.remove({ cluster, phase });
    this.lastEventAge.remove({ cluster });
    this.degraded.remove({ cluster });
  }
}
