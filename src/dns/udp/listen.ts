// Opens the UDP transport `dns.udpTransport` asks for and connects it to the query handler.
import type { QueryHandler } from "../handler.ts";
import { listenDgram } from "./dgram.ts";
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

export async function listenUdp(choice: UdpTransportChoice, options: UdpListenOptions): Promise<UdpTransport> {
  void choice;
  return listenDgram(options);
}
