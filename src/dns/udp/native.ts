// The batched UDP transport: the Node-API addon in native/ (recvmmsg into a ring of fixed slots,
// sendmmsg for the replies, a bounded send queue) moves the datagrams; this side turns each batch
// into Datagrams for onBatch and writes the replies back into their slots. The addon never reads
// a datagram's contents.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { Datagram, UdpListenOptions, UdpTransport, UdpTransportStats } from "./transport.ts";

/** Where `npm ci` (native/build.mjs) puts the addon, from src/dns/udp/ and from dist/dns/udp/ alike. */
export const DEFAULT_ADDON_PATH = fileURLToPath(
  new URL("../../../src/dns/udp/native/build/Release/fedns_udp.node", import.meta.url),
);
/** Overrides the addon's path (the AddressSanitizer build in CI; a missing file in the fallback test). */
export const ADDON_PATH_ENV = "FEDNS_UDP_ADDON";

export interface NativeOptions {
  /** Datagrams per recvmmsg/sendmmsg (default 64). */
  batch: number;
  /** Bytes per receive and reply slot; a larger datagram is dropped and counted as truncated (default 65536). */
  slotBytes: number;
  /** Replies held while the socket is full; past it they are dropped and counted (default 256). */
  queueSlots: number;
  /** SO_RCVBUF and SO_SNDBUF, best effort (default 4 MiB). */
  socketBufferBytes: number;
}

export const NATIVE_DEFAULTS: NativeOptions = {
  batch: 64,
  slotBytes: 65536,
  queueSlots: 256,
  socketBufferBytes: 4 * 1024 * 1024,
};

type Handle = object;

const V4_TEXT_CACHE = 4096;

interface AddonConstants {
  maxBatch: number;
  minSlot: number;
  maxSlot: number;
  maxQueue: number;
  metaFields: number;
  metaLength: number;
  metaPort: number;
  metaFamily: number;
  metaAddressLength: number;
  metaReply: number;
  metaV4: number;
  addressText: number;
}

interface Addon {
  bind(
    host: string,
    port: number,
    reusePort: boolean,
    bufferBytes: number,
    batch: number,
    slot: number,
    queueSlots: number,
    recv: Buffer,
    send: Buffer,
    meta: Int32Array,
    addr: Buffer,
    onBatch: (count: number) => void,
  ): Handle;
  close(handle: Handle): void;
  port(handle: Handle): number;
  stats(handle: Handle): UdpTransportStats;
  /** Fault injection for tests: while blocked, sends behave as on a full socket. */
  blockSends(handle: Handle, blocked: boolean): void;
  constants: AddonConstants;
}

const CONSTANT_NAMES: (keyof AddonConstants)[] = [
  "maxBatch",
  "minSlot",
  "maxSlot",
  "maxQueue",
  "metaFields",
  "metaLength",
  "metaPort",
  "metaFamily",
  "metaAddressLength",
  "metaReply",
  "metaV4",
  "addressText",
];

export type AddonLoad = { ok: true; addon: Addon; path: string } | { ok: false; reason: string; path: string };

let loaded: AddonLoad | undefined;

/** Loads the addon once per process; the reason says why it is unavailable. */
export function loadAddon(): AddonLoad {
  loaded ??= load(process.env[ADDON_PATH_ENV] || DEFAULT_ADDON_PATH);
  return loaded;
}

function load(path: string): AddonLoad {
  if (process.platform !== "linux") return { ok: false, reason: "the native transport is Linux only", path };
  if (!existsSync(path)) return { ok: false, reason: `not built (no ${path})`, path };
  let module: unknown;
  try {
    module = createRequire(import.meta.url)(path);
  } catch (err) {
    return { ok: false, reason: `cannot load ${path}: ${err instanceof Error ? err.message : String(err)}`, path };
  }
  const candidate = module as Partial<Addon> | undefined;
  const functions = ["bind", "close", "port", "stats", "blockSends"] as const;
  const constants = candidate?.constants as Partial<AddonConstants> | undefined;
  if (
    functions.some((name) => typeof candidate?.[name] !== "function") ||
    CONSTANT_NAMES.some((name) => !Number.isInteger(constants?.[name]))
  ) {
    return { ok: false, reason: `${path} is not the fedns UDP addon (functions or constants missing)`, path };
  }
  return { ok: true, addon: candidate as Addon, path };
}

/** Binds the native transport; throws when the addon is unavailable or the bind fails. */
export async function listenNative(
  options: UdpListenOptions,
  tuning: Partial<NativeOptions> = {},
): Promise<UdpTransport & { blockSends(blocked: boolean): void }> {
  const addon = loadAddon();
  if (!addon.ok) throw new Error(`native UDP transport unavailable: ${addon.reason}`);
  const { bind, constants: c } = addon.addon;
  const { batch, slotBytes, queueSlots, socketBufferBytes } = { ...NATIVE_DEFAULTS, ...tuning };
  if (!(batch >= 1 && batch <= c.maxBatch)) throw new RangeError(`batch must be 1..${c.maxBatch}`);
  if (!(slotBytes >= c.minSlot && slotBytes <= c.maxSlot))
    throw new RangeError(`slotBytes must be ${c.minSlot}..${c.maxSlot}`);
  if (!(queueSlots >= 1 && queueSlots <= c.maxQueue)) throw new RangeError(`queueSlots must be 1..${c.maxQueue}`);

  // Allocated once; untouched pages of the 64 KiB slots cost no memory.
  const recv = Buffer.allocUnsafeSlow(batch * slotBytes);
  const send = Buffer.allocUnsafeSlow(batch * slotBytes);
  const meta = new Int32Array(batch * c.metaFields);
  const addr = Buffer.alloc(batch * c.addressText);
  /** Datagram objects reused batch after batch (see Datagram: valid only during onBatch). */
  const datagrams: Datagram[] = Array.from({ length: batch }, () => ({
    data: recv.subarray(0, 0),
    address: "",
    port: 0,
    family: 4,
  }));
  const view: Datagram[] = [];
  /** slotOf[k]: the ring slot of view[k] (skipped slots leave gaps). */
  const slotOf = new Int32Array(batch);
  let tooLarge = 0;
  let inBatch = false;
  /** IPv4 source text by its 32 bits: a client sends many queries, the string is made once (bounded). */
  const v4Text = new Map<number, string>();

  const reply = (index: number, data: Buffer): void => {
    if (!inBatch || !Number.isInteger(index) || index < 0 || index >= view.length) {
      throw new RangeError(`no datagram ${index} in this batch`);
    }
    const slot = slotOf[index]!;
    if (data.length === 0 || data.length > slotBytes) {
      tooLarge++;
      return;
    }
    send.set(data, slot * slotBytes);
    meta[slot * c.metaFields + c.metaReply] = data.length;
  };

  const onBatch = (count: number): void => {
    view.length = 0;
    const n = Math.min(count, batch);
    for (let slot = 0; slot < n; slot++) {
      const base = slot * c.metaFields;
      const length = meta[base + c.metaLength]!;
      if (length < 0 || length > slotBytes) continue;
      const addressLength = Math.min(Math.max(meta[base + c.metaAddressLength]!, 0), c.addressText);
      const datagram = datagrams[slot]!;
      const offset = slot * slotBytes;
      datagram.data = recv.subarray(offset, offset + length);
      const textOffset = slot * c.addressText;
      const v4 = meta[base + c.metaV4]!;
      let address = v4 === 0 ? undefined : v4Text.get(v4);
      if (address === undefined) {
        address = addr.toString("latin1", textOffset, textOffset + addressLength);
        if (v4 !== 0) {
          if (v4Text.size >= V4_TEXT_CACHE) v4Text.clear();
          v4Text.set(v4, address);
        }
      }
      datagram.address = address;
      datagram.port = meta[base + c.metaPort]!;
      datagram.family = meta[base + c.metaFamily] === 6 ? 6 : 4;
      slotOf[view.length] = slot;
      view.push(datagram);
    }
    if (view.length === 0) return;
    inBatch = true;
    try {
      options.onBatch(view, reply);
    } finally {
      inBatch = false;
    }
  };

  const handle = bind(
    options.host,
    options.port,
    options.reusePort ?? false,
    socketBufferBytes,
    batch,
    slotBytes,
    queueSlots,
    recv,
    send,
    meta,
    addr,
    onBatch,
  );
  const port = addon.addon.port(handle);
  let closed = false;
  return {
    kind: "native",
    port,
    stats: () => {
      const stats = addon.addon.stats(handle);
      return { ...stats, sendErrors: stats.sendErrors + tooLarge };
    },
    blockSends: (blocked) => addon.addon.blockSends(handle, blocked),
    close: async () => {
      if (closed) return;
      closed = true;
      addon.addon.close(handle);
    },
  };
}
