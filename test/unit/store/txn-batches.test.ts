import { expect } from "chai";
import { nameOfKey } from "../../../src/federation/keys.ts";
import type { TxnOp } from "../../../src/store/kv.ts";
import { opBytes, txnBatches } from "../../../src/store/txn-batches.ts";

const NAME = "/skydns/com/example/svc/f/default/big";

function puts(name: string, count: number, valueBytes = 40): TxnOp[] {
  return Array.from({ length: count }, (_, i) => ({
    type: "put",
    key: `${name}/c-${String(i).padStart(4, "0")}`,
    value: "x".repeat(valueBytes),
  }));
}

function deletes(name: string, count: number): TxnOp[] {
  return Array.from({ length: count }, (_, i) => ({ type: "delete", key: `${name}/old-${i}` }));
}

describe("store: txnBatches", () => {
  it("keeps everything in one transaction when it fits", () => {
    const ops = [...puts(`${NAME}`, 3), ...deletes(`${NAME}`, 2)];
    const { batches, oversized } = txnBatches(ops, { maxOps: 127, maxBytes: 1 << 20 });
    expect(batches).to.have.length(1);
    expect(batches[0]).to.have.length(5);
    expect(oversized).to.deep.equal([]);
  });

  it("splits past the op limit by whole names: no name's changes span two transactions", () => {
    const names = Array.from({ length: 12 }, (_, i) => `${NAME}/level-${i}`);
    const ops = names.flatMap((name) => [...puts(name, 15), ...deletes(name, 5)]);
    const { batches, oversized } = txnBatches(ops, { maxOps: 127, maxBytes: 1 << 20 });
    expect(oversized).to.deep.equal([]);
    expect(batches.length).to.be.greaterThan(1);
    const seenIn = new Map<string, number>();
    batches.forEach((batch, index) => {
      expect(batch.length).to.be.at.most(127);
      for (const op of batch) {
        const name = nameOfKey(op.key);
        expect(seenIn.get(name) ?? index).to.equal(index);
        seenIn.set(name, index);
      }
    });
    expect(batches.flat()).to.have.length(ops.length);
  });

  it("splits past the byte limit (etcd's request size) by whole names", () => {
    const ops = [...puts(`${NAME}/a`, 10, 10_000), ...puts(`${NAME}/b`, 10, 10_000)];
    const one = ops.slice(0, 10).reduce((sum, op) => sum + opBytes(op), 0);
    const { batches } = txnBatches(ops, { maxOps: 127, maxBytes: one + 100 });
    expect(batches.map((batch) => new Set(batch.map((op) => nameOfKey(op.key))).size)).to.deep.equal([1, 1]);
    for (const batch of batches) expect(batch.reduce((sum, op) => sum + opBytes(op), 0)).to.be.at.most(one + 100);
  });

  it("splits a name that alone exceeds a transaction, puts before deletes, and says so", () => {
    const ops = [...deletes(NAME, 100), ...puts(NAME, 100)];
    const { batches, oversized } = txnBatches(ops, { maxOps: 127, maxBytes: 1 << 20 });
    expect(oversized).to.deep.equal([NAME]);
    expect(batches.map((batch) => batch.length)).to.deep.equal([127, 73]);
    expect(batches[0]!.slice(0, 100).every((op) => op.type === "put")).to.equal(true);
  });
});
