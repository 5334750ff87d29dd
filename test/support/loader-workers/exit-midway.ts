// A loader worker that posts one good page of a load, then exits: the load is incomplete and must not be served.
import { parentPort } from "node:worker_threads";
import { type PreparedKey, packPage, prepareKey } from "../../../src/records/prepared.ts";

const key = prepareKey("/skydns/", "/skydns/com/example/partial", '{"host":"10.0.0.1"}', 5) as PreparedKey;
parentPort?.postMessage(packPage(5, [key], []));
setTimeout(() => process.exit(3), 50);
