// A loader worker whose pages disagree on the revision of the load.
import { parentPort } from "node:worker_threads";
import { type PreparedKey, packPage, prepareKey } from "../../../src/records/prepared.ts";

const a = prepareKey("/skydns/", "/skydns/com/example/a", '{"host":"10.0.0.1"}', 5) as PreparedKey;
const b = prepareKey("/skydns/", "/skydns/com/example/b", '{"host":"10.0.0.2"}', 6) as PreparedKey;
parentPort?.postMessage(packPage(5, [a], []));
parentPort?.postMessage(packPage(6, [b], []));
parentPort?.postMessage({ type: "done", revision: 6, keys: 2 });
