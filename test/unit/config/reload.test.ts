import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { parseConfig } from "../../../src/config/load.ts";
import { reloadOnChange, restartOnlyChanges } from "../../../src/config/reload.ts";
import { FakeTimers } from "../../support/fake-timers.ts";

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("controller config reload", () => {
  it("names the changed settings that need a restart, not the member clusters", () => {
    const before = parseConfig({ federation: "myfed", domain: "example.com", clusters: [{ name: "a" }] });
    const clustersOnly = parseConfig({ federation: "myfed", domain: "example.com", clusters: [{ name: "b" }] });
    expect(restartOnlyChanges(before, clustersOnly)).to.deep.equal([]);
    const more = parseConfig({
      federation: "myfed",
      domain: "example.com",
      clusters: [{ name: "a" }],
      controller: { ttl: { default: 60 } },
      etcd: { prefix: "/other" },
    });
    expect(restartOnlyChanges(before, more)).to.deep.equal(["controller", "etcd"]);
  });

  it("reloads once per burst of file changes, and on SIGHUP, after the debounce on the injected clock", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fedns-reload-"));
    const path = join(dir, "fedns.yaml");
    await writeFile(path, "federation: a\n");
    const timers = new FakeTimers();
    let reloads = 0;
    const stop = reloadOnChange(
      path,
      async () => {
        reloads += 1;
      },
      timers,
    );
    try {
      await writeFile(path, "federation: b\n");
      await writeFile(path, "federation: c\n");
      await until(() => timers.pending() > 0, "the change to be seen");
      // Let the rest of the burst's events arrive (they restart the debounce on the fake clock, which stands still).
      await new Promise((resolve) => setTimeout(resolve, 100));
      await timers.advance(199);
      expect(reloads).to.equal(0);
      await timers.advance(1);
      expect(reloads).to.equal(1);
      process.emit("SIGHUP", "SIGHUP");
      await timers.advance(200);
      expect(reloads).to.equal(2);
    } finally {
      stop();
      await rm(dir, { recursive: true, force: true });
    }
    process.emit("SIGHUP", "SIGHUP");
    await timers.advance(200);
    expect(reloads).to.equal(2);
  });
});
