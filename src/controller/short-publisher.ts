// The controller's short-name half (SPEC §4a): publishes, per member cluster, where its pods ask from (client
// networks with their zone and region) and the ClusterIPs of its healthy shards, under `<prefix>/<F>/` (default
// `/fedns-short`, outside what CoreDNS serves). The same machinery as the records: a RecordWriter (with the
// short-name codec) that follows etcd and repairs drift, and a Reconciler whose units are a cluster's client
// networks and each of its shards (short-keys.ts shortKeyUnit), so each change is one small transaction,
// written only while leading and once start-up sync is over.
import { graceOver } from "../federation/grace.ts";
import {
  clusterOfShortUnit,
  encodeShortValue,
  normalizeShortValue,
  type ShortValue,
  shortKeyUnit,
} from "../federation/short-keys.ts";
import {
  type ShortLocations,
  type ShortOptions,
  type ShortSource,
  shortLocations,
  shortUnits,
  shortUnitsOf,
} from "../federation/short-names.ts";
import type { HeldUnit, PlanWarning } from "../federation/state.ts";
import type { Timers } from "../obs/clock.ts";
import type { Registry } from "../obs/metrics.ts";
import { ownerOf as ownerOfValue } from "../records/service.ts";
import type { KvBackend, TxnCompare } from "../store/kv.ts";
import { RecordWriter, type ValueCodec } from "../store/writer.ts";
import { Reconciler } from "./reconciler.ts";

/** The short-name values' codec for the writer. */
export const SHORT_CODEC: ValueCodec<ShortValue> = {
  desired: (value, owner) => normalizeShortValue(encodeShortValue({ ...value, owner })),
  normalize: normalizeShortValue,
  owner: ownerOfValue,
  cluster: (value) => value.cluster,
};

export interface ShortPublisherOptions extends ShortOptions {
  backend: KvBackend;
  /** Every synced member cluster as the publisher sees it (unsynced ones are absent). */
  sources(): ShortSource[];
  /** Members that have not synced (yet), with when their watch started. */
  unseen(): ReadonlyMap<string, number>;
  /** How long an unsynced cluster's keys stay as the store has them (federation/grace.ts). */
  graceMs: number;
  now(): number;
  batchMs: number;
  fence?: () => TxnCompare | undefined;
  onNotLeader(err: Error): void;
  registry?: Registry;
  resyncMs?: number;
  timers?: Timers;
}

export class ShortPublisher {
  private readonly writer: RecordWriter<ShortValue>;
  private readonly reconciler: Reconciler<ShortValue>;
  private readonly options: ShortPublisherOptions;
  /** The location universe of the last plan, and what it was computed from (reused while that holds). */
  private cached: { signature: string; locations: ShortLocations } | undefined;

  constructor(options: ShortPublisherOptions) {
    this.options = options;
    this.writer = new RecordWriter<ShortValue>({
      backend: options.backend,
      prefix: options.prefix,
      owner: options.owner,
      codec: SHORT_CODEC,
      unitOf: shortKeyUnit(options.prefix, options.federation),
      metricPrefix: "fedns_controller_short",
      ...(options.registry === undefined ? {} : { registry: options.registry }),
      ...(options.fence === undefined ? {} : { fence: options.fence }),
      ...(options.resyncMs === undefined ? {} : { resyncMs: options.resyncMs }),
      ...(options.timers === undefined ? {} : { timers: options.timers }),
      onDrift: (units) => this.reconciler.invalidate(units),
    });
    this.reconciler = new Reconciler<ShortValue>({
      plan: (only) => {
        const warnings: PlanWarning[] = [];
        const sources = options.sources();
        const services = shortUnits(
          sources,
          options,
          (warning) => warnings.push(warning),
          only,
          this.locations(sources),
        );
        // A cluster not synced yet keeps its keys within its grace period (then they are withdrawn).
        const held = new Map<string, HeldUnit>();
        const frozen = new Set<string>();
        for (const [cluster, since] of options.unseen()) {
          if (!graceOver(since, options.now(), options.graceMs)) frozen.add(cluster);
        }
        if (frozen.size > 0) {
          for (const unit of only ?? this.writer.ownedUnits()) {
            const cluster = clusterOfShortUnit(unit);
            if (cluster !== undefined && frozen.has(cluster))
              held.set(unit, { reason: "syncing", clusters: [cluster] });
          }
        }
        return { services, warnings, held };
      },
      units: () => shortUnitsOf(options.sources()),
      encode: encodeShortValue,
      writer: this.writer,
      batchMs: options.batchMs,
      onNotLeader: options.onNotLeader,
      ...(options.timers === undefined ? {} : { timers: options.timers }),
    });
  }

  /**
   * The locations of the members' nodes: computed once, then reused for every slice of units while no member's
   * nodes, phase or configured place changed (a full re-plan plans thousands of units in small slices).
   */
  private locations(sources: readonly ShortSource[]): ShortLocations {
    const signature = sources
      .map(
        (s) =>
          `${s.state.name}|${s.state.status}|${s.nodesVersion ?? "?"}|${s.state.configLocation.zone ?? ""}|${s.state.configLocation.region ?? ""}`,
      )
      .join(",");
    const unversioned = sources.some((source) => source.nodesVersion === undefined);
    if (!unversioned && this.cached?.signature === signature) return this.cached.locations;
    const locations = shortLocations(sources, this.options);
    this.cached = { signature, locations };
    return locations;
  }

  /** Reads what etcd holds under the prefix and follows it (standby replicas too). */
  follow(): Promise<void> {
    return this.writer.follow();
  }

  /** Units (short-keys.ts clientUnit, serviceUnit) whose keys may have changed, or all of them. */
  markDirty(units: Iterable<string> | "all"): void {
    this.reconciler.markDirty(units);
  }

  enable(): void {
    this.reconciler.enable();
  }

  disable(): void {
    this.reconciler.disable();
  }

  whenIdle(): Promise<void> {
    return this.reconciler.whenIdle();
  }

  /** Stops writing (waits for writes in flight a little, as the records' reconciler does). */
  stopWriting(): Promise<void> {
    return this.reconciler.stop();
  }

  async stop(): Promise<void> {
    await this.reconciler.stop();
    await this.writer.stop();
  }
}
