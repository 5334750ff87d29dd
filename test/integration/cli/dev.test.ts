// `fedns dev` as a first-time user runs it: start, follow the printed instructions, Ctrl-C.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { expect } from "chai";
import { dig } from "../../support/dns.ts";
import { eventually, FEDNS_MAIN } from "../../support/fedns.ts";
import { freePort } from "../../support/ports.ts";
import { startProcess } from "../../support/processes.ts";

const run = promisify(execFile);
const ZONE_NAME = "web.default.myfed.svc.us-east-1a.us-east-1.example.com";

describe("fedns dev", function () {
  this.timeout(60_000);

  it("runs the stack, its printed kubectl command changes the answer, and Ctrl-C leaves nothing behind", async () => {
    const port = await freePort();
    const metrics = await freePort();
    const dev = startProcess(process.execPath, [
      FEDNS_MAIN,
      "dev",
      "--listen",
      `127.0.0.1:${port}`,
      "--metrics",
      `127.0.0.1:${metrics}`,
    ]);
    const printed = await eventually(
      "instructions",
      async () => {
        if (!dev.output().includes("Ctrl-C stops everything")) throw new Error(dev.output().slice(-2000));
        return dev.output();
      },
      30_000,
    );
    const server = { host: "127.0.0.1", port };
    const before = await dig(server, ZONE_NAME, "A");
    expect(before.answer.map((rr) => `${rr.type} ${rr.data}`)).to.deep.equal(["A 198.51.100.10"]);

    // Short names: the printed digs from two pods of different clusters get different answers.
    const shortDig = (name: string, from: string) => {
      const line = new RegExp(
        `^ {2}dig .* -b (${from.replaceAll(".", "\\.")}) \\+short (${name.replaceAll(".", "\\.")}) `,
        "m",
      );
      const found = line.exec(printed);
      expect(found, `${name} from ${from} in:\n${printed}`).to.not.equal(null);
      return dig(server, found![2]!, "A", { extra: ["-b", found![1]!] });
    };
    const shortCart = "cart.shop.myfed.svc.cluster.local";
    const shortWeb = "web.default.myfed.svc.cluster.local";
    const eastA = await shortDig(shortCart, "127.0.1.1");
    const eastB = await shortDig(shortCart, "127.0.2.1");
    expect(eastA.answer[0]).to.include({
      type: "CNAME",
      data: "cart.shop.myfed.svc.us-east-1a.us-east-1.example.com.",
    });
    expect(eastB.answer.map((rr) => rr.type)).to.deep.equal(["A"]);
    expect((await shortDig(shortWeb, "127.0.1.1")).answer.map((rr) => rr.type)).to.deep.equal(["A"]);

    // The kubectl command exactly as printed (two lines joined at the backslash).
    const kubectl = /^ {2}(kubectl .* patch endpointslice .*) \\\n\s+(-p '.*')$/m.exec(printed);
    expect(kubectl, printed).to.not.equal(null);
    await run("bash", ["-c", `${kubectl![1]} ${kubectl![2]}`]);
    await eventually("zone falls back to the region", async () => {
      const after = await dig(server, ZONE_NAME, "A");
      expect(after.answer[0]?.type).to.equal("CNAME");
    });
    await eventually("the east-a pod's short name moves to its zone", async () => {
      const after = await dig(server, "web.default.myfed.svc.cluster.local", "A", { extra: ["-b", "127.0.1.1"] });
      expect(after.answer[0]).to.include({ type: "CNAME", data: `${ZONE_NAME}.` });
    });

    const etcdEndpoint = /etcd at (http:\/\/127\.0\.0\.1:\d+)/.exec(printed)?.[1];
    const simDir = /--dir (\S+) --cluster/.exec(printed)?.[1];
    expect(simDir).to.be.a("string");
    // This test runs where an etcd binary exists (CI installs etcd-server): dev must use it, not memory.
    expect(etcdEndpoint, "printed instructions name an etcd endpoint").to.be.a("string");
    const records = await run(process.execPath, [FEDNS_MAIN, "records", ZONE_NAME, "--etcd", etcdEndpoint!]);
    expect(records.stdout).to.match(
      /CNAME\s+web\.default\.myfed\.svc\.us-east-1\.example\.com\s+ttl=30\s+cluster=-\s+owner=fedns\/myfed/,
    );
    // The fallback deleted the zone's addresses: the controller's delete left its serial marker.
    expect(records.stdout).to.match(
      /^serial markers .*\n {2}example\.com\. {2}revision \d+ {2}\/fedns-serial\/example\.com$/m,
    );

    dev.child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => dev.child.once("exit", (exit) => resolve(exit)));
    expect(code).to.equal(0);
    expect(existsSync(simDir!), "simulation dir removed").to.equal(false);
    const etcdPort = new URL(etcdEndpoint!).port;
    const left = await run("pgrep", ["-f", `127.0.0.1:${etcdPort}`]).catch(() => ({ stdout: "" }));
    expect(left.stdout.trim(), "etcd stopped").to.equal("");
  });
});
