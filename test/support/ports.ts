// Free loopback ports for servers the tests start: the same helper `fedns dev` uses.
export { freeLoopbackPort as freePort } from "../../src/store/local-etcd.ts";
