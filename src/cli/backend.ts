// Builds the etcd backend from the validated config (password from a file when given), and decides which
// identity `fedns serve` connects with: dns.etcd when configured, else etcd's (one home for that rule).
import { readFileSync } from "node:fs";
import { ConfigError } from "../config/load.ts";
import type { EtcdConfig, FednsConfig } from "../config/schema.ts";
import { createEtcdBackend, type EtcdOptions } from "../store/etcd-kv.ts";
import type { KvBackend } from "../store/kv.ts";

/** etcd settings plus the config path their credentials came from, for error messages. */
export interface EtcdIdentity {
  etcd: EtcdConfig;
  /** `etcd` or `dns.etcd`. */
  field: string;
}

/**
 * The etcd settings of the DNS servers: etcd's endpoints, prefix and dial timeout with dns.etcd's username,
 * password and client certificate when dns.etcd is set (etcd.tls.ca kept unless dns.etcd.tls is given);
 * etcd's own otherwise.
 */
export function dnsEtcdIdentity(config: FednsConfig): EtcdIdentity {
  const own = config.dns.etcd;
  if (own === undefined) return { etcd: config.etcd, field: "etcd" };
  const ca = config.etcd.tls?.ca;
  const tls = own.tls ?? (ca === undefined ? undefined : { ca });
  return {
    etcd: {
      endpoints: config.etcd.endpoints,
      prefix: config.etcd.prefix,
      dialTimeoutMs: config.etcd.dialTimeoutMs,
      ...(own.username === undefined ? {} : { username: own.username }),
      ...(own.password === undefined ? {} : { password: own.password }),
      ...(own.passwordFile === undefined ? {} : { passwordFile: own.passwordFile }),
      ...(tls === undefined ? {} : { tls }),
    },
    field: "dns.etcd",
  };
}

/** The etcd client settings of a config section (password read from its file when given). */
export function etcdOptionsFromConfig(etcd: EtcdConfig, field = "etcd"): EtcdOptions {
  let password = etcd.password;
  if (etcd.passwordFile !== undefined) {
    try {
      password = readFileSync(etcd.passwordFile, "utf8").trim();
    } catch (err) {
      // The path is not echoed: a password pasted into passwordFile would otherwise be printed.
      const code = (err as NodeJS.ErrnoException).code ?? "read error";
      throw new ConfigError(`${field}.passwordFile: the file cannot be read (${code})`);
    }
  }
  if (password !== undefined && etcd.username === undefined) {
    throw new ConfigError(`${field}.username: required when a password is given`);
  }
  return {
    endpoints: etcd.endpoints,
    dialTimeoutMs: etcd.dialTimeoutMs,
    ...(etcd.username !== undefined ? { username: etcd.username, password: password ?? "" } : {}),
    ...(etcd.tls !== undefined ? { tls: { caFile: etcd.tls.ca, certFile: etcd.tls.cert, keyFile: etcd.tls.key } } : {}),
  };
}

export function etcdBackendFromConfig(etcd: EtcdConfig, field = "etcd"): KvBackend {
  return createEtcdBackend(etcdOptionsFromConfig(etcd, field));
}

/** The etcd client settings `fedns serve` reads with: dnsEtcdIdentity(config) (its loader worker's too). */
export function dnsEtcdOptions(config: FednsConfig): EtcdOptions {
  const { etcd, field } = dnsEtcdIdentity(config);
  return etcdOptionsFromConfig(etcd, field);
}

/** The backend `fedns serve` reads through: dnsEtcdIdentity(config). */
export function dnsEtcdBackend(config: FednsConfig): KvBackend {
  const { etcd, field } = dnsEtcdIdentity(config);
  return etcdBackendFromConfig(etcd, field);
}
