// A TCP trickle attacker in its own process (so the DNS server under test does not share an event loop
// with it): keeps `count` connections from `source` to `host:port` open, each announcing a 300-byte
// message and then sending one byte every 100 ms; reconnects when closed (refused ones a little later).
// argv: host port source count. On SIGTERM prints one JSON line: the lifetimes (ms) of the connections
// the server accepted (they were still open when their first byte was due) and closed, then exits.
import { connect, type Socket } from "node:net";

const [host = "127.0.0.1", portText = "0", source = "127.0.0.2", countText = "1"] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const lifetimes: number[] = [];
const sockets = new Set<Socket>();
let stopped = false;

function open(): void {
  if (stopped) return;
  const socket = connect({ host, port, localAddress: source });
  sockets.add(socket);
  let connectedAt = 0;
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  socket.on("connect", () => {
    connectedAt = Date.now();
    timer = setInterval(() => {
      if (!socket.destroyed) socket.write(Buffer.from([sent++ === 0 ? 1 : 0x2c]));
    }, 100);
  });
  socket.on("error", () => undefined);
  socket.on("close", () => {
    clearInterval(timer);
    sockets.delete(socket);
    // Connections refused at a cap are closed by the server at once, before their first byte is due.
    const accepted = connectedAt > 0 && sent >= 1;
    if (accepted && !stopped) lifetimes.push(Date.now() - connectedAt);
    setTimeout(open, accepted ? 20 : 250);
  });
}

process.on("SIGTERM", () => {
  stopped = true;
  for (const socket of sockets) socket.destroy();
  process.stdout.write(`${JSON.stringify({ lifetimes })}\n`, () => process.exit(0));
});
for (let i = 0; i < count; i++) open();
process.stdout.write("started\n");
