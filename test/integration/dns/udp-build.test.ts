// Installing never fails because of the native UDP transport: its build (the package's `install`
// script) prints one line and exits 0 when there is no compiler, and builds a loadable addon from
// the local Node headers when there is one. Builds go to a temporary directory (--out), never build/.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";

const BUILD = fileURLToPath(new URL("../../../src/dns/udp/native/build.mjs", import.meta.url));

function build(out: string, env: NodeJS.ProcessEnv, extra: string[] = []): { status: number | null; lines: string[] } {
  const run = spawnSync(process.execPath, [BUILD, "--out", out, ...extra], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 300_000,
  });
  return { status: run.status, lines: `${run.stdout}${run.stderr}`.split("\n").filter((line) => line !== "") };
}

function haveCompiler(): boolean {
  try {
    execFileSync("sh", ["-c", "command -v cc && command -v make && command -v python3"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("building the native UDP transport (src/dns/udp/native/build.mjs)", function () {
  this.timeout(300_000);
  let out: string;
  beforeEach(() => {
    out = mkdtempSync(join(tmpdir(), "fedns-udp-build-test-"));
  });
  afterEach(() => rmSync(out, { recursive: true, force: true }));

  it("without a compiler: one line, exit 0 (the install goes on), no addon; --strict fails", () => {
    const noCompiler = { CC: "/nonexistent/cc" };
    const result = build(out, noCompiler);
    expect(result.status).to.equal(0);
    expect(result.lines, result.lines.join("\n")).to.have.length(1);
    expect(result.lines[0]).to.match(/^fedns: native UDP transport not built \(.*\); fedns will use node:dgram$/);
    expect(existsSync(join(out, "fedns_udp.node"))).to.equal(false);
    expect(build(out, noCompiler, ["--strict"]).status).to.equal(1);
  });

  it("with a compiler: builds an addon that loads, from the local headers", function () {
    if (!haveCompiler()) {
      if (process.env.FEDNS_REQUIRE_NATIVE_UDP === "1")
        throw new Error("no cc, make or python3 to build the addon with");
      this.skip();
    }
    const result = build(out, {});
    expect(result.status, result.lines.join("\n")).to.equal(0);
    expect(result.lines).to.have.length(1);
    const addon = createRequire(import.meta.url)(join(out, "fedns_udp.node")) as Record<string, unknown>;
    for (const name of ["bind", "close", "port", "stats", "blockSends"]) expect(addon[name]).to.be.a("function");
  });
});
