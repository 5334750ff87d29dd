// Watch streams with the semantics of the real API server: replay from a resourceVersion, synthetic
// ADDED events for a fresh watch, selector transitions, bookmarks, timeouts, 410 after compaction.
import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { expired } from "./errors.ts";
import type { ResourceType } from "./resources.ts";
import { apiVersionOf } from "./resources.ts";
import type { Selector } from "./selectors.ts";
import type { ObjectStore, StoreEvent } from "./store.ts";
import { type IncludeObject, toTable } from "./table.ts";
import { clone, type KubeObject } from "./types.ts";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchOptions {
  type: ResourceType;
  namespace: string | undefined;
  selector: Selector;
  /** "" or "0": start with the current state as ADDED events. */
  resourceVersion: string;
  bookmarks: boolean;
  bookmarkIntervalMs: number;
  timeoutSeconds: number | undefined;
  table: IncludeObject | undefined;
}

/** What a watcher with this filter sees of one store event, if anything. */
export function project(
  event: StoreEvent,
  type: ResourceType,
  namespace: string | undefined,
  selector: Selector,
): { type: "ADDED" | "MODIFIED" | "DELETED"; object: KubeObject } | undefined {
  if (event.resourceType !== type) return undefined;
  const inScope = (o: KubeObject | undefined): boolean =>
    o !== undefined && (namespace === undefined || o.metadata.namespace === namespace) && selector(o);
  if (event.type === "ADDED") return inScope(event.object) ? { type: "ADDED", object: event.object } : undefined;
  if (event.type === "DELETED") {
    return inScope(event.previous) ? { type: "DELETED", object: event.object } : undefined;
  }
  const was = inScope(event.previous);
  const is = inScope(event.object);
  if (was && is) return { type: "MODIFIED", object: event.object };
  if (is) return { type: "ADDED", object: event.object };
  if (was && event.previous !== undefined) {
    // Leaving the selector: the last matching state, at the revision of the change.
    const gone = clone(event.previous);
    gone.metadata.resourceVersion = String(event.revision);
    return { type: "DELETED", object: gone };
  }
  return undefined;
}

/** RST needs the TCP handle: a TLS socket is reset through the TCP socket it wraps. */
export function resetSocket(socket: Socket): void {
  const tcp = (socket as Socket & { _parent?: Socket | null })._parent ?? socket;
  try {
    tcp.resetAndDestroy();
  } catch {
    tcp.destroy();
  }
  socket.destroy();
}

export class ActiveWatch {
  private readonly response: ServerResponse;
  private readonly options: WatchOptions;
  private readonly store: ObjectStore;
  private unsubscribe: (() => void) | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  /** Silenced by the hang fault: the stream stays open but nothing more is written. */
  private muted = false;
  private readonly onClose: () => void;

  constructor(store: ObjectStore, response: ServerResponse, options: WatchOptions, onClose: () => void) {
    this.store = store;
    this.response = response;
    this.options = options;
    this.onClose = onClose;
  }

  /** Answers the watch request; the stream stays open until timeout, client close or a fault hook. */
  start(): void {
    const { type, namespace, selector } = this.options;
    this.response.writeHead(200, {
      "Content-Type": "application/json",
      "Cache-Control": "no-cache, private",
      "Transfer-Encoding": "chunked",
    });
    this.response.flushHeaders();
    this.response.on("close", () => this.finish());

    const requested = this.options.resourceVersion;
    if (requested === "" || requested === "0") {
      for (const object of this.store.list(type, namespace)) {
        if (selector(object)) this.send("ADDED", object);
      }
    } else {
      const from = Number(requested);
      const backlog = Number.isInteger(from) && from >= 0 ? this.store.eventsAfter(from) : undefined;
      if (backlog === undefined) {
        const error = expired(Number.isFinite(from) ? from : 0, this.store.compactedRevision());
        this.send("ERROR", error.toStatus());
        this.end();
        return;
      }
      for (const event of backlog) this.deliver(event);
    }
    // Registered in the same tick as the replay: no write can fall between the two.
    this.unsubscribe = this.store.subscribe((event) => this.deliver(event));

    if (this.options.bookmarks) {
      const timer = setInterval(() => this.bookmark(), this.options.bookmarkIntervalMs);
      this.timers.push(timer);
    }
    if (this.options.timeoutSeconds !== undefined && this.options.timeoutSeconds > 0) {
      this.timers.push(setTimeout(() => this.end(), this.options.timeoutSeconds * 1000));
    }
  }

  /** Ends the stream cleanly (the client sees the response end). */
  end(): void {
    if (!this.response.writableEnded) this.response.end();
    this.finish();
  }

  /** Stops writing anything (events, bookmarks) while keeping the stream open. */
  mute(): void {
    this.muted = true;
  }

  /** Tears the connection down with a TCP reset, as a crashing server or a broken network would. */
  reset(): void {
    const socket = this.response.socket;
    if (socket !== null && !socket.destroyed) resetSocket(socket);
    this.finish();
  }

  private deliver(event: StoreEvent): void {
    const seen = project(event, this.options.type, this.options.namespace, this.options.selector);
    if (seen !== undefined) this.send(seen.type, seen.object);
  }

  private bookmark(): void {
    const type = this.options.type;
    this.send("BOOKMARK", {
      kind: type.kind,
      apiVersion: apiVersionOf(type),
      metadata: { resourceVersion: String(this.store.revision()) },
    });
  }

  private send(type: WatchEventType, object: unknown): void {
    if (this.closed || this.muted || this.response.writableEnded) return;
    let payload = object;
    if (this.options.table !== undefined && (type === "ADDED" || type === "MODIFIED" || type === "DELETED")) {
      const o = object as KubeObject;
      payload = toTable(this.options.type, [o], o.metadata.resourceVersion, this.options.table);
    }
    this.response.write(`${JSON.stringify({ type, object: payload })}\n`);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    for (const timer of this.timers) clearTimeout(timer);
    this.onClose();
  }
}
