// Builds the native UDP transport with node-gyp against the headers of fedns's Node (the `node`
// package ships them), never downloading anything. Run by `npm ci`/`npm install` (the package's
// `install` script): a failed build prints one line and exits 0, and fedns then serves UDP with
// node:dgram. Plain JavaScript for any Node that npm runs scripts with.
//
//   node src/dns/udp/native/build.mjs           install: never fails
//   node src/dns/udp/native/build.mjs --strict  exit 1 when the build fails
//   node src/dns/udp/native/build.mjs --asan    AddressSanitizer build into build-asan/ (implies --strict)
//   ... --out DIR                                 build in a temporary copy, put fedns_udp.node into DIR
//                                                 (leaves build/ alone; the tests use it)
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..", "..");
const asan = process.argv.includes("--asan");
const strict = asan || process.argv.includes("--strict");
const outIndex = process.argv.indexOf("--out");
const out = outIndex > 0 ? process.argv[outIndex + 1] : asan ? join(here, "build-asan") : undefined;
const BUILD_TIMEOUT_MS = 5 * 60 * 1000;

/** node-gyp: npm's own (npm tells scripts where), a local install, or one on PATH. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  candidates.push(join(root, "node_modules", "node-gyp", "bin", "node-gyp.js"));
  if (process.env.npm_execpath)
    candidates.push(join(dirname(process.env.npm_execpath), "..", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir !== "")
      candidates.push(join(dir, "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  }
  return candidates.find((path) => path.endsWith(".js") && existsSync(path));
}

/** Headers of the Node that runs fedns: the `node` package's platform binary first, then the running one. */
function findNodeDir() {
  const platform = `node-${process.platform}-${process.arch}`;
  const candidates = [
    join(root, "node_modules", "node", "node_modules", platform),
    join(root, "node_modules", platform),
    dirname(dirname(realpathSync(process.execPath))),
  ];
  if (process.env.FEDNS_NODEDIR) candidates.unshift(process.env.FEDNS_NODEDIR);
  return candidates.find(
    (dir) =>
      existsSync(join(dir, "include", "node", "node_api.h")) && existsSync(join(dir, "include", "node", "common.gypi")),
  );
}

function nodeVersion(nodeDir) {
  const header = readFileSync(join(nodeDir, "include", "node", "node_version.h"), "utf8");
  const part = (name) => header.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`))?.[1] ?? "?";
  return `${part("MAJOR")}.${part("MINOR")}.${part("PATCH")}`;
}

function finish(ok, message) {
  console.log(`fedns: ${message}`);
  process.exit(ok || !strict ? 0 : 1);
}

function build() {
  if (process.platform !== "linux")
    return finish(false, "native UDP transport not built (recvmmsg/sendmmsg: Linux only); fedns will use node:dgram");
  const gyp = findNodeGyp();
  if (gyp === undefined)
    return finish(false, "native UDP transport not built (no node-gyp found); fedns will use node:dgram");
  const nodeDir = findNodeDir();
  if (nodeDir === undefined)
    return finish(false, "native UDP transport not built (no local Node headers); fedns will use node:dgram");
  // A build into another place (ASan, --out) goes through a copy: it never replaces build/.
  const dir = out === undefined ? here : mkdtempSync(join(tmpdir(), "fedns-udp-build-"));
  if (out !== undefined) for (const file of ["binding.gyp", "fedns_udp.c"]) cpSync(join(here, file), join(dir, file));
  const args = [gyp, "rebuild", `--directory=${dir}`, `--nodedir=${nodeDir}`, "--loglevel=warn"];
  if (asan) args.push("--asan=1");
  const run = spawnSync(process.execPath, args, { encoding: "utf8", timeout: BUILD_TIMEOUT_MS });
  const log = `${run.stdout ?? ""}${run.stderr ?? ""}${run.error ? String(run.error) : ""}`;
  const built = join(dir, "build", "Release", "fedns_udp.node");
  const logFile = out === undefined ? join(here, "build.log") : join(out, "build.log");
  mkdirSync(dirname(logFile), { recursive: true });
  writeFileSync(logFile, log);
  const ok = run.status === 0 && existsSync(built);
  if (ok && out !== undefined) cpSync(built, join(out, "fedns_udp.node"));
  if (out !== undefined) rmSync(dir, { recursive: true, force: true });
  if (!ok) {
    const reason =
      log
        .split("\n")
        .find((line) => /error|not found|No such file|ERR!/i.test(line))
        ?.trim() ?? `node-gyp exit ${run.status}`;
    return finish(
      false,
      `native UDP transport not built (${reason.slice(0, 160)}; log: ${logFile}); fedns will use node:dgram`,
    );
  }
  if (out !== undefined) {
    const what = asan ? " with AddressSanitizer" : "";
    return finish(true, `built the native UDP transport${what}: ${join(out, "fedns_udp.node")}`);
  }
  return finish(true, `built the native UDP transport (Node ${nodeVersion(nodeDir)} headers from ${nodeDir})`);
}

try {
  build();
} catch (err) {
  finish(
    false,
    `native UDP transport not built (${err instanceof Error ? err.message : String(err)}); fedns will use node:dgram`,
  );
}
