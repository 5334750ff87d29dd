// createEtcdBackend(options): the KvBackend over a real etcd (v3 API, `etcd3` package): ranges, watches that
// resume by themselves after disconnects and report compaction, compare-guarded txns, leader campaigns.
import { readFileSync } from "node:fs";
import { Etcd3, type IOptions, type Watcher } from "etcd3";
import { realTimers, sleep, type Timers } from "../obs/clock.ts";
import { logger } from "../obs/log.ts";
import { campaignThroughEtcd } from "./election.ts";
import type {
  KvBackend,
  LeaderCampaign,
  RangeOptions,
  RangeResult,
  TxnCompare,
  TxnOp,
  TxnResult,
  WatchEvent,
  WatchHandle,
  WatchHandlers,
} from "./kv.ts";
import { pagedRange, prefixEnd } from "./range-split.ts";

export interface EtcdTlsOptions {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface EtcdOptions {
  /** `http://127.0.0.1:2379`, `https://etcd-0.etcd:2379`, … */
  endpoints: string[];
  tls?: EtcdTlsOptions;
  username?: string;
  password?: string;
  /** How long connecting may take (default 5000 ms). */
  dialTimeoutMs?: number;
  /** Deadline of each unary call: range, txn (default 5000 ms). */
  requestTimeoutMs?: number;
  /** Must not exceed the server's --max-txn-ops (default 128, etcd's default). */
  maxTxnOps?: number;
  /** Watch reconnect backoff bounds (default 100 ms .. 5000 ms). */
  watchBackoff?: { initialMs?: number; maxMs?: number };
  /** The clock of watch reconnects, campaigns and the bounded close (default: the real one). */
  timers?: Timers;
}

const DEFAULT_TIMEOUT_MS = 5000;
/**
 * etcd 3.4 cancels a watch whose start revision was compacted with compact_revision set and no reason;
 * etcd3 passes on only the reason ("Watcher canceled: "). Newer servers may name the compaction.
 */
const COMPACTED = /compacted|^Watcher canceled: *$/i;

type Policy = NonNullable<NonNullable<IOptions["faultHandling"]>["host"]> extends (host: string) => infer P ? P : never;
type Backoff = NonNullable<NonNullable<IOptions["faultHandling"]>["watchBackoff"]>;

/**
 * The revision a watch resumes from after a response carrying `events`, given it would have resumed from
 * `current` before. During catch-up etcd sends the history in batches (up to 1000 revisions each) stamped
 * with the store's current revision, not the batch's last one, so only the events tell how far delivery has
 * got; the header revision counts only for responses without events (progress notifications, sent to watches
 * that have caught up). As etcd's Go client does.
 */
export function nextWatchRevision(
  current: number,
  events: readonly { modRevision: number }[],
  headerRevision: number,
): number {
  if (events.length === 0) return Math.max(current, headerRevision + 1);
  let last = current - 1;
  for (const event of events) last = Math.max(last, event.modRevision);
  return last + 1;
}

export { prefixEnd };

export function createEtcdBackend(options: EtcdOptions): KvBackend {
  return new EtcdKv(options);
}

/** Exponential backoff with jitter in the shape cockatiel (used inside etcd3) expects. */
function exponentialBackoff(initialMs: number, maxMs: number, attempt = 0): Backoff {
  const base = Math.min(maxMs, initialMs * 2 ** attempt);
  const backoff = {
    duration: base / 2 + Math.random() * (base / 2),
    next: () => exponentialBackoff(initialMs, maxMs, attempt + 1),
  };
  return backoff as unknown as Backoff;
}

/**
 * A policy that just runs the call. etcd3's default per-host circuit breaker refuses calls for 5 s after
 * three failures, which would delay catching up after etcd returns; our callers back off themselves.
 */
function passThroughPolicy(): Policy {
  const noEvent = () => ({ dispose: () => {} });
  const policy = {
    onSuccess: noEvent,
    onFailure: noEvent,
    execute: async <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T) =>
      fn({ signal: new AbortController().signal }),
  };
  return policy as unknown as Policy;
}

function buildClientOptions(options: EtcdOptions): IOptions {
  const timeout = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client: IOptions = {
    hosts: options.endpoints,
    dialTimeout: options.dialTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    // gRPC deadlines are wall-clock dates enforced by grpc-js itself: the injected clock cannot drive them.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
    grpcOptions: {
      // Full range reads of large record sets exceed gRPC's 4 MiB default.
      "grpc.max_receive_message_length": 512 * 1024 * 1024,
      // Notice a silently dead connection (etcd's default minimum ping interval is 5 s).
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
    },
    faultHandling: {
      host: () => passThroughPolicy(),
      watchBackoff: exponentialBackoff(options.watchBackoff?.initialMs ?? 100, options.watchBackoff?.maxMs ?? 5000),
    },
  };
  if (options.tls !== undefined) {
    const { caFile, certFile, keyFile } = options.tls;
    client.credentials = {
      // grpc falls back to the system roots when no CA is given.
      rootCertificate: (caFile === undefined ? null : readFileSync(caFile)) as Buffer,
      ...(keyFile === undefined ? {} : { privateKey: readFileSync(keyFile) }),
      ...(certFile === undefined ? {} : { certChain: readFileSync(certFile) }),
    };
  }
  if (options.username !== undefined) {
    client.auth = { username: options.username, password: options.password ?? "" };
  }
  return client;
}

class EtcdKv implements KvBackend {
  readonly description: string;
  readonly maxTxnOps: number;
  private readonly timers: Timers;
  private readonly client: Etcd3;
  private readonly log = logger("store.etcd");
  private readonly options: EtcdOptions;
  private readonly campaigns = new Set<LeaderCampaign>();

  constructor(options: EtcdOptions) {
    if (options.endpoints.length === 0) throw new Error("etcd: no endpoints configured");
    this.options = options;
    this.description = `etcd ${options.endpoints.join(",")}`;
    this.maxTxnOps = options.maxTxnOps ?? 128;
    this.timers = options.timers ?? realTimers;
    this.client = new Etcd3(buildClientOptions(options));
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    try {
      // Paged: each page after the first asks for a sub-range with a tight end (range-split.ts), so that etcd
      // 3.4 does not walk the whole rest of the prefix for every page.
      return await pagedRange(prefix, options, async (start, end, limit, revision) => {
        const response = await this.client.kv.range({ key: start, range_end: end, limit, revision });
        return {
          headerRevision: Number(response.header.revision),
          kvs: response.kvs.map((kv) => ({
            key: kv.key.toString(),
            value: kv.value.toString(),
            modRevision: Number(kv.mod_revision),
          })),
          keys: response.kvs.map((kv) => kv.key),
          more: response.more,
        };
      });
    } catch (err) {
      throw new Error(`${this.description}: range ${prefix}: ${(err as Error).message}`, { cause: err });
    }
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle> {
    let next = Math.max(1, fromRevision);
    let closed = false;
    let current: Watcher | undefined;
    let retryTimer: { cancel(): void } | undefined;
    let backoff = exponentialBackoff(
      this.options.watchBackoff?.initialMs ?? 100,
      this.options.watchBackoff?.maxMs ?? 5000,
    );
    const guarded = (what: string, fn: () => void): void => {
      // etcd3 rethrows listener exceptions asynchronously, which would crash the process.
      try {
        fn();
      } catch (err) {
        this.log.error({ err, prefix }, `watch handler for ${what} failed`);
      }
    };
    const open = (): void => {
      const watcher = this.client.watch().prefix(prefix).startRevision(String(next)).watcher();
      current = watcher;
      watcher.on("connected", () => {
        // etcd3 moves its resume point to the create response's header revision, before the history
        // from `next` on has been delivered; a disconnect then would skip events. Resume from what we saw.
        watcher.request.start_revision = String(next);
        backoff = exponentialBackoff(
          this.options.watchBackoff?.initialMs ?? 100,
          this.options.watchBackoff?.maxMs ?? 5000,
        );
        if (!closed) guarded("connected", () => handlers.onConnected());
      });
      watcher.on("disconnected", (err: Error) => {
        watcher.request.start_revision = String(next);
        if (!closed) guarded("disconnected", () => handlers.onDisconnected(err));
      });
      watcher.on("data", (response) => {
        if (closed || current !== watcher) return;
        const events: WatchEvent[] = [];
        for (const event of response.events) {
          const modRevision = Number(event.kv.mod_revision);
          const key = event.kv.key.toString();
          if (event.type === "Put") events.push({ type: "put", key, value: event.kv.value.toString(), modRevision });
          else events.push({ type: "delete", key, modRevision });
        }
        next = nextWatchRevision(next, events, Number(response.header.revision));
        watcher.request.start_revision = String(next);
        // Everything up to next - 1 has been delivered; empty event lists (progress notifications) still tell
        // how far the store has got.
        guarded("events", () => handlers.onEvents(events, next - 1));
      });
      watcher.on("error", (err: Error) => {
        if (closed || current !== watcher) return;
        // etcd3 has already dropped a cancelled watcher; cancelling it again would wait forever.
        current = undefined;
        if (COMPACTED.test(err.message)) {
          closed = true;
          guarded("compacted", () => handlers.onCompacted(0)); // etcd3 does not pass the revision on
          return;
        }
        // Any other cancellation (permissions, leader changes): report and open a fresh watch.
        guarded("disconnected", () => handlers.onDisconnected(err));
        const delay = backoff.duration;
        backoff = backoff.next(undefined) as Backoff;
        retryTimer = this.timers.setTimeout(() => {
          if (!closed) open();
        }, delay);
      });
    };
    open();
    return {
      close: async () => {
        closed = true;
        retryTimer?.cancel();
        const watcher = current;
        current = undefined;
        if (watcher !== undefined) await watcher.cancel().catch(() => undefined);
      },
    };
  }

  async txn(compares: TxnCompare[], ops: TxnOp[]): Promise<TxnResult> {
    if (compares.length > this.maxTxnOps || ops.length > this.maxTxnOps) {
      throw new Error(`${this.description}: txn of ${ops.length} ops exceeds the limit of ${this.maxTxnOps}`);
    }
    try {
      const response = await this.client.kv.txn({
        compare: compares.map((compare) => ({
          key: Buffer.from(compare.key),
          target: "Mod",
          result: "Equal",
          mod_revision: compare.modRevision,
        })),
        success: ops.map((op) =>
          op.type === "put"
            ? { request_put: { key: Buffer.from(op.key), value: Buffer.from(op.value) } }
            : { request_delete_range: { key: Buffer.from(op.key) } },
        ),
        failure: [],
      });
      return { succeeded: response.succeeded, revision: Number(response.header.revision) };
    } catch (err) {
      throw new Error(`${this.description}: txn of ${ops.length} ops: ${(err as Error).message}`, { cause: err });
    }
  }

  campaign(electionName: string, candidate: string, ttlSeconds: number): LeaderCampaign {
    const campaign = campaignThroughEtcd(this.client, electionName, candidate, ttlSeconds, this.timers);
    this.campaigns.add(campaign);
    return campaign;
  }

  async close(): Promise<void> {
    // Resigning revokes the leases, so a standby takes over now rather than after the TTL; closing the
    // client alone would not even stop keepalives already in flight.
    const resigning = [...this.campaigns].map((campaign) => campaign.resign().catch(() => undefined));
    this.campaigns.clear();
    await Promise.race([Promise.all(resigning), sleep(this.timers, 2000)]);
    this.client.close();
  }
}
