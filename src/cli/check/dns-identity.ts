// Can the DNS servers write to etcd? `fedns serve` only reads the prefix, so the identity it connects with
// (dns.etcd, else etcd's own) should have a role with read on the prefix and nothing more: a DNS pod that
// can write could rewrite every answer of the federation.
//
// The probe writes nothing: one txn whose only compare can never hold (a key's mod revision is never -1) and
// whose success branch puts a scratch key under the prefix. etcd checks the permissions of every operation of
// a txn before it evaluates the compares, so an identity without write permission is refused ("permission
// denied"), and one with it gets `succeeded: false` and changes nothing (not even the revision). Reading the
// role's permissions through the auth API would need the root role; a put + delete would briefly publish a key.
import type { FednsConfig } from "../../config/schema.ts";
import { SERIAL_MARKER_PREFIX } from "../../federation/keys.ts";
import { normalizePrefix } from "../../records/name.ts";
import { isPermissionDenied, type KvBackend } from "../../store/kv.ts";
import { dnsEtcdBackend, dnsEtcdIdentity } from "../backend.ts";
import { describeError, error, type Finding, ok, warn, withTimeout } from "./findings.ts";

/** The key the probe names (never written): under the prefix, which the DNS identity must be able to read. */
export function writeProbeKey(prefix: string): string {
  return `${normalizePrefix(prefix)}/.fedns-check-write-probe`;
}

/** A warning when the identity may not read the serial markers (serve then goes on without them). */
async function serialMarkerFindings(backend: KvBackend, who: string, timeoutMs: number): Promise<Finding[]> {
  try {
    await withTimeout(
      backend.range(SERIAL_MARKER_PREFIX, { limit: 1 }),
      timeoutMs,
      `reading ${SERIAL_MARKER_PREFIX} as fedns serve`,
    );
    return [];
  } catch (err) {
    if (!isPermissionDenied(err)) throw err;
    return [
      warn(
        "etcd",
        "dns-identity-cannot-read-serials",
        `${who} may not read ${SERIAL_MARKER_PREFIX}: after a restart, a zone whose last change was a delete gets a lower SOA serial and secondaries stop transferring until its next change`,
        `grant its role read on ${SERIAL_MARKER_PREFIX} (etcdctl role grant-permission <role> --prefix=true read ${SERIAL_MARKER_PREFIX}; docs/zone-transfers.md)`,
      ),
    ];
  }
}

/**
 * Findings about the identity `fedns serve` would use. `given`: a backend with that identity (tests); when
 * absent it is built from the config, and credentials that cannot be read here (the DNS servers' Secret is not
 * mounted where check runs) leave the question open rather than failing the check.
 */
export async function checkDnsIdentity(config: FednsConfig, timeoutMs: number, given?: KvBackend): Promise<Finding[]> {
  const { etcd, field } = dnsEtcdIdentity(config);
  const prefix = normalizePrefix(etcd.prefix);
  const who =
    field === "dns.etcd"
      ? `fedns serve's etcd identity (dns.etcd${etcd.username === undefined ? "" : `, user ${etcd.username}`})`
      : `fedns serve's etcd identity (no dns.etcd: the controller's, etcd${etcd.username === undefined ? "" : `, user ${etcd.username}`})`;
  let backend: KvBackend;
  try {
    backend = given ?? dnsEtcdBackend(config);
  } catch (err) {
    return [
      ok("etcd", "dns-identity-not-checked", `${who} not checked from here: ${describeError(err)}`, {
        reason: describeError(err),
      }),
    ];
  }
  const probe = writeProbeKey(prefix);
  try {
    try {
      await withTimeout(backend.range(probe), timeoutMs, `reading ${probe} as fedns serve`);
    } catch (err) {
      if (!isPermissionDenied(err)) throw err;
      return [
        error(
          "etcd",
          "dns-identity-cannot-read",
          `${who} may not read ${prefix}/: fedns serve cannot load the records`,
          `grant its role read on ${prefix}/ (etcdctl role grant-permission <role> --prefix=true read ${prefix}/)`,
        ),
      ];
    }
    const serials = await serialMarkerFindings(backend, who, timeoutMs);
    try {
      await withTimeout(
        backend.txn([{ key: probe, modRevision: -1 }], [{ type: "put", key: probe, value: "" }]),
        timeoutMs,
        `probing write permission on ${prefix}/`,
      );
    } catch (err) {
      if (!isPermissionDenied(err)) throw err;
      return [ok("etcd", "dns-identity-read-only", `${who} can read ${prefix}/ and is refused writes`), ...serials];
    }
    return [
      ...serials,
      warn(
        "etcd",
        "dns-identity-can-write",
        `${who} can write under ${prefix}/: a compromised DNS pod could rewrite every answer`,
        field === "dns.etcd"
          ? `give that user a role with read on ${prefix}/ only (deploy/README.md, "etcd with TLS and auth")`
          : `set dns.etcd to a user whose role has read on ${prefix}/ only, with etcd auth enabled (deploy/README.md, "etcd with TLS and auth")`,
        { prefix, identity: field, ...(etcd.username === undefined ? {} : { username: etcd.username }) },
      ),
    ];
  } catch (err) {
    // etcd unreachable or the like: the etcd findings already say so.
    return [ok("etcd", "dns-identity-not-checked", `${who} not checked: ${describeError(err)}`)];
  } finally {
    if (given === undefined) await backend.close().catch(() => undefined);
  }
}
