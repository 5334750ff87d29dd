// Mocha root hooks shared by every test file: processes started by harnesses are
// registered here so a failing or interrupted run leaves nothing behind.
import { stopAllProcesses } from "./processes.ts";

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopAllProcesses();
  },
};
