// Longest-prefix match over IPv4 and IPv6 networks: a binary trie, one level per bit, one root per family.
// Pure and bounded: inserting past `maxEntries` is refused, a lookup walks at most 32 or 128 levels.
// A lookup also says how many leading bits decided its result (the RFC 7871 scope prefix length): every
// address sharing those bits with the asked one gets the same match.

interface TrieNode<V> {
  zero: TrieNode<V> | undefined;
  one: TrieNode<V> | undefined;
  /** Present when a network ends here. */
  value: V | undefined;
}

export interface NetworkBytes {
  /** 4 bytes (IPv4) or 16 bytes (IPv6). */
  bytes: Uint8Array;
  prefixLength: number;
}

export interface PrefixMatch<V> {
  /** The value of the longest network holding the address, or undefined when none does. */
  value: V | undefined;
  /** Prefix length of that network (0 when none matched). */
  prefixLength: number;
  /** Leading bits that decided the result: all addresses sharing them match the same way. */
  scope: number;
}

function newNode<V>(): TrieNode<V> {
  return { zero: undefined, one: undefined, value: undefined };
}

function bitAt(bytes: Uint8Array, index: number): number {
  return (bytes[index >> 3]! >> (7 - (index & 7))) & 1;
}

export class PrefixTrie<V> {
  private readonly v4: TrieNode<V> = newNode();
  private readonly v6: TrieNode<V> = newNode();
  private entries = 0;
  readonly maxEntries: number;

  constructor(maxEntries = 1_000_000) {
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries;
  }

  /**
   * Adds a network. Returns "added", "exists" (a value is already there: the first one stays, so earlier
   * inserts take precedence), "full" (maxEntries reached) or "invalid" (bad length or prefix).
   */
  insert(network: NetworkBytes, value: V): "added" | "exists" | "full" | "invalid" {
    const root = this.rootOf(network.bytes);
    const bits = network.bytes.length * 8;
    if (root === undefined || !Number.isInteger(network.prefixLength)) return "invalid";
    if (network.prefixLength < 0 || network.prefixLength > bits) return "invalid";
    let node = root;
    for (let i = 0; i < network.prefixLength; i++) {
      const next = bitAt(network.bytes, i) === 0 ? node.zero : node.one;
      if (next !== undefined) {
        node = next;
        continue;
      }
      if (this.entries >= this.maxEntries) return "full";
      const created = newNode<V>();
      if (bitAt(network.bytes, i) === 0) node.zero = created;
      else node.one = created;
      node = created;
    }
    if (node.value !== undefined) return "exists";
    if (this.entries >= this.maxEntries) return "full";
    node.value = value;
    this.entries++;
    return "added";
  }

  /** Sets the value of a network, adding it or replacing the one there; "full" and "invalid" as insert(). */
  replace(network: NetworkBytes, value: V): "added" | "replaced" | "full" | "invalid" {
    const node = this.find(network);
    if (node !== undefined && node.value !== undefined) {
      node.value = value;
      return "replaced";
    }
    const added = this.insert(network, value);
    return added === "exists" ? "replaced" : added;
  }

  /** Removes a network; nodes left with neither a value nor children are pruned, so scopes stay as if it never was. */
  remove(network: NetworkBytes): boolean {
    const root = this.rootOf(network.bytes);
    if (root === undefined || !Number.isInteger(network.prefixLength)) return false;
    if (network.prefixLength < 0 || network.prefixLength > network.bytes.length * 8) return false;
    const path: TrieNode<V>[] = [root];
    let node = root;
    for (let i = 0; i < network.prefixLength; i++) {
      const next = bitAt(network.bytes, i) === 0 ? node.zero : node.one;
      if (next === undefined) return false;
      node = next;
      path.push(node);
    }
    if (node.value === undefined) return false;
    node.value = undefined;
    this.entries--;
    for (let depth = path.length - 1; depth > 0; depth--) {
      const child = path[depth]!;
      if (child.value !== undefined || child.zero !== undefined || child.one !== undefined) break;
      const parent = path[depth - 1]!;
      if (bitAt(network.bytes, depth - 1) === 0) parent.zero = undefined;
      else parent.one = undefined;
    }
    return true;
  }

  private find(network: NetworkBytes): TrieNode<V> | undefined {
    let node = this.rootOf(network.bytes);
    if (node === undefined || !Number.isInteger(network.prefixLength)) return undefined;
    if (network.prefixLength < 0 || network.prefixLength > network.bytes.length * 8) return undefined;
    for (let i = 0; i < network.prefixLength && node !== undefined; i++) {
      node = bitAt(network.bytes, i) === 0 ? node.zero : node.one;
    }
    return node;
  }

  /**
   * The longest network holding the address, looking at no more than `sourcePrefix` leading bits (an
   * EDNS Client Subnet's source prefix; default all of them).
   */
  match(address: Uint8Array, sourcePrefix?: number): PrefixMatch<V> {
    const root = this.rootOf(address);
    if (root === undefined) return { value: undefined, prefixLength: 0, scope: 0 };
    const bits = address.length * 8;
    const limit = Math.max(0, Math.min(bits, sourcePrefix ?? bits));
    let node = root;
    let best: V | undefined = root.value;
    let bestLength = 0;
    let depth = 0;
    while (depth < limit) {
      const next = bitAt(address, depth) === 0 ? node.zero : node.one;
      if (next === undefined) {
        // Nothing below: these bits decided. Only a branch the other way: the next bit decided too.
        const leaf = node.zero === undefined && node.one === undefined;
        return { value: best, prefixLength: bestLength, scope: leaf ? depth : depth + 1 };
      }
      node = next;
      depth++;
      if (node.value !== undefined) {
        best = node.value;
        bestLength = depth;
      }
    }
    // Ran out of source bits with more specific networks below: the prefix was not specific enough, and a
    // scope longer than the source prefix says so (RFC 7871 §7.2.1); the whole address would decide.
    const deeper = node.zero !== undefined || node.one !== undefined;
    return { value: best, prefixLength: bestLength, scope: deeper ? bits : depth };
  }

  private rootOf(bytes: Uint8Array): TrieNode<V> | undefined {
    if (bytes.length === 4) return this.v4;
    if (bytes.length === 16) return this.v6;
    return undefined;
  }
}
