// The ceiling of a Node UDP server on this machine: answers every query with one canned A record and
// does nothing else (no parsing, no lookup, no metrics). `fedns / ceiling` shows how much of fedns's
// time goes to its own code; `ceiling / Knot` what node:dgram alone costs.
//   node bench/qps/node-ceiling.ts PORT [default|tuned]
// default: socket.send(buf, port, address, callback), as a plain server does.
// tuned:   no send callback, and a synchronous `lookup` so dgram does not defer every send to the next tick.
import { createSocket, type SocketOptions } from "node:dgram";

const ANSWER_TAIL = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1]);

/** The query's header and question with QR+AA set and one answer pointing at the question name. */
export function cannedReply(query: Buffer): Buffer | undefined {
  if (query.length < 17) return undefined;
  let offset = 12;
  while (offset < query.length) {
    const length = query[offset] as number;
    if (length === 0) break;
    offset += length + 1;
  }
  const questionEnd = offset + 5;
  if (questionEnd > query.length) return undefined;
  const reply = Buffer.allocUnsafe(questionEnd + ANSWER_TAIL.length);
  query.copy(reply, 0, 0, questionEnd);
  ANSWER_TAIL.copy(reply, questionEnd);
  reply[2] = 0x84 | ((query[2] as number) & 0x01);
  reply[3] = 0;
  reply.writeUInt16BE(1, 4);
  reply.writeUInt16BE(1, 6);
  reply.writeUInt32BE(0, 8);
  return reply;
}

function main(): void {
  const port = Number(process.argv[2]);
  const mode = process.argv[3] ?? "default";
  if (!Number.isInteger(port) || (mode !== "default" && mode !== "tuned")) {
    process.stderr.write("usage: node bench/qps/node-ceiling.ts PORT [default|tuned]\n");
    process.exit(2);
  }
  const options: SocketOptions = { type: "udp4" };
  if (mode === "tuned") {
    options.lookup = (address, _options, callback) => callback(null, address, 4);
  }
  const socket = createSocket(options);
  const ignore = (): void => {};
  socket.on("message", (packet, remote) => {
    const reply = cannedReply(packet);
    if (reply === undefined) return;
    if (mode === "tuned") socket.send(reply, remote.port, remote.address);
    else socket.send(reply, remote.port, remote.address, ignore);
  });
  socket.on("error", (err) => process.stderr.write(`udp error: ${err.message}\n`));
  socket.bind(port, "127.0.0.1", () => {
    socket.setRecvBufferSize(4 * 1024 * 1024);
    socket.setSendBufferSize(4 * 1024 * 1024);
  });
  const stop = (): void => {
    socket.close(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
