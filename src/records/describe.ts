// A person's view of a stored record: which DNS name it answers for, as what type, with what data.
// Used by `fedns records` and `fedns check`.
import { nameOfKey } from "./name.ts";
import { decodeService, hostType } from "./service.ts";

export interface RecordView {
  key: string;
  /** The name the record answers for: its `group` when set (fedns and well-behaved writers), else the key's name. */
  name: string;
  type: "A" | "AAAA" | "CNAME" | "SRV" | "TXT" | "MX" | "INVALID";
  data: string;
  /** Undefined when the record has none (served with the default TTL). */
  ttl: number | undefined;
  cluster: string | undefined;
  owner: string | undefined;
  error?: string;
}

const SERVICE_LABEL = /^_[a-z0-9-]+\._(tcp|udp|sctp)\./;

export function describeRecord(prefix: string, key: string, value: string): RecordView {
  const keyName = nameOfKey(prefix, key) ?? key;
  const decoded = decodeService(value);
  if (!decoded.ok) {
    return {
      key,
      name: keyName,
      type: "INVALID",
      data: value,
      ttl: undefined,
      cluster: undefined,
      owner: undefined,
      error: decoded.error,
    };
  }
  const service = decoded.service;
  const name = service.group !== undefined && service.group !== "" ? service.group : keyName;
  const common = { key, name, ttl: service.ttl, cluster: service.cluster, owner: service.owner };
  if (service.host === "") return { ...common, type: "TXT", data: JSON.stringify(service.text ?? "") };
  const host = hostType(service.host);
  if (service.mail === true) return { ...common, type: "MX", data: `${service.priority ?? 10} ${service.host}` };
  if (SERVICE_LABEL.test(`${name}.`) && service.port !== undefined && service.port > 0) {
    return {
      ...common,
      type: "SRV",
      data: `${service.priority ?? 10} ${service.weight ?? 0} ${service.port} ${service.host}`,
    };
  }
  switch (host.kind) {
    case "A":
    case "AAAA":
      return { ...common, type: host.kind, data: host.address };
    case "CNAME":
      return { ...common, type: "CNAME", data: host.target };
    case "invalid":
      return { ...common, type: "INVALID", data: service.host, error: host.reason };
  }
}
