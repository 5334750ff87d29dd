// Mocha root hooks shared by every test file: processes started by harnesses are
// registered here so a failing or interrupted run leaves nothing behind.
import { stopAllProcesses } from "./processes.ts";

// The AddressSanitizer pass (.ci/run) preloads libasan into this Node process for the native UDP
// addon. The programs the tests start (dig, kdig, unbound) must not inherit it (kdig fails under it);
// `fedns serve` children get it back (support/fedns.ts).
if (process.env.LD_PRELOAD?.includes("libasan")) {
  process.env.FEDNS_ASAN_PRELOAD = process.env.LD_PRELOAD;
  delete process.env.LD_PRELOAD;
}

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopAllProcesses();
  },
};
