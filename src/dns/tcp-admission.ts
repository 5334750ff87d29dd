// Which TCP connections a listener takes: the per-source connection count and cap, and the listener's
// block list of the sources at their cap. A source that reached its cap and sent one more connection
// (refused in JS, counted) goes on the block list, so that the rest of its connect storm is closed
// by node:net on the raw handle, before any Socket, listener or timer exists for it (about half the
// CPU of a refusal in JS, and no JS on the event loop). It comes off again as soon as one of its
// connections closes. The block list is rebuilt on each change (node's BlockList has no removal):
// O(sources at their cap), at most maxConnections / maxConnectionsPerSource of them.
import { BlockList } from "node:net";

export type Refusal = "source";

/** Installs a new block list (node's net.Server reads its `blockList` on every incoming connection). */
export type InstallBlockList = (list: BlockList, sources: number) => void;

export class SourceAdmission {
  /** Open connections per source address (entries removed at zero, so bounded by the global cap). */
  private readonly open = new Map<string, number>();
  /** Sources on the block list, with the address family node reported. */
  private readonly blocked = new Map<string, "ipv4" | "ipv6">();
  private readonly install: InstallBlockList;
  private readonly perSource: number;

  constructor(install: InstallBlockList, maxConnectionsPerSource: number) {
    this.install = install;
    this.perSource = maxConnectionsPerSource;
  }

  /**
   * A new connection from `address`: undefined when taken (release it when it closes), or why it is
   * refused; a refused source at its cap is put on the block list.
   */
  admit(address: string, family: string | undefined): Refusal | undefined {
    const open = this.open.get(address) ?? 0;
    if (open >= this.perSource) {
      const type = family === "IPv6" ? "ipv6" : family === "IPv4" ? "ipv4" : undefined;
      if (type !== undefined && !this.blocked.has(address)) {
        this.blocked.set(address, type);
        this.rebuild();
      }
      return "source";
    }
    this.open.set(address, open + 1);
    return undefined;
  }

  /** A connection admit() took has closed. */
  release(address: string): void {
    const left = (this.open.get(address) ?? 1) - 1;
    if (left > 0) this.open.set(address, left);
    else this.open.delete(address);
    if (left < this.perSource && this.blocked.delete(address)) this.rebuild();
  }

  /** Sources whose new connections the listener closes before they reach us. */
  get blockedSources(): number {
    return this.blocked.size;
  }

  private rebuild(): void {
    const list = new BlockList();
    for (const [address, type] of this.blocked) list.addAddress(address, type);
    this.install(list, this.blocked.size);
  }
}
