import { expect } from "chai";
import { compactHeap } from "../../../src/obs/heap.ts";

describe("obs: compactHeap", () => {
  it("collects garbage now, without --expose-gc, and reports what it freed and how long it took", () => {
    // Interleaved kept and dropped objects: the kept half stays spread over pages that only a compacting
    // collection empties.
    const kept: { id: number; text: string }[] = [];
    let garbage: { id: number; text: string }[] | undefined = [];
    for (let id = 0; id < 800_000; id++) (id % 2 === 0 ? kept : garbage).push({ id, text: `record-${id}` });
    expect(garbage.length).to.equal(400_000);
    garbage = undefined;
    const result = compactHeap();
    expect(result.usedBefore - result.usedAfter).to.be.above(20 * 1024 * 1024);
    // The emptied pages are given back now, not left committed (a regular full GC keeps ~4× the live heap here).
    expect(result.totalAfter).to.be.below(result.usedAfter * 1.5 + 16 * 1024 * 1024);
    expect(kept.length).to.equal(400_000);
    expect(result.pauseMs).to.be.a("number").and.at.least(0);
  });
});
