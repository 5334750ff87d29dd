// A loader worker that posts a page whose segment holds a slash: the main thread must refuse it.
import { parentPort } from "node:worker_threads";
import { type PreparedKey, packPage, prepareKey } from "../../../src/records/prepared.ts";

const key = prepareKey("/skydns/", "/skydns/com/example/x", '{"host":"10.0.0.1"}', 5) as PreparedKey;
const page = packPage(5, [key], []);
page.strings[page.segments[0]!] = "com/evil";
parentPort?.postMessage(page);
parentPort?.postMessage({ type: "done", revision: 5, keys: 1 });
