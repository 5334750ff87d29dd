// The HTTP(S) front of one simulated cluster: authentication, routing to discovery, OpenAPI and
// resource operations, watch streams, and the socket control the fault hooks need.
import { timingSafeEqual } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import { parse as parseYaml } from "yaml";
import type { Logger } from "../obs/log.ts";
import { logger } from "../obs/log.ts";
import type { ResourceApi } from "./api.ts";
import { coreVersions, group, groupList, resourceList, versionInfo } from "./discovery.ts";
import {
  ApiError,
  badRequest,
  expired,
  methodNotAllowed,
  pathNotFound,
  unauthorized,
  unsupportedMediaType,
} from "./errors.ts";
import { openApiDocument, openApiRoot } from "./openapi.ts";
import { patchKindOf } from "./patch.ts";
import { apiVersionOf, type ResourceType } from "./resources.ts";
import { parseRoute, type Route } from "./routes.ts";
import { parseFieldSelector, parseLabelSelector, type Selector } from "./selectors.ts";
import { includeObjectOf, toTable, wantsTable } from "./table.ts";
import { ActiveWatch } from "./watch.ts";

export interface ApiServerOptions {
  name: string;
  api: ResourceApi;
  /** Bearer token every request except health checks must carry; undefined disables auth. */
  token: string | undefined;
  tls?: { cert: string; key: string };
  host: string;
  bookmarkIntervalMs?: number;
}

const MAX_BODY = 4 * 1024 * 1024;

export class ApiServer {
  private readonly options: ApiServerOptions;
  private readonly log: Logger;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<ActiveWatch>();
  /** Requests accepted while hanging, never answered. */
  private readonly held = new Set<ServerResponse>();
  private hanging = false;
  private pageLimit: number | undefined;
  private boundPort = 0;

  constructor(options: ApiServerOptions) {
    this.options = options;
    this.log = logger("sim").child({ cluster: options.name });
  }

  get port(): number {
    return this.boundPort;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Listens on `port` (0: the kernel picks one, kept for later restarts). */
  async listen(port = this.boundPort): Promise<number> {
    if (this.server !== undefined) return this.boundPort;
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => this.log.error({ err }, "request handler failed"));
    };
    const server = this.options.tls
      ? createHttpsServer({ cert: this.options.tls.cert, key: this.options.tls.key }, handler)
      : createHttpServer(handler);
    server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    server.on("clientError", (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, this.options.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("API server has no TCP address");
    this.boundPort = address.port;
    this.server = server;
    this.log.debug({ port: this.boundPort }, "API server listening");
    return this.boundPort;
  }

  /** Stops listening and drops every connection at once, like a process that dies. */
  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    for (const watch of [...this.watches]) watch.reset();
    this.held.clear();
    for (const socket of this.sockets) socket.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Hang: connections are still accepted but no request is answered, and open watches go silent (no
   * events, no bookmarks), as an overloaded or wedged API server behind a live load balancer would.
   * Ending the hang resets the held requests and the silenced watches (their clients re-watch).
   */
  setHanging(hanging: boolean): void {
    if (this.hanging === hanging) return;
    this.hanging = hanging;
    for (const watch of this.watches) {
      if (hanging) watch.mute();
      else watch.reset();
    }
    if (!hanging) {
      for (const res of this.held) res.socket?.destroy();
      this.held.clear();
    }
  }

  get isHanging(): boolean {
    return this.hanging;
  }

  /**
   * At most `limit` objects per list page, whatever the client asks (undefined: whole lists in one page, the
   * default). A real API server pages on `limit`; a hostile one can send one object per page forever.
   * Pages continue from a token naming the list's resourceVersion and offset; a token whose list has since
   * changed gets 410 Expired, as a compacted continue token does.
   */
  setListPageLimit(limit: number | undefined): void {
    this.pageLimit = limit;
  }

  /** Ends every open watch: "clean" ends the response, "reset" sends a TCP RST. */
  closeWatches(mode: "clean" | "reset"): number {
    const open = [...this.watches];
    for (const watch of open) {
      if (mode === "clean") watch.end();
      else watch.reset();
    }
    return open.length;
  }

  get openWatches(): number {
    return this.watches.size;
  }

  private authorized(req: IncomingMessage): boolean {
    const token = this.options.token;
    if (token === undefined) return true;
    const header = req.headers.authorization ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match?.[1]) return false;
    const given = Buffer.from(match[1].trim());
    const expected = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.hanging) {
      this.held.add(res);
      res.once("close", () => this.held.delete(res));
      return;
    }
    try {
      // Nothing of an unauthenticated request is parsed (path, query, body) but the health paths,
      // matched on the raw target; the connection is closed so an unread body is not drained either.
      if (isHealthTarget(req.url)) return send(res, 200, "ok", "text/plain");
      if (!this.authorized(req)) {
        res.setHeader("Connection", "close");
        throw unauthorized();
      }
      const url = new URL(req.url ?? "/", "http://sim");
      const route = parseRoute(url.pathname);
      await this.dispatch(route, url, req, res);
    } catch (err) {
      const error = err instanceof ApiError ? err : new ApiError(500, "InternalError", String(err));
      if (error.code === 500) this.log.error({ err }, "internal error");
      if (!res.headersSent) sendJson(res, error.code, error.toStatus());
      else res.end();
    }
  }

  private async dispatch(route: Route, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const readOnly = (body: unknown | undefined): void => {
      if (method !== "GET") throw methodNotAllowed();
      if (body === undefined) throw pathNotFound(url.pathname);
      sendJson(res, 200, body);
    };
    switch (route.kind) {
      case "health":
        return send(res, 200, "ok", "text/plain");
      case "version":
        return readOnly(versionInfo());
      case "core-versions":
        return readOnly(coreVersions(`${this.options.host}:${this.boundPort}`));
      case "group-list":
        return readOnly(groupList());
      case "group":
        return readOnly(group(route.group));
      case "resource-list":
        return readOnly(resourceList(route.group, route.version));
      case "openapi-root":
        return readOnly(openApiRoot());
      case "openapi":
        return readOnly(openApiDocument(route.group, route.version));
      case "resource":
        return this.resource(route, url, req, res);
      default:
        throw pathNotFound(url.pathname);
    }
  }

  /** One page of a list under setListPageLimit (everything when no limit is set). */
  private page<T>(
    all: T[],
    resourceVersion: string,
    url: URL,
  ): { items: T[]; continueToken?: string; remaining?: number } {
    const pageLimit = this.pageLimit;
    if (pageLimit === undefined) return { items: all };
    let offset = 0;
    const token = url.searchParams.get("continue");
    if (token !== null && token !== "") {
      const match = /^([0-9]+):([0-9]+)$/.exec(Buffer.from(token, "base64url").toString());
      if (match === null) throw badRequest("continue: invalid continue token");
      if (match[1] !== resourceVersion) throw expired(Number(match[1]), Number(resourceVersion));
      offset = Number(match[2]);
    }
    const asked = Number(url.searchParams.get("limit") ?? "0");
    const size = asked > 0 ? Math.min(asked, pageLimit) : pageLimit;
    const items = all.slice(offset, offset + size);
    const next = offset + items.length;
    if (next >= all.length) return { items };
    return {
      items,
      continueToken: Buffer.from(`${resourceVersion}:${next}`).toString("base64url"),
      remaining: all.length - next,
    };
  }

  private async resource(
    route: Extract<Route, { kind: "resource" }>,
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const { type, namespace, name, subresource } = route;
    const api = this.options.api;
    const method = req.method ?? "GET";
    if (subresource !== undefined && (subresource !== "status" || !type.hasStatus)) throw pathNotFound(url.pathname);
    const status = subresource === "status" ? "status" : undefined;
    const write = { strict: url.searchParams.get("fieldValidation") === "Strict" };
    const table = wantsTable(req.headers.accept) ? includeObjectOf(url.searchParams.get("includeObject")) : undefined;
    const reply = (code: number, object: Parameters<typeof toTable>[1][number]): void => {
      if (table !== undefined && method === "GET") {
        sendJson(res, code, toTable(type, [object], object.metadata.resourceVersion, table));
      } else {
        sendJson(res, code, object);
      }
    };

    if (name === undefined) {
      if (method === "GET") {
        const selector = selectorOf(url, type);
        const watching = url.searchParams.get("watch");
        if (watching === "true" || watching === "1") return this.watch(type, namespace, selector, url, res, table);
        const listed = api.list(type, namespace, selector);
        const { resourceVersion } = listed;
        const { items, continueToken, remaining } = this.page(listed.items, resourceVersion, url);
        if (table !== undefined) return sendJson(res, 200, toTable(type, items, resourceVersion, table));
        for (const item of items) {
          delete (item as { kind?: string }).kind;
          delete (item as { apiVersion?: string }).apiVersion;
        }
        return sendJson(res, 200, {
          kind: type.listKind,
          apiVersion: apiVersionOf(type),
          metadata: {
            resourceVersion,
            ...(continueToken === undefined ? {} : { continue: continueToken, remainingItemCount: remaining }),
          },
          items,
        });
      }
      if (method === "POST") {
        if (type.namespaced && namespace === undefined) throw methodNotAllowed();
        return reply(201, api.create(type, namespace, await readBody(req), write));
      }
      throw methodNotAllowed();
    }
    switch (method) {
      case "GET":
        return reply(200, api.get(type, namespace, name));
      case "PUT":
        return reply(200, api.replace(type, namespace, name, await readBody(req), status, write));
      case "PATCH": {
        const contentType = req.headers["content-type"] ?? "";
        const kind = patchKindOf(contentType);
        if (kind === undefined) throw unsupportedMediaType(contentType);
        return reply(200, api.patch(type, namespace, name, kind, await readBody(req), status, write));
      }
      case "DELETE":
        if (status !== undefined) throw methodNotAllowed();
        return reply(200, api.delete(type, namespace, name));
      default:
        throw methodNotAllowed();
    }
  }

  private watch(
    type: ResourceType,
    namespace: string | undefined,
    selector: Selector,
    url: URL,
    res: ServerResponse,
    table: ReturnType<typeof includeObjectOf> | undefined,
  ): void {
    const timeout = url.searchParams.get("timeoutSeconds");
    const watch = new ActiveWatch(
      this.options.api.store,
      res,
      {
        type,
        namespace,
        selector,
        resourceVersion: url.searchParams.get("resourceVersion") ?? "",
        bookmarks: url.searchParams.get("allowWatchBookmarks") === "true",
        bookmarkIntervalMs: this.options.bookmarkIntervalMs ?? 60_000,
        timeoutSeconds: timeout === null ? undefined : Number(timeout),
        table,
      },
      () => this.watches.delete(watch),
    );
    this.watches.add(watch);
    watch.start();
  }
}

const HEALTH_PATHS = new Set(["/healthz", "/livez", "/readyz"]);

/** `/healthz`, `/livez` or `/readyz` (a query string allowed, as kubelet probes send `?verbose`). */
function isHealthTarget(target: string | undefined): boolean {
  const path = (target ?? "").split("?", 1)[0] ?? "";
  return HEALTH_PATHS.has(path.endsWith("/") && path.length > 1 ? path.slice(0, -1) : path);
}

function selectorOf(url: URL, type: ResourceType): Selector {
  const labels = parseLabelSelector(url.searchParams.get("labelSelector"));
  const fields = parseFieldSelector(url.searchParams.get("fieldSelector"), type);
  return (object) => labels(object) && fields(object);
}

function send(res: ServerResponse, code: number, body: string, contentType: string): void {
  res.writeHead(code, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  send(res, code, JSON.stringify(body), "application/json");
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, "RequestEntityTooLarge", "request entity too large");
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw badRequest("the request body is empty");
  const contentType = (req.headers["content-type"] ?? "").toLowerCase();
  try {
    return contentType.includes("yaml") ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw badRequest(`the request body is not valid ${contentType.includes("yaml") ? "YAML" : "JSON"}: ${String(err)}`);
  }
}
