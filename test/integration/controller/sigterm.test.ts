import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { startProcess } from "../../support/processes.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/slow-writer-controller.ts", import.meta.url));

describe("controller: SIGTERM honoured mid-reconcile", function () {
  this.timeout(60_000);

  it("exits within the shutdown bound while a write hangs in flight", async () => {
    const controller = startProcess(process.execPath, [FIXTURE]);
    const deadline = Date.now() + 45_000;
    while (!controller.output().includes("writing")) {
      if (controller.child.exitCode !== null) throw new Error(`fixture exited early:\n${controller.output()}`);
      if (Date.now() > deadline) throw new Error(`no write started:\n${controller.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const exited = once(controller.child, "exit");
    const t0 = performance.now();
    controller.child.kill("SIGTERM");
    // The controller's own bound is 1.5 s; 6 s leaves room for a busy CI machine, a hanging stop never exits.
    const outcome = await Promise.race([
      exited.then(([code, signal]) => ({ code, signal })),
      new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 6000)),
    ]);
    const ms = performance.now() - t0;
    if (outcome === "timeout") controller.child.kill("SIGKILL");
    expect(outcome, `still running ${ms.toFixed(0)} ms after SIGTERM:\n${controller.output()}`).to.not.equal("timeout");
    expect(outcome).to.deep.equal({ code: 0, signal: null });
  });
});
