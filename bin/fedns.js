#!/usr/bin/env node
// Entry point for `npx fedns`. fedns needs Node >= 24; the project ships it as the
// `node` npm dependency, so when an older system node runs this shim we re-exec
// ourselves with the bundled one instead of failing on a syntax or API error.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  const require = createRequire(import.meta.url);
  let bundled;
  try {
    bundled = require.resolve("node/bin/node");
  } catch {
    bundled = undefined;
  }
  if (!bundled || !existsSync(bundled)) {
    console.error(`fedns needs Node.js >= 24 (running ${process.version}); run 'npm ci' to install the bundled one`);
    process.exit(1);
  }
  const result = spawnSync(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
  process.exit(result.status ?? 1);
}

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error("fedns is not built: run 'npm run build' (npm ci does it through 'prepare')");
  process.exit(1);
}
await import(main.href);
