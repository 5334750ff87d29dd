// One simulated member cluster: its state, its API server, a programmatic object API and the fault hooks.
import { ResourceApi } from "./api.ts";
import type { PatchKind } from "./patch.ts";
import { requireType } from "./resources.ts";
import { ApiServer } from "./server.ts";
import type { KubeObject } from "./types.ts";

export interface SimClusterOptions {
  name: string;
  token: string;
  host: string;
  tls: { cert: string; key: string; caPath: string } | undefined;
  bookmarkIntervalMs?: number;
  maxHistory?: number;
}

export type CloseMode = "clean" | "reset";

export class SimCluster {
  readonly name: string;
  readonly token: string;
  readonly caPath: string | undefined;
  readonly api: ResourceApi;
  private readonly server: ApiServer;
  private readonly host: string;
  private readonly scheme: "http" | "https";

  constructor(options: SimClusterOptions) {
    this.name = options.name;
    this.token = options.token;
    this.caPath = options.tls?.caPath;
    this.host = options.host;
    this.scheme = options.tls ? "https" : "http";
    this.api = new ResourceApi({ maxHistory: options.maxHistory });
    this.server = new ApiServer({
      name: options.name,
      api: this.api,
      token: options.token,
      tls: options.tls,
      host: options.host,
      bookmarkIntervalMs: options.bookmarkIntervalMs,
    });
  }

  get url(): string {
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    return `${this.scheme}://${host}:${this.server.port}`;
  }

  get port(): number {
    return this.server.port;
  }

  get reachable(): boolean {
    return this.server.listening;
  }

  /** Open watch streams right now (tests use it to wait for informers to connect). */
  get openWatches(): number {
    return this.server.openWatches;
  }

  async start(port = 0): Promise<void> {
    await this.server.listen(port);
  }

  // --- object API: same defaulting, validation and watch events as HTTP writes ---

  /** Creates or replaces a whole object (status included); a missing namespace is created. */
  apply(object: KubeObject): KubeObject {
    return this.api.apply(object);
  }

  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.api.store.get(requireType(kind), namespace, name);
  }

  list(kind: string, namespace?: string): KubeObject[] {
    return this.api.store.list(requireType(kind), namespace);
  }

  patch(
    kind: string,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    patchKind: PatchKind = "merge",
  ): KubeObject {
    return this.api.patch(requireType(kind), namespace, name, patchKind, patch);
  }

  /** JSON-merge-patches the status subresource: `patchStatus("Service", "default", "web", { loadBalancer: {} })`. */
  patchStatus(kind: string, namespace: string | undefined, name: string, status: unknown): KubeObject {
    return this.api.patch(requireType(kind), namespace, name, "merge", { status }, "status");
  }

  delete(kind: string, namespace: string | undefined, name: string): KubeObject {
    return this.api.delete(requireType(kind), namespace, name);
  }

  /** The cluster's current resourceVersion. */
  revision(): number {
    return this.api.store.revision();
  }

  // --- fault hooks ---

  /** Drops the watch history: a watch from any older resourceVersion gets 410 Expired. */
  compact(): void {
    this.api.store.compact();
  }

  /** Ends every open watch, cleanly or with a TCP reset; returns how many were open. */
  closeWatches(mode: CloseMode): number {
    return this.server.closeWatches(mode);
  }

  /** Unreachable: the port refuses connections and open ones are dropped; reachable again on the same port. */
  async setReachable(reachable: boolean): Promise<void> {
    if (reachable) {
      this.server.setHanging(false);
      await this.server.listen(this.server.port);
    } else await this.server.close();
  }

  /** Hanging: connections accepted, nothing answered, open watches silent (see ApiServer.setHanging). */
  setHanging(hanging: boolean): void {
    this.server.setHanging(hanging);
  }

  get hanging(): boolean {
    return this.server.isHanging;
  }

  /** At most `limit` objects per list page (undefined: whole lists); see ApiServer.setListPageLimit. */
  setListPageLimit(limit: number | undefined): void {
    this.server.setListPageLimit(limit);
  }

  /** A restart of the API server: every connection dropped, back on the same port, state and history kept. */
  async restart(): Promise<void> {
    await this.server.close();
    await this.server.listen(this.server.port);
  }

  async stop(): Promise<void> {
    await this.server.close();
  }
}
