// Turns on etcd authentication on a test etcd (startEtcd) with the roles the deploy docs prescribe: root,
// the controller (read-write on the record prefix, /fedns-short/, /fedns-serial/ and its election keys) and the
// DNS servers (read only on the record prefix, /fedns-short/ and /fedns-serial/). etcdctlAs() runs etcdctl as one of them.
import { randomBytes } from "node:crypto";
import type { EtcdProcess } from "./etcd.ts";

export interface EtcdUser {
  username: string;
  password: string;
}

export interface EtcdAuth {
  root: EtcdUser;
  controller: EtcdUser;
  dns: EtcdUser;
  /** etcdctl as `user` (rejects with etcdctl's message when etcd refuses). */
  etcdctlAs(user: EtcdUser, args: string[]): Promise<string>;
}

function user(username: string): EtcdUser {
  return { username, password: randomBytes(12).toString("hex") };
}

/**
 * Creates the users and roles, then `auth enable`; `prefix` like `/skydns`. `serialMarkers: false` leaves out
 * the grants on /fedns-serial/ (roles made before serial markers existed).
 */
export async function enableEtcdAuth(
  etcd: EtcdProcess,
  prefix = "/skydns",
  options: { serialMarkers?: boolean } = {},
): Promise<EtcdAuth> {
  const root = user("root");
  const controller = user("fedns");
  const dns = user("fedns-dns");
  const records = `${prefix.replace(/\/+$/, "")}/`;
  const steps: string[][] = [
    ["user", "add", root.username, `--new-user-password=${root.password}`],
    ["user", "grant-role", root.username, "root"],
    ["role", "add", "fedns-controller"],
    ["role", "grant-permission", "fedns-controller", "--prefix=true", "readwrite", records],
    ["role", "grant-permission", "fedns-controller", "--prefix=true", "readwrite", "/fedns-short/"],
    ["role", "grant-permission", "fedns-controller", "--prefix=true", "readwrite", "election/fedns/"],
    ["user", "add", controller.username, `--new-user-password=${controller.password}`],
    ["user", "grant-role", controller.username, "fedns-controller"],
    ["role", "add", "fedns-dns"],
    ["role", "grant-permission", "fedns-dns", "--prefix=true", "read", records],
    ["role", "grant-permission", "fedns-dns", "--prefix=true", "read", "/fedns-short/"],
    ["user", "add", dns.username, `--new-user-password=${dns.password}`],
    ["user", "grant-role", dns.username, "fedns-dns"],
    ...(options.serialMarkers === false
      ? []
      : [
          ["role", "grant-permission", "fedns-controller", "--prefix=true", "readwrite", "/fedns-serial/"],
          ["role", "grant-permission", "fedns-dns", "--prefix=true", "read", "/fedns-serial/"],
        ]),
    ["auth", "enable"],
  ];
  for (const step of steps) await etcd.etcdctl(step);
  return {
    root,
    controller,
    dns,
    etcdctlAs: (as, args) => etcd.etcdctl([`--user=${as.username}:${as.password}`, ...args]),
  };
}
