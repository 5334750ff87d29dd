// The main thread's side of the loader worker (store/load-worker.ts, issue 8): starts one worker per full load,
// checks every message it posts (another thread's output is untrusted input: records/prepared.ts
// readPreparedPage) and hands the record source the prepared pages, then the load's revision. A worker that
// crashes, exits early, posts something malformed or stays silent for `idleMs` is a LoaderWorkerFailure (the
// source logs it and loads on the main thread instead); what the worker reports as failed (etcd away,
// permission denied) is a plain Error, as the same failure of an in-thread load would be.
import { Worker } from "node:worker_threads";
import { realTimers, type Timers } from "../obs/clock.ts";
import { type PreparedPage, readPreparedPage } from "../records/prepared.ts";
import type { EtcdOptions } from "./etcd-kv.ts";

/** What the worker is asked to load (its workerData). */
export interface LoaderRequest {
  /** Connection settings of the worker's own etcd client (endpoints, TLS files, user and password). */
  etcd: Omit<EtcdOptions, "timers">;
  /** `<prefix>/`: the keys read. */
  base: string;
  pageSize: number;
}

export type LoaderMessage =
  | PreparedPage
  | { type: "done"; revision: number; keys: number }
  | { type: "error"; message: string };

/** What a load through the worker yields: prepared pages, then the end of the load. */
export type LoadStep = PreparedPage | { type: "done"; revision: number };

/** The worker failed (not the store): the caller loads another way. */
export class LoaderWorkerFailure extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LoaderWorkerFailure";
  }
}

export interface PreparedLoader {
  /** One full load of `base` in pages; stops the worker when the iteration ends early or `signal` fires. */
  load(base: string, signal: AbortSignal): AsyncGenerator<LoadStep, void, undefined>;
}

export interface WorkerLoaderOptions {
  etcd: Omit<EtcdOptions, "timers">;
  /** Keys per range request in the worker (default WORKER_PAGE_SIZE). */
  pageSize?: number;
  /** No message from the worker for this long: it is stopped and counts as failed (default 30 s). */
  idleMs?: number;
  timers?: Timers;
  /** The worker's module (tests point it at a faulty one); default load-worker next to this file. */
  workerUrl?: URL;
}

/** The worker may take big pages: decoding one blocks only its own thread, and etcd answers fewer requests. */
export const WORKER_PAGE_SIZE = 20_000;
const DEFAULT_IDLE_MS = 30_000;
const YOUNG_GENERATION_MB = 96;
/** A worker's error message is cut to this length. */
const MAX_MESSAGE = 2000;

const here = import.meta.url;
/** load-worker next to this module: `.ts` when run from the sources, `.js` from the build. */
const WORKER_URL = new URL(here.endsWith(".ts") ? "./load-worker.ts" : "./load-worker.js", here);

export function workerLoader(options: WorkerLoaderOptions): PreparedLoader {
  const timers = options.timers ?? realTimers;
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const pageSize = options.pageSize ?? WORKER_PAGE_SIZE;
  const url = options.workerUrl ?? WORKER_URL;
  return {
    async *load(base: string, signal: AbortSignal): AsyncGenerator<LoadStep, void, undefined> {
      const request: LoaderRequest = { etcd: options.etcd, base, pageSize };
      const worker = new Worker(url, {
        workerData: request,
        stdout: true,
        stderr: true,
        // A young generation big enough for a page's garbage: fewer scavenges, less of it promoted.
        resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      });
      const inbox: unknown[] = [];
      let failure: Error | undefined;
      let ended = false;
      let wake: (() => void) | undefined;
      const notify = (): void => {
        const waiting = wake;
        wake = undefined;
        waiting?.();
      };
      // Its output is nobody's log; read and dropped so that a chatty module cannot fill the pipe.
      worker.stdout.resume();
      worker.stderr.resume();
      worker.on("message", (message: unknown) => {
        inbox.push(message);
        notify();
      });
      worker.on("error", (err: Error) => {
        failure ??= new LoaderWorkerFailure(`loader worker failed: ${err.message}`, { cause: err });
        notify();
      });
      worker.on("exit", (code: number) => {
        if (!ended) failure ??= new LoaderWorkerFailure(`loader worker exited (code ${code}) before the load ended`);
        notify();
      });
      const onAbort = (): void => {
        failure ??= new Error("load abandoned");
        notify();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        for (;;) {
          while (inbox.length === 0 && failure === undefined) {
            let idle = false;
            const timer = timers.setTimeout(() => {
              idle = true;
              notify();
            }, idleMs);
            await new Promise<void>((resolve) => (wake = resolve));
            timer.cancel();
            if (idle && inbox.length === 0) {
              failure ??= new LoaderWorkerFailure(`loader worker silent for ${idleMs} ms`);
            }
          }
          if (signal.aborted) return;
          const message = inbox.shift();
          if (message === undefined) throw failure!;
          const type =
            typeof message === "object" && message !== null ? (message as { type?: unknown }).type : undefined;
          if (type === "page") {
            let page: PreparedPage;
            try {
              page = readPreparedPage(message);
            } catch (err) {
              throw new LoaderWorkerFailure(`loader worker sent a bad page: ${(err as Error).message}`, { cause: err });
            }
            yield page;
            worker.postMessage("next");
          } else if (type === "done") {
            const revision = (message as { revision?: unknown }).revision;
            if (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < 0) {
              throw new LoaderWorkerFailure("loader worker sent a bad revision");
            }
            ended = true;
            yield { type: "done", revision };
            return;
          } else if (type === "error") {
            const text = (message as { message?: unknown }).message;
            ended = true;
            throw new Error(typeof text === "string" ? text.slice(0, MAX_MESSAGE) : "loader worker: load failed");
          } else {
            throw new LoaderWorkerFailure("loader worker sent an unknown message");
          }
        }
      } finally {
        ended = true;
        signal.removeEventListener("abort", onAbort);
        void worker.terminate().catch(() => undefined);
      }
    },
  };
}
