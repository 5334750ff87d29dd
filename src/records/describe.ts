// A person's view of a stored record: which DNS name it answers for, as what type, with what data.
// Used by `fedns records` and `fedns check`.
import { nameOfKey } from "./name.ts";
import { decodeService, hostType } from "./service.ts";
import { ownerNameOf, type RecordType, recordType } from "./type.ts";

export interface RecordView {
  key: string;
  /** The name the record answers for (ownerNameOf). */
  name: string;
  type: RecordType;
  data: string;
  /** Undefined when the record has none (served with the default TTL). */
  ttl: number | undefined;
  cluster: string | undefined;
  owner: string | undefined;
  error?: string;
}

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
  const shape = { name: keyName, service };
  const name = ownerNameOf(shape);
  const common = { key, name, ttl: service.ttl, cluster: service.cluster, owner: service.owner };
  const type = recordType(shape);
  const host = service.host === "" ? undefined : hostType(service.host);
  const target = host?.kind === "CNAME" ? host.target : keyName;
  switch (type) {
    case "TXT":
      return { ...common, type, data: JSON.stringify(service.text ?? "") };
    case "MX":
      return { ...common, type, data: `${service.priority || 10} ${target}` };
    case "SRV":
      return { ...common, type, data: `${service.priority || 10} ${service.weight ?? 0} ${service.port} ${target}` };
    case "A":
    case "AAAA":
      return { ...common, type, data: host?.kind === "A" || host?.kind === "AAAA" ? host.address : service.host };
    case "CNAME":
    case "PTR":
      return { ...common, type, data: target };
    case "INVALID":
      return { ...common, type, data: service.host, error: host?.kind === "invalid" ? host.reason : "no host" };
  }
}
