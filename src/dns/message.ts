// The structured response answer() produces and the encoders turn into bytes.

export type Rdata =
  | { type: 1; address: string }
  | { type: 28; address: string }
  | { type: 5; target: string }
  | { type: 2; target: string }
  | { type: 12; target: string }
  | { type: 15; preference: number; exchange: string }
  | { type: 33; priority: number; weight: number; port: number; target: string }
  | { type: 16; strings: Buffer[] }
  | { type: 13; cpu: string; os: string }
  | {
      type: 6;
      mname: string;
      rname: string;
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    };

export interface ResourceRecord {
  /** Lowercase dotted owner name without trailing dot. */
  name: string;
  ttl: number;
  data: Rdata;
}

export interface DnsResponse {
  /** Full 12-bit rcode: the high bits go into the OPT record. */
  rcode: number;
  authoritative: boolean;
  /** Echo the question (false for replies to packets whose question did not parse). */
  echoQuestion: boolean;
  answer: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
  /** Present when the reply carries an OPT record. */
  edns: { payloadSize: number; dnssecOk: boolean } | undefined;
  /** Set TC: the answer was cut short by the server's work budget (UDP only; over TCP it is simply shorter). */
  truncated?: boolean;
  /** RFC 8914 Extended DNS Error, sent in the OPT record when the query had EDNS. */
  extendedError?: { code: number; text: string };
}

/** Header fields and question taken from the query. */
export interface ReplyTo {
  id: number;
  opcode: number;
  recursionDesired: boolean;
  checkingDisabled: boolean;
  /** Raw question (name, type, class) bytes as received; echoed verbatim to keep the client's case. */
  questionWire: Buffer | undefined;
  /** The question name's labels (for compression; dns2 path re-encodes from them). */
  questionLabels: readonly string[];
  /** False when labels hold octets a stored name cannot: their suffixes are not offered for compression. */
  questionPlain: boolean;
  qtype: number;
  qclass: number;
}

/** Records that must stay together when truncating: consecutive records of one owner and type. */
export function rrsets(records: readonly ResourceRecord[]): ResourceRecord[][] {
  const sets: ResourceRecord[][] = [];
  let current: ResourceRecord[] | undefined;
  for (const record of records) {
    const head = current?.[0];
    if (
      current !== undefined &&
      head !== undefined &&
      head.name === record.name &&
      head.data.type === record.data.type
    ) {
      current.push(record);
    } else {
      current = [record];
      sets.push(current);
    }
  }
  return sets;
}
