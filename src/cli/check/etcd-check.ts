// Can fedns reach etcd, and what does it hold under the prefix?
import type { FednsConfig } from "../../config/schema.ts";
import { normalizePrefix } from "../../records/name.ts";
import { decodeService, ownerOf, type SkydnsService } from "../../records/service.ts";
import type { KeyValue, KvBackend } from "../../store/kv.ts";
import { etcdBackendFromConfig } from "../backend.ts";
import { describeError, error, type Finding, ok, withTimeout } from "./findings.ts";

export interface EtcdRead {
  /** Every key under the prefix; undefined when etcd could not be read. */
  kvs: KeyValue[] | undefined;
  findings: Finding[];
}

/** The decodable records of one owner, by key. */
export function ownedRecords(kvs: readonly KeyValue[], owner: string): Map<string, SkydnsService> {
  const records = new Map<string, SkydnsService>();
  for (const kv of kvs) {
    if (ownerOf(kv.value) !== owner) continue;
    const decoded = decodeService(kv.value);
    if (decoded.ok) records.set(kv.key, decoded.service);
  }
  return records;
}

export async function readEtcd(
  config: FednsConfig,
  owner: string | undefined,
  timeoutMs: number,
  given?: KvBackend,
): Promise<EtcdRead> {
  const prefix = normalizePrefix(config.etcd.prefix);
  const where = config.etcd.endpoints.join(", ");
  let backend: KvBackend;
  try {
    backend = given ?? etcdBackendFromConfig(config.etcd);
  } catch (err) {
    return {
      kvs: undefined,
      findings: [error("etcd", "etcd-config", describeError(err), "fix the etcd: section of the config")],
    };
  }
  try {
    const result = await withTimeout(backend.range(`${prefix}/`), timeoutMs, `reading ${prefix}/ from etcd`);
    const owned = owner === undefined ? 0 : result.kvs.filter((kv) => ownerOf(kv.value) === owner).length;
    return {
      kvs: result.kvs,
      findings: [
        ok(
          "etcd",
          "etcd-ok",
          `${where} answers; ${result.kvs.length} keys under ${prefix}/${owner === undefined ? "" : `, ${owned} owned by ${owner}`}`,
        ),
      ],
    };
  } catch (err) {
    return {
      kvs: undefined,
      findings: [
        error(
          "etcd",
          "etcd-unreachable",
          `cannot read ${prefix}/ from ${where}: ${describeError(err)}`,
          "check etcd.endpoints, that etcd is up and reachable from here, and its credentials/TLS (etcd.username, etcd.passwordFile, etcd.tls)",
        ),
      ],
    };
  } finally {
    if (given === undefined) await backend.close().catch(() => undefined);
  }
}
