// startTcpProxy(target): a loopback TCP proxy in front of a server (etcd), so that a test can hold a client's
// connection without answering (`hold`/`release`) or cut it (`cut`: drop every connection and refuse new
// ones until `release`), while the test itself still talks to the server directly.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface TcpProxy {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** New and open connections stop forwarding (data waits) until release(). */
  hold(): void;
  /** Drops every connection; new ones are closed at once until release(). */
  cut(): void;
  /** Back to forwarding. */
  release(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: "forward" | "hold" | "cut" = "forward";
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const waiting: (() => void)[] = [];

  const pipe = (client: Socket): void => {
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
    if (mode === "hold") {
      client.pause();
      upstream.pause();
    }
  };

  const server: Server = createServer((client) => {
    if (mode === "cut") {
      client.destroy();
      return;
    }
    if (mode === "hold") {
      client.pause();
      waiting.push(() => pipe(client));
      return;
    }
    pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no port");

  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    hold: () => {
      mode = "hold";
      for (const { client, upstream } of pairs) {
        client.pause();
        upstream.pause();
      }
    },
    cut: () => {
      mode = "cut";
      for (const { client, upstream } of [...pairs]) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    release: () => {
      mode = "forward";
      for (const { client, upstream } of pairs) {
        client.resume();
        upstream.resume();
      }
      for (const start of waiting.splice(0)) start();
    },
    close: async () => {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
