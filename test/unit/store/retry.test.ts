// The one retry rule of the store followers: exponential, capped, jittered over the upper half.
import { expect } from "chai";
import { retryDelayMs } from "../../../src/store/retry.ts";

describe("store: retry delay", () => {
  it("doubles from initialMs, stops at maxMs, and is jittered within [delay/2, delay]", () => {
    const low = () => 0;
    const high = () => 0.999999;
    expect([0, 1, 2, 3].map((attempt) => retryDelayMs(attempt, { initialMs: 100, maxMs: 5000 }, high))).to.deep.equal(
      [0, 1, 2, 3].map((attempt) => 100 * 2 ** attempt * (0.5 + 0.5 * 0.999999)),
    );
    expect(retryDelayMs(0, {}, low)).to.equal(50);
    expect(retryDelayMs(10, {}, low)).to.equal(2500);
    expect(retryDelayMs(10_000, { initialMs: 100, maxMs: 5000 }, high)).to.be.at.most(5000);
    expect(retryDelayMs(10_000, { initialMs: 100, maxMs: 5000 }, low)).to.equal(2500);
  });
});
