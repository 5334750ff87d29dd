// DNS protocol numbers used by the server (RFC 1035, 2782, 3596, 5001, 6891, 7873, 8482, 8914).

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  TSIG: 250,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const CLASS_IN = 1;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** RFC 8945: the request's TSIG did not verify (the TSIG error says why). */
  NOTAUTH: 9,
  /** Extended rcode (12 bits: high 8 in the OPT TTL). */
  BADVERS: 16,
  /** RFC 7873: a server cookie is required (sent to clients with a client cookie only, when limited). */
  BADCOOKIE: 23,
} as const;

/** EDNS option codes (RFC 5001, 7873, 8914). */
export const EDNS_OPTION = {
  NSID: 3,
  /** RFC 7871 EDNS Client Subnet. */
  CLIENT_SUBNET: 8,
  COOKIE: 10,
  EXTENDED_ERROR: 15,
} as const;

/** RFC 7873 §4.1: the client cookie is 8 bytes. */
export const CLIENT_COOKIE_SIZE = 8;

/** Extended DNS Error codes we send (RFC 8914 §4). */
export const EDE = {
  OTHER: 0,
  NOT_AUTHORITATIVE: 20,
  NOT_SUPPORTED: 21,
} as const;

export const OPCODE_QUERY = 0;
export const OPCODE_NOTIFY = 4;

/** Without EDNS a UDP response must fit in 512 bytes (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_LIMIT = 512;
/** Our advertised EDNS payload size: the DNS flag day 2020 value. */
export const DEFAULT_UDP_PAYLOAD_SIZE = 1232;
export const TCP_LIMIT = 65535;
/** An OPT record without options: root name, type, class, TTL, rdlength. */
export const OPT_RECORD_SIZE = 11;

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([name, value]) => [value, name]));

/** Bounded label value for metrics: known type names, everything else "other". */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? "other";
}

const RCODE_NAMES = new Map<number, string>(Object.entries(RCODE).map(([name, value]) => [value, name]));

export function rcodeName(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`;
}
