// One stored record in compact form (issue 8: a few hundred bytes per record at 560k records). A key's
// value is decoded once (decodeService: the one validation) into a fixed-shape object of numbers and
// shared strings: the IPv4 address as an int32, TTL/priority/weight/port as small integers and flag bits,
// `owner`/`cluster`/CNAME targets/short leaf labels interned, the group of a fedns record as a reference
// to its owner name's tree node. Neither the raw JSON nor the key nor the DNS name is kept: they are
// rebuilt on demand from the tree (key, name) or from the fields (service, host). Read through the
// IndexedRecord interface; only records/index.ts creates and places them.
import { decodeValue, type HostType, type SkydnsService } from "./service.ts";
import { FEDNS_OWNER_PREFIX, ownerNameOf, type RecordType, recordType } from "./type.ts";

/** CoreDNS fills a zero priority with 10 when reading records. */
export const DEFAULT_PRIORITY = 10;

export type HostKind = "A" | "AAAA" | "CNAME";

export interface IndexedRecord {
  /** The etcd key (rebuilt from the tree on each read). */
  readonly key: string;
  /** The DNS name the key stands for, leaf label included (CoreDNS `msg.Domain(key)`; rebuilt on each read). */
  readonly name: string;
  /** The stored value as fields (a new object on each read: for tools and tests, not the answer path). */
  readonly service: SkydnsService;
  /** What `host` is (a new object on each read; the answer path reads hostKind/address/target). */
  readonly host: HostType;
  /** A, AAAA or CNAME (a name host); undefined without a host (a TXT record). */
  readonly hostKind: HostKind | undefined;
  /** The address of an A/AAAA host, canonical. */
  readonly address: string | undefined;
  /** The name of a name host, normalized. */
  readonly target: string | undefined;
  /** TTL served: the record's own, else the index default. */
  readonly ttl: number;
  /** Priority served: the record's own, else 10. */
  readonly priority: number;
  /** The raw fields that have no served default (undefined when absent). */
  readonly port: number | undefined;
  readonly weight: number | undefined;
  readonly targetstrip: number | undefined;
  readonly text: string | undefined;
  readonly group: string | undefined;
  readonly mail: boolean | undefined;
  readonly cluster: string | undefined;
  readonly modRevision: number;
  /** The name the record answers for (ownerNameOf). */
  readonly owner: string;
  /** The record's type (recordType). */
  readonly type: RecordType;
  /** Written by fedns: answers only at `owner`, only as `type`. */
  readonly fedns: boolean;
}

/** What a stored record needs of the tree node it hangs below: enough to rebuild its key and name. */
export interface PathNode {
  readonly label: string;
  readonly parent: PathNode | undefined;
}

const TYPES: readonly RecordType[] = ["A", "AAAA", "CNAME", "TXT", "SRV", "MX", "PTR", "INVALID"];
const KINDS: readonly (HostKind | undefined)[] = [undefined, "A", "AAAA", "CNAME"];

// bits: the port + 2 in the low 17 bits (0: no port, 1: CoreDNS's -1 "no port"), then the type, the host
// kind and flags.
const PORT_MASK = 0x1ffff;
const TYPE_SHIFT = 17; // 3 bits
const KIND_SHIFT = 20; // 2 bits
const FEDNS = 1 << 22;
const HAS_MAIL = 1 << 23;
const MAIL = 1 << 24;
const HAS_TTL = 1 << 25;
const HAS_PRIORITY = 1 << 26;
const HAS_WEIGHT = 1 << 27;
const HAS_GROUP = 1 << 28;

/** Rarely set fields, kept out of the common shape. */
interface Extra {
  text?: string;
  targetstrip?: number;
  /** The group as written, when it is not exactly its owner node's name (case, trailing dot). */
  rawGroup?: string;
}

/**
 * Strings shared by many records (cluster and owner fields, CNAME targets, short leaf labels like `p80`),
 * one copy each. Bounded: when full it starts over (records keep their strings, later ones share anew).
 */
export class Interner {
  private readonly strings = new Map<string, string>();
  /** owner -> cluster -> Tag (undefined is a key of its own: the field is absent). */
  private readonly tags = new Map<string | undefined, Map<string | undefined, Tag>>();
  private tagCount = 0;
  private readonly max: number;

  constructor(max = 200_000) {
    this.max = max;
  }

  intern(value: string): string {
    const known = this.strings.get(value);
    if (known !== undefined) return known;
    if (this.strings.size >= this.max) this.strings.clear();
    const own = ownString(value);
    this.strings.set(own, own);
    return own;
  }

  /** Distinct strings and tags held (at most `max` each). */
  get size(): { strings: number; tags: number } {
    return { strings: this.strings.size, tags: this.tagCount };
  }

  /** The one Tag object of an (owner, cluster) pair (two Map lookups: no key string built per record). */
  tag(owner: string | undefined, cluster: string | undefined): Tag | undefined {
    if (owner === undefined && cluster === undefined) return undefined;
    let byCluster = this.tags.get(owner);
    const known = byCluster?.get(cluster);
    if (known !== undefined) return known;
    if (this.tagCount >= this.max) {
      this.tags.clear();
      this.tagCount = 0;
      byCluster = undefined;
    }
    const tag: Tag = {
      owner: owner === undefined ? undefined : this.intern(owner),
      cluster: cluster === undefined ? undefined : this.intern(cluster),
    };
    if (byCluster === undefined) {
      byCluster = new Map();
      this.tags.set(tag.owner, byCluster);
    }
    byCluster.set(tag.cluster, tag);
    this.tagCount++;
    return tag;
  }
}

/** The `owner` and `cluster` fields, shared by all records with the same pair. */
interface Tag {
  readonly owner: string | undefined;
  readonly cluster: string | undefined;
}

function ipv4ToInt(address: string): number {
  let value = 0;
  let part = 0;
  for (let i = 0; i < address.length; i++) {
    const code = address.charCodeAt(i);
    if (code === 46) {
      value = (value << 8) | part;
      part = 0;
    } else part = part * 10 + (code - 48);
  }
  return (value << 8) | part;
}

function intToIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/**
 * A record's fields as plain numbers and strings, before interning: what a key's value decodes to
 * (recordFields), made on the main thread or in the loader worker and turned into a StoredRecord by its
 * constructor. `bits` and `pw` are StoredRecord's own encodings (see the masks above).
 */
export interface RecordFields {
  label: string;
  /** IPv4 as int32 (host kind A), the canonical IPv6 address (AAAA) or the normalized name (CNAME); else undefined. */
  hostData: number | string | undefined;
  bits: number;
  pw: number;
  /** The record's own TTL, 0 when absent (the index default is served then). */
  ttl: number;
  modRevision: number;
  /** The raw `group`. */
  group: string | undefined;
  owner: string | undefined;
  cluster: string | undefined;
  text: string | undefined;
  targetstrip: number | undefined;
}

/** The fields of a decoded value. */
export function recordFields(
  label: string,
  service: SkydnsService,
  host: HostType | undefined,
  type: RecordType,
  revision: number,
): RecordFields {
  const fedns = service.owner?.startsWith(FEDNS_OWNER_PREFIX) === true;
  let bits = (service.port === undefined ? 0 : service.port + 2) | (TYPES.indexOf(type) << TYPE_SHIFT);
  let kind = 0;
  let hostData: number | string | undefined;
  if (host?.kind === "A") {
    kind = 1;
    hostData = ipv4ToInt(host.address);
  } else if (host?.kind === "AAAA") {
    kind = 2;
    hostData = host.address;
  } else if (host?.kind === "CNAME") {
    kind = 3;
    hostData = host.target;
  }
  bits |= kind << KIND_SHIFT;
  if (fedns) bits |= FEDNS;
  if (service.mail !== undefined) bits |= HAS_MAIL | (service.mail ? MAIL : 0);
  if (service.ttl !== undefined) bits |= HAS_TTL;
  if (service.priority !== undefined) bits |= HAS_PRIORITY;
  if (service.weight !== undefined) bits |= HAS_WEIGHT;
  if (service.group !== undefined) bits |= HAS_GROUP;
  return {
    label,
    hostData,
    bits,
    pw: ((service.priority ?? 0) << 16) | (service.weight ?? 0),
    ttl: service.ttl ?? 0,
    modRevision: revision,
    group: service.group,
    owner: service.owner,
    cluster: service.cluster,
    text: service.text,
    targetstrip: service.targetstrip,
  };
}

/**
 * A value read for the key named `name` (leaf label `label`): its fields and owner name, or why it is
 * unusable (decodeValue + ownerNameOf + recordType: the one reading of a value, here and in the worker).
 */
export function decodeFields(
  name: string,
  label: string,
  value: string,
  revision: number,
): { ok: true; fields: RecordFields; owner: string } | { ok: false; error: string } {
  const decoded = decodeValue(value);
  if (!decoded.ok) return decoded;
  const service = decoded.service;
  const owner = ownerNameOf({ name, service });
  const type = recordType({ name, service }, { host: decoded.host, owner });
  return { ok: true, fields: recordFields(label, service, decoded.host, type, revision), owner };
}

/** `bits` fields from elsewhere (the worker) are below this (the masks above). */
export const BITS_LIMIT = 1 << 29;
/** The host kind `bits` says: 0 none, 1 A, 2 AAAA, 3 CNAME. */
export function kindOfBits(bits: number): number {
  return (bits >>> KIND_SHIFT) & 3;
}
/** Whether `bits` marks a fedns record. */
export function fednsOfBits(bits: number): boolean {
  return (bits & FEDNS) !== 0;
}

export type Decoded =
  | {
      ok: true;
      record: StoredRecord /** The raw group. */;
      group: string | undefined /** ownerNameOf. */;
      owner: string;
    }
  | { ok: false; error: string };

export class StoredRecord implements IndexedRecord {
  /** The key's last segment, as written. */
  label: string;
  /** The tree node of the key without its last segment; set when placed. */
  parent: PathNode | undefined = undefined;
  /** IPv4 as int32, IPv6 canonical, a name host normalized, undefined without host. */
  private readonly hostData: number | string | undefined;
  readonly ttl: number;
  readonly modRevision: number;
  private readonly bits: number;
  /** priority << 16 | weight (raw values, presence in bits). */
  private readonly pw: number;
  /** fedns records: the owner name's tree node (set when placed). Other writers: the group as written. */
  private groupRef: PathNode | string | undefined;
  private readonly tag: Tag | undefined;
  private extra: Extra | undefined;

  /**
   * A record of fields recordFields() made (here or in the loader worker, store/load-worker.ts). `ownStrings`:
   * the strings are no views of bigger ones (they came through postMessage), ownString() is not needed.
   */
  constructor(fields: RecordFields, defaultTtl: number, interner: Interner, ownStrings = false) {
    const label = fields.label;
    this.label = label.length <= 8 ? interner.intern(label) : ownStrings ? label : ownString(label);
    const bits = fields.bits;
    this.hostData = kindOfBits(bits) === 3 ? interner.intern(fields.hostData as string) : fields.hostData;
    this.bits = bits;
    this.pw = fields.pw;
    this.ttl = fields.ttl > 0 ? fields.ttl : defaultTtl;
    this.modRevision = fields.modRevision;
    this.groupRef = (bits & FEDNS) !== 0 ? undefined : fields.group;
    this.tag = interner.tag(fields.owner, fields.cluster);
    let extra: Extra | undefined;
    if (fields.text !== undefined) extra = { text: fields.text };
    if (fields.targetstrip !== undefined) extra = { ...extra, targetstrip: fields.targetstrip };
    this.extra = extra;
  }

  /**
   * A stored value decoded for the key whose DNS name is `name` (leaf label `label`); `group` is the raw
   * group, for placing. Errors are decodeService's.
   */
  static decode(
    name: string,
    label: string,
    value: string,
    defaultTtl: number,
    revision: number,
    interner: Interner,
  ): Decoded {
    const decoded = decodeFields(name, label, value, revision);
    if (!decoded.ok) return decoded;
    const record = new StoredRecord(decoded.fields, defaultTtl, interner);
    return { ok: true, record, group: decoded.fields.group, owner: decoded.owner };
  }

  /** Keeps a group that is not exactly the owner node's name as written. */
  keepRawGroup(rawGroup: string): void {
    if (this.extra === undefined) this.extra = { rawGroup };
    else this.extra.rawGroup = rawGroup;
  }

  /** True when both serve the same data (modRevision and placement aside). */
  sameData(other: StoredRecord, otherGroup: string | undefined): boolean {
    return (
      this.label === other.label &&
      this.hostData === other.hostData &&
      this.ttl === other.ttl &&
      this.bits === other.bits &&
      this.pw === other.pw &&
      this.tag === other.tag &&
      this.group === otherGroup &&
      this.text === other.text &&
      this.targetstrip === other.targetstrip
    );
  }

  /** The owner name's node of a fedns record, once placed. */
  get ownerNode(): PathNode | undefined {
    return this.fedns && typeof this.groupRef === "object" ? this.groupRef : undefined;
  }

  /** Places a fedns record's owner name. */
  setOwnerNode(node: PathNode): void {
    if (this.fedns) this.groupRef = node;
  }

  get cluster(): string | undefined {
    return this.tag?.cluster;
  }

  get fedns(): boolean {
    return (this.bits & FEDNS) !== 0;
  }

  get type(): RecordType {
    return TYPES[(this.bits >>> TYPE_SHIFT) & 7]!;
  }

  get hostKind(): HostKind | undefined {
    return KINDS[(this.bits >>> KIND_SHIFT) & 3];
  }

  get address(): string | undefined {
    const data = this.hostData;
    if (typeof data === "number") return intToIpv4(data);
    return this.hostKind === "AAAA" ? data : undefined;
  }

  get target(): string | undefined {
    return this.hostKind === "CNAME" ? (this.hostData as string) : undefined;
  }

  get host(): HostType {
    const kind = this.hostKind;
    if (kind === undefined) return { kind: "invalid", reason: "no host" };
    if (kind === "CNAME") return { kind, target: this.hostData as string };
    return { kind, address: this.address! };
  }

  get priority(): number {
    const priority = this.pw >>> 16;
    return priority > 0 ? priority : DEFAULT_PRIORITY;
  }

  get port(): number | undefined {
    const stored = this.bits & PORT_MASK;
    return stored === 0 ? undefined : stored - 2;
  }

  get weight(): number | undefined {
    return (this.bits & HAS_WEIGHT) === 0 ? undefined : this.pw & 0xffff;
  }

  get targetstrip(): number | undefined {
    return this.extra?.targetstrip;
  }

  get text(): string | undefined {
    return this.extra?.text;
  }

  get mail(): boolean | undefined {
    return (this.bits & HAS_MAIL) === 0 ? undefined : (this.bits & MAIL) !== 0;
  }

  get group(): string | undefined {
    if ((this.bits & HAS_GROUP) === 0) return undefined;
    if (!this.fedns) return this.groupRef as string | undefined;
    const raw = this.extra?.rawGroup;
    if (raw !== undefined) return raw;
    return this.ownerNode === undefined ? undefined : nameOfNode(this.ownerNode);
  }

  get key(): string {
    const segments = [this.label];
    for (let node = this.parent; node !== undefined; node = node.parent) segments.push(node.label);
    return segments.reverse().join("/");
  }

  get name(): string {
    const labels = [this.label];
    for (let node = this.parent; node?.parent !== undefined; node = node.parent) labels.push(node.label);
    return labels.join(".").toLowerCase();
  }

  get owner(): string {
    if (this.fedns && this.ownerNode !== undefined) return nameOfNode(this.ownerNode);
    const name = this.name;
    const group = this.group;
    if (group === undefined || group === "") return name;
    const normal = group.toLowerCase().replace(/\.$/, "");
    if (normal === name || normal === "" || name.endsWith(`.${normal}`)) return normal;
    return name;
  }

  get service(): SkydnsService {
    const kind = this.hostKind;
    const service: SkydnsService = { host: kind === undefined ? "" : kind === "CNAME" ? this.target! : this.address! };
    const port = this.port;
    if (port !== undefined) service.port = port;
    if ((this.bits & HAS_PRIORITY) !== 0) service.priority = this.pw >>> 16;
    if (this.weight !== undefined) service.weight = this.weight;
    if (this.text !== undefined) service.text = this.text;
    if (this.mail !== undefined) service.mail = this.mail;
    if ((this.bits & HAS_TTL) !== 0) service.ttl = this.ttl;
    if (this.targetstrip !== undefined) service.targetstrip = this.targetstrip;
    const group = this.group;
    if (group !== undefined) service.group = group;
    if (this.tag?.owner !== undefined) service.owner = this.tag.owner;
    if (this.tag?.cluster !== undefined) service.cluster = this.tag.cluster;
    return service;
  }
}

/** V8 keeps a substring of 13 characters or more as a view of the whole string it was cut from. */
const SLICE_MIN = 13;

/**
 * A string that holds only its own characters: a key's segment cut out with split() would otherwise
 * keep the whole key (and the page's text around it) alive for as long as the index holds the label.
 */
export function ownString(value: string): string {
  return value.length < SLICE_MIN ? value : (JSON.parse(JSON.stringify(value)) as string);
}

/** The DNS name of a tree node (the root's label is the key prefix, no part of names). */
export function nameOfNode(node: PathNode): string {
  const labels: string[] = [];
  for (let at: PathNode | undefined = node; at?.parent !== undefined; at = at.parent) labels.push(at.label);
  return labels.join(".").toLowerCase();
}
