// How a store follower (the record source, the short-name source) waits before trying a failed load again:
// exponential from `initialMs`, capped at `maxMs`, jittered over the upper half so that replicas which lost
// etcd together do not come back in step. One rule for every follower.

export interface RetryOptions {
  initialMs?: number;
  maxMs?: number;
}

export const DEFAULT_RETRY_INITIAL_MS = 100;
export const DEFAULT_RETRY_MAX_MS = 5000;

/** The delay before retry number `attempt` (0: the first retry), in ms; `random` is injectable for tests. */
export function retryDelayMs(attempt: number, options: RetryOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? DEFAULT_RETRY_INITIAL_MS;
  const max = options.maxMs ?? DEFAULT_RETRY_MAX_MS;
  const delay = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return delay / 2 + random() * (delay / 2);
}
