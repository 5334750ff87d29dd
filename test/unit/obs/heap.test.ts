import { expect } from "chai";
import { compactHeap } from "../../../src/obs/heap.ts";

describe("obs: compactHeap", () => {
  it("collects garbage now, without --expose-gc, and reports what it freed and how long it took", () => {
    let garbage: { id: number; text: string }[] | undefined = Array.from({ length: 400_000 }, (_, id) => ({
      id,
      text: `record-${id}`,
    }));
    expect(garbage.length).to.equal(400_000);
    garbage = undefined;
    const result = compactHeap();
    // 400k objects with their strings are well over 20 MiB; a young GC alone would not have run yet.
    expect(result.usedBefore - result.usedAfter).to.be.above(20 * 1024 * 1024);
    expect(result.totalAfter).to.be.at.most(result.totalBefore);
    expect(result.pauseMs).to.be.a("number").and.at.least(0);
  });
});
