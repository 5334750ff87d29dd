// Who may transfer a zone: a list of rules, each by source networks and/or a TSIG key; a request is
// allowed when one rule matches all it names. No rule, no transfer (REFUSED, as for any other zone).
import { addressBytes, inNetwork, type Network, parseNetwork } from "../dns/client-address.ts";
import { normalizeName } from "../records/name.ts";

export interface AclRuleConfig {
  networks?: string[];
  key?: string;
}

interface Rule {
  networks: Network[] | undefined;
  key: string | undefined;
}

export class TransferAcl {
  private readonly rules: Rule[];

  constructor(rules: readonly AclRuleConfig[]) {
    this.rules = rules.map((rule) => ({
      networks: rule.networks?.map(parseNetwork),
      key: rule.key === undefined ? undefined : normalizeName(rule.key),
    }));
  }

  /** `key`: the request's verified TSIG key name, undefined when unsigned. */
  allows(address: string | undefined, key: string | undefined): boolean {
    const bytes = address === undefined ? new Uint8Array(0) : addressBytes(address);
    return this.rules.some((rule) => {
      if (rule.key !== undefined && rule.key !== key) return false;
      if (rule.networks !== undefined && !rule.networks.some((network) => inNetwork(bytes, network))) return false;
      return rule.key !== undefined || rule.networks !== undefined;
    });
  }
}
