// Opens the UDP transport `dns.udpTransport` asks for and connects it to the query handler.
import { logger } from "../../obs/log.ts";
import type { QueryHandler } from "../handler.ts";
import { listenDgram } from "./dgram.ts";
import { listenNative, loadAddon } from "./native.ts";
import type { OnBatch, UdpListenOptions, UdpTransport, UdpTransportChoice } from "./transport.ts";

/** Answers every datagram of a batch with the handler, synchronously (replies are sent as one batch). */
export function answerWith(handler: QueryHandler): OnBatch {
  return (batch, reply) => {
    for (let i = 0; i < batch.length; i++) {
      const datagram = batch[i]!;
      const answer = handler.handle(datagram.data, "udp", datagram);
      if (answer !== undefined) reply(i, answer);
    }
  };
}

let fallbackLogged = false;

/**
 * native: the batched addon, or an error when it cannot load; dgram: node:dgram; auto: native when
 * the addon loads, else node:dgram (said once per process, with the reason).
 */
export async function listenUdp(choice: UdpTransportChoice, options: UdpListenOptions): Promise<UdpTransport> {
  if (choice === "dgram") return listenDgram(options);
  const addon = loadAddon();
  if (addon.ok) return listenNative(options);
  if (choice === "native") throw new Error(`dns.udpTransport is native, but the addon is unavailable: ${addon.reason}`);
  if (!fallbackLogged) {
    fallbackLogged = true;
    logger("dns-udp").warn(
      { reason: addon.reason },
      "native UDP transport unavailable; using node:dgram (build it with `npm rebuild` or `node src/dns/udp/native/build.mjs`)",
    );
  }
  return listenDgram(options);
}
