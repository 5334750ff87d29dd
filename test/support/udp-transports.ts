// The UDP tests run once per UDP transport: node:dgram and the native batched one.
// FEDNS_TEST_UDP_TRANSPORTS narrows the list (e.g. "native" for the AddressSanitizer pass in CI).
// Where the addon is not built the native runs are skipped (pending), unless
// FEDNS_REQUIRE_NATIVE_UDP=1 (CI, which installs the compiler) makes that a failure.
import { loadAddon } from "../../src/dns/udp/native.ts";
import type { UdpTransportKind } from "../../src/dns/udp/transport.ts";

const ALL: UdpTransportKind[] = ["dgram", "native"];

export function udpTransports(): UdpTransportKind[] {
  const wanted = process.env.FEDNS_TEST_UDP_TRANSPORTS;
  if (wanted === undefined || wanted.trim() === "") return ALL;
  const list = wanted.split(",").map((name) => name.trim());
  for (const name of list) {
    if (!ALL.includes(name as UdpTransportKind))
      throw new Error(`FEDNS_TEST_UDP_TRANSPORTS: unknown transport ${name}`);
  }
  return list as UdpTransportKind[];
}

/** `describe(title + " [UDP: <transport>]")` once per transport; the native one needs the addon. */
export function describeEachUdpTransport(
  title: string,
  body: (this: Mocha.Suite, transport: UdpTransportKind) => void,
): void {
  for (const transport of udpTransports()) {
    // Without the addon the native suite is skipped whole (its hooks too: an after hook would find no server).
    const define = transport === "native" && nativeMissing() ? describe.skip : describe;
    define(`${title} [UDP: ${transport}]`, function () {
      if (transport === "native") before(skipUnlessNative);
      body.call(this, transport);
    });
  }
}

/** `describe` for tests of the native transport alone: run wherever the native transport is tested. */
export function describeNativeUdp(title: string, body: (this: Mocha.Suite) => void): void {
  if (!udpTransports().includes("native")) return;
  const define = nativeMissing() ? describe.skip : describe;
  define(title, function () {
    before(skipUnlessNative);
    body.call(this);
  });
}

/** The addon cannot load and nobody requires it (CI sets FEDNS_REQUIRE_NATIVE_UDP=1: there it is a failure). */
function nativeMissing(): boolean {
  return process.env.FEDNS_REQUIRE_NATIVE_UDP !== "1" && !loadAddon().ok;
}

function skipUnlessNative(this: Mocha.Context): void {
  const addon = loadAddon();
  if (addon.ok) return;
  if (process.env.FEDNS_REQUIRE_NATIVE_UDP === "1") throw new Error(`native UDP transport required: ${addon.reason}`);
  this.skip();
}
