import { expect } from "chai";
import { prefixEnd } from "../../../src/store/etcd-kv.ts";
import { cursorAfter, type PagePlan, planPage } from "../../../src/store/range-split.ts";

/**
 * Pages through sorted keys as etcd 3.4 serves a limited range: it collects every key of [start, end) and
 * returns the first `limit`. `walked` is the cost: keys collected over all pages.
 */
function pageLike34(keys: readonly Buffer[], prefix: Buffer, limit: number, tight = true) {
  const end = prefixEnd(prefix);
  const read: Buffer[] = [];
  let walked = 0;
  let pages = 0;
  let cursor: string | undefined;
  for (;;) {
    const bounds = planPage(prefix, end, cursor);
    const plan: PagePlan = tight ? bounds : { start: bounds.start, end, final: true };
    const open = plan.end.length === 1 && plan.end[0] === 0;
    const inRange = keys.slice(lowerBound(keys, plan.start), open ? keys.length : lowerBound(keys, plan.end));
    walked += inRange.length;
    pages++;
    const page = inRange.slice(0, limit);
    read.push(...page);
    const more = inRange.length > limit;
    cursor = tight
      ? cursorAfter(plan, { keys: page, more, limit })
      : more
        ? Buffer.concat([page[page.length - 1]!, Buffer.from([0])]).toString("base64")
        : undefined;
    if (cursor === undefined) return { read, walked, pages };
    if (pages > 100_000) throw new Error("runaway paging");
  }
}

/** The index of the first key not below `key`. */
function lowerBound(keys: readonly Buffer[], key: Buffer): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (Buffer.compare(keys[mid]!, key) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

function sorted(keys: string[] | Buffer[]): Buffer[] {
  return keys.map((key) => (typeof key === "string" ? Buffer.from(key) : key)).sort(Buffer.compare);
}

/** The fedns layout: /skydns/com/example/region-R/region-R-Z/svc/fed/ns-N/svc-S/{_tcp/_http/p80, cluster-C-hash}. */
function fednsKeys(services: number): Buffer[] {
  const keys: string[] = [];
  for (let s = 0; s < services; s++) {
    const base = `/skydns/com/example/region-${s % 5}/region-${s % 5}-${"abc"[s % 3]}/svc/myfed/ns-${s % 7}/svc-${s}`;
    keys.push(`${base}/_tcp/_http/p80`);
    for (let c = 0; c < 4; c++) keys.push(`${base}/cluster-${(s + c) % 100}-${(s * 7919 + c).toString(16)}`);
  }
  return sorted(keys);
}

describe("store: etcd range pages as tight sub-ranges", () => {
  const prefix = Buffer.from("/skydns/");

  it("reads every key exactly once, in order, walking each key a few times, not the rest of the range per page as etcd 3.4 would", () => {
    const keys = fednsKeys(4000); // 20,000 keys
    const { read, walked, pages } = pageLike34(keys, prefix, 500);
    expect(read.map(String)).to.deep.equal(keys.map(String));
    expect(walked).to.be.below(keys.length * 5);
    expect(pages).to.be.below((keys.length / 500) * 10);
    // Without tight ends the same read walks N²/2L keys: what this guards against.
    const untight = pageLike34(keys, prefix, 500, false);
    expect(untight.read.map(String)).to.deep.equal(keys.map(String));
    expect(untight.walked).to.be.above(keys.length * 15);
  });

  it("walks far less than untight pages on dense clusters between wide gaps, keys that end in 0x00 or 0xff, and one-key pages", () => {
    const keys: Buffer[] = [];
    for (let i = 0; i < 3000; i++) keys.push(Buffer.from(`/skydns/a/${String(i).padStart(5, "0")}`));
    for (let i = 0; i < 50; i++) keys.push(Buffer.from(`/skydns/m/${i}`));
    for (let i = 0; i < 3000; i++)
      keys.push(Buffer.concat([Buffer.from(`/skydns/z/${i}`), Buffer.from([0xff, i % 256])]));
    keys.push(Buffer.concat([Buffer.from("/skydns/z"), Buffer.from([0])]), Buffer.from("/skydns/\xff\xff"));
    keys.push(Buffer.concat([Buffer.from("/skydns/"), Buffer.alloc(600, 0x41)])); // longer than the arithmetic's width
    const all = sorted(keys);
    for (const limit of [1, 7, 300]) {
      const { read, walked } = pageLike34(all, prefix, limit);
      expect(read.map((key) => key.toString("hex"))).to.deep.equal(all.map((key) => key.toString("hex")));
      // At most half what etcd 3.4 walks for pages with only the start moving (N²/2L).
      expect(walked).to.be.below(pageLike34(all, prefix, limit, false).walked / 2);
    }
  });

  it("reads an empty prefix in one page and a prefix of all 0xff bytes to its end", () => {
    expect(pageLike34([], prefix, 100).pages).to.equal(1);
    const ff = Buffer.from([0xff, 0xff]);
    const keys = sorted([Buffer.from([0xff, 0xff, 1]), Buffer.from([0xff, 0xff, 0xff, 0xff])]);
    expect(pageLike34(keys, ff, 1).read.map((key) => key.toString("hex"))).to.deep.equal(
      keys.map((key) => key.toString("hex")),
    );
  });

  it("treats a cursor without a span (or a garbled one) as a read to the prefix's end", () => {
    const start = Buffer.from("/skydns/b");
    const end = prefixEnd(prefix);
    expect(planPage(prefix, end, start.toString("base64"))).to.deep.include({ final: true });
    expect(planPage(prefix, end, `${start.toString("base64")}:!!`)).to.deep.include({ final: true });
    expect(planPage(prefix, end, `${start.toString("base64")}:0`)).to.deep.include({ final: true });
  });
});
