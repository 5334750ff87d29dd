// Builds the etcd backend from the validated config (password from a file when given).
import { readFileSync } from "node:fs";
import { ConfigError } from "../config/load.ts";
import type { EtcdConfig } from "../config/schema.ts";
import { createEtcdBackend } from "../store/etcd-kv.ts";
import type { KvBackend } from "../store/kv.ts";

export function etcdBackendFromConfig(etcd: EtcdConfig): KvBackend {
  let password = etcd.password;
  if (etcd.passwordFile !== undefined) {
    try {
      password = readFileSync(etcd.passwordFile, "utf8").trim();
    } catch (err) {
      // The path is not echoed: a password pasted into passwordFile would otherwise be printed.
      const code = (err as NodeJS.ErrnoException).code ?? "read error";
      throw new ConfigError(`etcd.passwordFile: the file cannot be read (${code})`);
    }
  }
  if (password !== undefined && etcd.username === undefined) {
    throw new ConfigError("etcd.username: required when a password is given");
  }
  return createEtcdBackend({
    endpoints: etcd.endpoints,
    dialTimeoutMs: etcd.dialTimeoutMs,
    ...(etcd.username !== undefined ? { username: etcd.username, password: password ?? "" } : {}),
    ...(etcd.tls !== undefined ? { tls: { caFile: etcd.tls.ca, certFile: etcd.tls.cert, keyFile: etcd.tls.key } } : {}),
  });
}
