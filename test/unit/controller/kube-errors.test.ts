import { ApiException } from "@kubernetes/client-node";
import { expect } from "chai";
import { KubeError, kubeErrorOf, serverAnswered } from "../../../src/controller/kube-errors.ts";

const networkError = (code: string) =>
  Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error(`connect ${code}`), { code }) });

describe("kubeErrorOf", () => {
  it("reads a timeout as a timeout, not its DOMException code 23 as an HTTP status", () => {
    const timeout = new DOMException("The operation was aborted due to timeout", "TimeoutError");
    expect(timeout.code).to.equal(23);
    const error = kubeErrorOf(timeout, "list nodes");
    expect(error.kind).to.equal("timeout");
    expect(error.status).to.equal(undefined);
    expect(serverAnswered(error)).to.equal(false);
  });

  it("takes an HTTP status only from a real response: ApiException, or client-node's watch error", () => {
    const api = kubeErrorOf(new ApiException(403, "Forbidden", { message: "services is forbidden" }, {}), "list");
    expect([api.kind, api.status, api.detail]).to.deep.equal(["http", 403, "services is forbidden"]);
    expect(serverAnswered(api)).to.equal(true);
    const watch = kubeErrorOf(Object.assign(new Error("Forbidden"), { statusCode: 403 }), "watch", "watch");
    expect([watch.kind, watch.status]).to.deep.equal(["http", 403]);
    // Arbitrary numeric codes on other errors are not statuses.
    for (const stray of [
      Object.assign(new Error("x"), { code: 403 }),
      Object.assign(new Error("y"), { statusCode: 403 }),
    ]) {
      const error = kubeErrorOf(stray, "list");
      expect(error.kind).to.equal("other");
      expect(error.status).to.equal(undefined);
      expect(serverAnswered(error)).to.equal(false);
    }
  });

  it("treats gateway statuses as no answer, decode errors as an answer", () => {
    for (const status of [502, 503, 504]) {
      expect(serverAnswered(kubeErrorOf(new ApiException(status, "", {}, {}), "list"))).to.equal(false);
    }
    const decode = kubeErrorOf(new SyntaxError("Unexpected token < in JSON"), "list");
    expect(decode.kind).to.equal("decode");
    expect(serverAnswered(decode)).to.equal(true);
  });

  it("classifies network failures by their Node error code", () => {
    expect(kubeErrorOf(networkError("ECONNREFUSED"), "list").kind).to.equal("refused");
    expect(kubeErrorOf(networkError("ECONNRESET"), "list").kind).to.equal("network");
    expect(kubeErrorOf(networkError("UND_ERR_CONNECT_TIMEOUT"), "list").kind).to.equal("timeout");
    expect(kubeErrorOf(networkError("ECONNREFUSED"), "list").message).to.include("ECONNREFUSED");
    expect(kubeErrorOf("a string", "list").kind).to.equal("other");
  });

  it("passes tagged errors through unchanged", () => {
    const tagged = new KubeError("timeout", "watch nodes: no event or bookmark for 1000 ms");
    expect(kubeErrorOf(tagged, "anything")).to.equal(tagged);
  });
});
