// Unit tests of the benchmark's pure parts: data set, dnsperf parsing, profile summary, report.
// Run: npx mocha bench/qps/qps.test.ts
import { expect } from "chai";
import { parseProcStat } from "../../../bench/qps/cpuload.ts";
import { summarizeProfile } from "../../../bench/qps/cpuprofile.ts";
import { benchAddress, benchName, buildDataset } from "../../../bench/qps/dataset.ts";
import { dnsperfArgs, parseDnsperfOutput } from "../../../bench/qps/dnsperf.ts";
import { knotConfig } from "../../../bench/qps/knot.ts";
import { cannedReply } from "../../../bench/qps/node-ceiling.ts";
import { formatRatio, formatTable, qpsRatios } from "../../../bench/qps/report.ts";
import { RecordIndex } from "../../../src/records/index.ts";
import { nameOfKey } from "../../../src/records/name.ts";
import { decodeService } from "../../../src/records/service.ts";

const DNSPERF_OUTPUT = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 41505 -d queries.txt -l 1 -c 2 -q 20
[Status] Sending queries (to 127.0.0.1:41505)
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         171470
  Queries completed:    171400 (99.96%)
  Queries lost:         70 (0.04%)

  Response codes:       NOERROR 155887 (90.91%), NXDOMAIN 15513 (9.09%)
  Average packet size:  request 62, response 81
  Run time (s):         1.000116
  Queries per second:   171450.111787

  Average Latency (s):  0.000072 (min 0.000005, max 0.000609)
  Latency StdDev (s):   0.000025
`;

describe("bench/qps data set", () => {
  const dataset = buildDataset({ names: 10_000, prefix: "/skydns" });

  it("names have the issue's shape, the digits of the index picking svc/ns/zone/region", () => {
    expect(benchName(4321)).to.equal("svc1.ns2.myfed.svc.zone3.region4.example.com");
    expect(benchName(0)).to.equal("svc0.ns0.myfed.svc.zone0.region0.example.com");
    expect(benchAddress(0)).to.equal("10.0.0.1");
    expect(benchAddress(65535)).to.equal("10.1.0.0");
  });

  it("has 10,000 distinct names with distinct addresses and ~10% missing names", () => {
    expect(new Set(dataset.names.map((entry) => entry.name)).size).to.equal(10_000);
    expect(new Set(dataset.names.map((entry) => entry.address)).size).to.equal(10_000);
    expect(dataset.nxNames).to.have.length(1000);
    const existing = new Set(dataset.names.map((entry) => entry.name));
    for (const name of dataset.nxNames) expect(existing.has(name), name).to.equal(false);
  });

  it("etcd records are what fedns must serve: each name answers its address, missing names do not exist", () => {
    const index = new RecordIndex({ prefix: "/skydns" });
    const result = index.replaceAll(
      dataset.etcdRecords.map((record, i) => ({ key: record.key, value: record.value, modRevision: i + 1 })),
      dataset.etcdRecords.length,
    );
    expect(result.rejected).to.deep.equal([]);
    for (const entry of dataset.names.slice(0, 500)) {
      const records = index.lookup(entry.name);
      expect(
        records?.map((record) => record.host),
        entry.name,
      ).to.deep.equal([{ kind: "A", address: entry.address }]);
    }
    for (const name of dataset.nxNames) expect(index.lookup(name), name).to.equal(undefined);
  });

  it("keys live under the name's path with one leaf, values are valid msg.Service JSON", () => {
    const record = dataset.etcdRecords[4321];
    const entry = dataset.names[4321];
    if (record === undefined || entry === undefined) throw new Error("missing record");
    const name = nameOfKey("/skydns", record.key);
    expect(name?.slice(name.indexOf(".") + 1)).to.equal(entry.name);
    expect(record.key.startsWith("/skydns/com/example/region4/zone3/svc/myfed/ns2/svc1/bench-")).to.equal(true);
    const decoded = decodeService(record.value);
    expect(decoded.ok && decoded.service).to.include({ host: entry.address, ttl: 30, group: entry.name });
  });

  it("the zone file holds the same names, and the query file asks each name once plus the missing ones", () => {
    for (const entry of dataset.names.slice(0, 100)) {
      expect(dataset.zoneFile).to.include(`\n${entry.name}. 30 IN A ${entry.address}\n`);
    }
    expect(dataset.zoneFile).to.match(/^\$ORIGIN example\.com\.\n/);
    expect(dataset.zoneFile).to.include("@ IN NS ns1.ns.dns.example.com.");
    const lines = dataset.queries.trimEnd().split("\n");
    expect(lines).to.have.length(11_000);
    for (const line of lines) expect(line).to.match(/^[a-z0-9.]+ A$/);
    const asked = new Set(lines.map((line) => line.slice(0, -2)));
    expect(asked.size).to.equal(11_000);
    // Shuffled: the first lines are not the names in index order.
    expect(lines.slice(0, 10)).to.not.deep.equal(dataset.names.slice(0, 10).map((entry) => `${entry.name} A`));
  });

  it("is deterministic", () => {
    const again = buildDataset({ names: 10_000, prefix: "/skydns" });
    expect(again.queries).to.equal(dataset.queries);
    expect(again.etcdRecords).to.deep.equal(dataset.etcdRecords);
  });
});

describe("bench/qps dnsperf", () => {
  it("parses the statistics block", () => {
    const result = parseDnsperfOutput(DNSPERF_OUTPUT);
    expect(result).to.deep.include({
      sent: 171470,
      completed: 171400,
      lost: 70,
      qps: 171450.111787,
      avgLatency: 0.000072,
      minLatency: 0.000005,
      maxLatency: 0.000609,
      requestSize: 62,
      responseSize: 81,
    });
    expect(result.rcodes).to.deep.equal({ NOERROR: 155887, NXDOMAIN: 15513 });
  });

  it("fails with the output when the statistics are missing", () => {
    expect(() => parseDnsperfOutput("Error: could not open queries.txt")).to.throw(/could not open queries\.txt/);
  });

  it("pins dnsperf with taskset and passes the load options", () => {
    const args = dnsperfArgs({
      port: 5353,
      queryFile: "q.txt",
      seconds: 20,
      clients: 4,
      threads: 1,
      outstanding: 100,
      cpu: 1,
    });
    expect(args.slice(0, 3)).to.deep.equal(["-c", "1", "dnsperf"]);
    expect(args.join(" ")).to.include("-p 5353 -d q.txt -l 20 -c 4 -T 1 -q 100");
    expect(args).to.not.include("-Q");
  });
});

describe("bench/qps knot.conf", () => {
  it("keeps every path inside the temp dir and listens on the given port", () => {
    const config = knotConfig({ dir: "/tmp/x", port: 5300, zoneFile: "/tmp/x/example.com.zone", udpWorkers: 1 });
    expect(config).to.include("listen: 127.0.0.1@5300");
    expect(config).to.include('rundir: "/tmp/x/run"');
    expect(config).to.include('storage: "/tmp/x/db"');
    expect(config).to.include('file: "/tmp/x/example.com.zone"');
    expect(config).to.include("udp-workers: 1");
    expect(config).to.not.match(/\/var\/|\/etc\//);
  });
});

describe("bench/qps cpu profile summary", () => {
  const frame = (functionName: string, url: string, lineNumber = 0) => ({
    functionName,
    url,
    lineNumber,
    columnNumber: 0,
  });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame("(root)", "") },
      { id: 2, callFrame: frame("(idle)", "") },
      { id: 3, callFrame: frame("encode", "file:///repo/src/dns/codec.ts", 9) },
      { id: 4, callFrame: frame("answer", "file:///repo/src/dns/answer.ts", 41) },
      { id: 5, callFrame: frame("encode", "file:///repo/src/dns/codec.ts", 9) },
      { id: 6, callFrame: frame("(garbage collector)", "") },
    ],
    startTime: 0,
    endTime: 1000,
    // Sample i ran for timeDeltas[i + 1].
    samples: [3, 4, 5, 2, 6, 3],
    timeDeltas: [0, 300, 100, 200, 250, 50],
  };

  it("ranks self time per function (same function in two nodes adds up) and per file, idle apart", () => {
    const summary = summarizeProfile(profile, "/repo");
    expect(summary.totalMicros).to.equal(900);
    expect(summary.idleMicros).to.equal(250);
    expect(summary.functions.map((entry) => [entry.label, entry.selfMicros])).to.deep.equal([
      ["encode (src/dns/codec.ts:10)", 500],
      ["answer (src/dns/answer.ts:42)", 100],
      ["(garbage collector)", 50],
    ]);
    expect(summary.functions[0]?.share).to.be.closeTo(500 / 650, 1e-9);
    expect(summary.files.map((entry) => entry.label)).to.deep.equal([
      "src/dns/codec.ts",
      "src/dns/answer.ts",
      "(native/V8)",
    ]);
  });

  it("counts only samples taken inside the given time windows", () => {
    // Sample timestamps: 0, 300, 400, 600, 850, 900 µs.
    const summary = summarizeProfile(profile, "/repo", 25, [{ fromMicros: 350, toMicros: 700 }]);
    expect(summary.totalMicros).to.equal(450);
    expect(summary.idleMicros).to.equal(250);
    expect(summary.functions.map((entry) => [entry.label, entry.selfMicros])).to.deep.equal([
      ["encode (src/dns/codec.ts:10)", 200],
    ]);
  });

  it("rejects something that is not a profile", () => {
    expect(() => summarizeProfile({ samples: [] }, "/repo")).to.throw(/not a V8 CPU profile/);
  });
});

describe("bench/qps report", () => {
  const result = parseDnsperfOutput(DNSPERF_OUTPUT);

  it("computes each fedns transport's QPS over Knot's, only when Knot ran", () => {
    expect(
      qpsRatios([
        { server: "knot", result: { ...result, qps: 200_000 } },
        { server: "fedns-native", result: { ...result, qps: 190_000 } },
        { server: "fedns-dgram", result: { ...result, qps: 100_000 } },
      ]),
    ).to.deep.equal([
      { server: "fedns-native", ratio: 0.95 },
      { server: "fedns-dgram", ratio: 0.5 },
    ]);
    expect(qpsRatios([{ server: "fedns-native", result }])).to.deep.equal([]);
    expect(formatRatio("fedns-native", 0.85)).to.equal("ratio fedns-native/Knot: 0.85 (below the 0.9 target)");
    expect(formatRatio("fedns-native", 0.95)).to.equal("ratio fedns-native/Knot: 0.95 (meets the 0.9 target)");
  });

  it("prints one row per server with QPS, latency in ms and lost share", () => {
    const table = formatTable([{ server: "knot", result }]);
    const row = table.split("\n").find((line) => line.startsWith("knot "));
    expect(row).to.match(/^knot\s+171450\s+0\.072\s+0\.005\/0\.6\s+171470\s+171400\s+70 \(0\.04%\)\s+81$/);
    expect(table).to.include("knot response codes: NOERROR 155887, NXDOMAIN 15513");
  });
});

describe("bench/qps /proc/stat", () => {
  it("reads busy and total jiffies per core, iowait counted as idle", () => {
    const cores = parseProcStat(
      "cpu  20 0 10 100 0 0 0 0 0 0\ncpu0 10 0 5 50 5 0 2 1 0 0\ncpu1 10 0 5 50 0 0 0 0 0 0\nintr 123\n",
    );
    expect(cores.get(0)).to.deep.equal({ busy: 18, total: 73 });
    expect(cores.get(1)).to.deep.equal({ busy: 15, total: 65 });
    expect(cores.size).to.equal(2);
  });
});

describe("bench/qps node ceiling server", () => {
  // id 0x1234, RD, one question: a.example A IN
  const query = Buffer.from([
    0x12,
    0x34,
    0x01,
    0x00,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    0x61,
    7,
    ...Buffer.from("example"),
    0,
    0,
    1,
    0,
    1,
  ]);

  it("answers with the query's id and question, QR+AA+RD, and one A record", () => {
    const reply = cannedReply(query);
    if (reply === undefined) throw new Error("no reply");
    expect(reply.readUInt16BE(0)).to.equal(0x1234);
    expect(reply[2]).to.equal(0x85);
    expect([reply.readUInt16BE(4), reply.readUInt16BE(6), reply.readUInt16BE(8), reply.readUInt16BE(10)]).to.deep.equal(
      [1, 1, 0, 0],
    );
    expect(reply.subarray(12, query.length)).to.deep.equal(query.subarray(12));
    expect([...reply.subarray(reply.length - 4)]).to.deep.equal([10, 0, 0, 1]);
  });

  it("ignores packets too short to hold a question", () => {
    expect(cannedReply(query.subarray(0, 16))).to.equal(undefined);
    expect(cannedReply(query.subarray(0, 20))).to.equal(undefined);
  });
});

describe("bench/qps watch latency summary", () => {
  it("reports nearest-rank percentiles and the maximum", async () => {
    const { summarizeLatencies } = await import("../../../bench/qps/watch-latency.ts");
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(summarizeLatencies(samples)).to.deep.equal({ count: 100, p50: 50, p99: 99, max: 100 });
    expect(summarizeLatencies([7])).to.deep.equal({ count: 1, p50: 7, p99: 7, max: 7 });
  });
});
