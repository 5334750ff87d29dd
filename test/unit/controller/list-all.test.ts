// listAll(): the list half of the one cluster reader (reflector.ts), shared by the controller and fedns check.
import { expect } from "chai";
import { KubeError } from "../../../src/controller/kube-errors.ts";
import { reduceNode } from "../../../src/controller/kube-objects.ts";
import { type ListPage, listAll, type ResourceClient } from "../../../src/controller/reflector.ts";
import { FakeTimers, flush } from "../../support/fake-timers.ts";

const node = (name: string) => ({ metadata: { name, labels: { "topology.kubernetes.io/zone": "z" } } });

/** Serves the given pages in turn; a page of `null` never answers (only the abort ends it). */
function client(pages: (ListPage | null)[], tokens: (string | undefined)[]): ResourceClient {
  return {
    list: ({ continueToken, signal }) => {
      tokens.push(continueToken);
      const page = pages.shift();
      if (page === undefined) return Promise.reject(new Error("no page prepared"));
      if (page !== null) return Promise.resolve(page);
      return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    },
    watch: () => Promise.reject(new Error("not used")),
  };
}

describe("listAll", () => {
  it("follows continue tokens to the end, reducing each page, and reports what cannot be read", async () => {
    const tokens: (string | undefined)[] = [];
    const invalid: unknown[] = [];
    let pages = 0;
    const listed = await listAll(
      client(
        [
          { items: [node("a"), { bad: true }], resourceVersion: "5", continueToken: "t1" },
          { items: [node("b")], resourceVersion: "5", continueToken: "" },
        ],
        tokens,
      ),
      {
        resource: "nodes",
        reduce: reduceNode,
        timeoutMs: 1000,
        timers: new FakeTimers(),
        onPage: () => (pages += 1),
        onInvalid: (raw) => invalid.push(raw),
      },
    );
    expect([...listed.items.keys()]).to.deep.equal(["a", "b"]);
    expect(listed.resourceVersion).to.equal("5");
    expect(tokens).to.deep.equal([undefined, "t1"]);
    expect(pages).to.equal(2);
    expect(invalid).to.deep.equal([{ bad: true }]);
  });

  it("fails a page that never answers with a timeout on the injected clock", async () => {
    const timers = new FakeTimers();
    const listing = listAll(client([{ items: [node("a")], resourceVersion: "1", continueToken: "t" }, null], []), {
      resource: "nodes",
      reduce: reduceNode,
      timeoutMs: 30_000,
      timers,
      onInvalid: () => {},
    });
    let failure: unknown;
    listing.catch((err: unknown) => {
      failure = err;
    });
    await flush(); // the first page is in; the second is asked for
    await timers.advance(29_999);
    expect(failure).to.equal(undefined);
    await timers.advance(1);
    await flush();
    expect(failure).to.be.instanceOf(KubeError);
    expect((failure as KubeError).kind).to.equal("timeout");
  });

  it("stops when its signal is aborted (a reflector's stop)", async () => {
    const abort = new AbortController();
    const listing = listAll(client([null], []), {
      resource: "nodes",
      reduce: reduceNode,
      timeoutMs: 30_000,
      timers: new FakeTimers(),
      signal: abort.signal,
      onInvalid: () => {},
    });
    abort.abort(new Error("stopped"));
    let failure: unknown;
    await listing.catch((err: unknown) => {
      failure = err;
    });
    expect((failure as Error).message).to.equal("stopped");
  });
});
