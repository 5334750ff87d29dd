import { expect } from "chai";
import { nextWatchRevision } from "../../../src/store/etcd-kv.ts";

const at = (...revisions: number[]) => revisions.map((modRevision) => ({ modRevision }));

describe("store: etcd watch resume point", () => {
  it("resumes after the last event of a live batch", () => {
    expect(nextWatchRevision(10, at(10, 11, 11, 12), 12)).to.equal(13);
  });

  it("resumes after the last delivered event when a catch-up batch is stamped with a later store revision", () => {
    // etcd sends history in batches of up to 1000 revisions, each with the store's current revision in the
    // header: resuming from that revision would skip the batches not yet delivered.
    expect(nextWatchRevision(1, at(1, 2, 500, 1000), 5000)).to.equal(1001);
    expect(nextWatchRevision(1001, at(1001, 2000), 5000)).to.equal(2001);
  });

  it("moves to the header revision on a progress notification (no events)", () => {
    expect(nextWatchRevision(13, [], 40)).to.equal(41);
  });

  it("never moves backwards", () => {
    expect(nextWatchRevision(50, [], 40)).to.equal(50);
    expect(nextWatchRevision(50, at(45), 60)).to.equal(50);
  });
});
