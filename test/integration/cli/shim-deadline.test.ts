// bin/fedns.js enforces the shutdown deadline from outside the server's event loop: a server whose loop is
// blocked (its own deadline is a timer on that loop) is SIGKILLed once FEDNS_SHUTDOWN_DEADLINE_MS has passed
// after SIGTERM, and the shim exits with status 1 and says so. Without the shim's deadline the fixture keeps
// running for two minutes and this test fails on its bound.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { startProcess } from "../../support/processes.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SHIM = `${ROOT}bin/fedns.js`;
const BUSY = fileURLToPath(new URL("./fixtures/busy-server.mjs", import.meta.url));

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

describe("bin/fedns.js: the shutdown deadline holds however busy the server is", function () {
  this.timeout(60_000);

  it("SIGKILLs a server whose loop is blocked once the deadline after SIGTERM has passed", async () => {
    const shim = startProcess(process.execPath, [SHIM], {
      env: { ...process.env, FEDNS_SUPERVISE: "1", FEDNS_MAIN: BUSY, FEDNS_SHUTDOWN_DEADLINE_MS: "1000" },
    });
    const started = Date.now() + 30_000;
    let server: number | undefined;
    while (server === undefined) {
      server = Number(/busy (\d+)/.exec(shim.output())?.[1] ?? Number.NaN);
      if (Number.isNaN(server)) server = undefined;
      if (shim.child.exitCode !== null) throw new Error(`shim exited early:\n${shim.output()}`);
      if (Date.now() > started) throw new Error(`the busy server did not start:\n${shim.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(server).to.not.equal(shim.child.pid);
    const exited = once(shim.child, "exit");
    shim.child.kill("SIGTERM");
    // A bound, not a speed: without the deadline the fixture blocks for 120 s.
    const outcome = await Promise.race([
      exited.then(([code, signal]) => ({ code, signal })),
      new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 20_000)),
    ]);
    if (outcome === "timeout") {
      shim.child.kill("SIGKILL");
      process.kill(server, "SIGKILL");
    }
    expect(outcome, shim.output()).to.deep.equal({ code: 1, signal: null });
    expect(shim.output()).to.match(/did not exit within 1000 ms of SIGTERM: killing it/);
    expect(alive(server)).to.equal(false);
  });
});
