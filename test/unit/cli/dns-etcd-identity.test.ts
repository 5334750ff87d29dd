// dnsEtcdIdentity(): which etcd settings `fedns serve` connects with. dns.etcd replaces the identity
// (user, password, client certificate) and nothing else; without it serve uses etcd's own.
import { expect } from "chai";
import { dnsEtcdIdentity } from "../../../src/cli/backend.ts";
import { ConfigError, parseConfig } from "../../../src/config/load.ts";

const controller = {
  endpoints: ["https://etcd-1:2379", "https://etcd-2:2379"],
  prefix: "/fed",
  dialTimeoutMs: 1500,
  username: "fedns",
  passwordFile: "/etc/fedns/etcd-auth/password",
  tls: { ca: "/etc/fedns/etcd/ca.crt", cert: "/etc/fedns/etcd/tls.crt", key: "/etc/fedns/etcd/tls.key" },
};

describe("dnsEtcdIdentity", () => {
  it("without dns.etcd: etcd's own settings (the controller's identity)", () => {
    const config = parseConfig({ etcd: controller });
    expect(dnsEtcdIdentity(config)).to.deep.equal({ etcd: config.etcd, field: "etcd" });
  });

  it("with dns.etcd: etcd's endpoints, prefix and CA, dns.etcd's user and password, never the controller's certificate", () => {
    const config = parseConfig({
      etcd: controller,
      dns: { etcd: { username: "fedns-dns", passwordFile: "/etc/fedns/etcd-dns-auth/password" } },
    });
    expect(dnsEtcdIdentity(config)).to.deep.equal({
      etcd: {
        endpoints: controller.endpoints,
        prefix: "/fed",
        dialTimeoutMs: 1500,
        username: "fedns-dns",
        passwordFile: "/etc/fedns/etcd-dns-auth/password",
        tls: { ca: "/etc/fedns/etcd/ca.crt" },
      },
      field: "dns.etcd",
    });
  });

  it("with dns.etcd.tls: its own certificate and CA, and no password unless it gives one", () => {
    const tls = {
      ca: "/etc/fedns/etcd-dns/ca.crt",
      cert: "/etc/fedns/etcd-dns/tls.crt",
      key: "/etc/fedns/etcd-dns/tls.key",
    };
    const { etcd } = dnsEtcdIdentity(parseConfig({ etcd: controller, dns: { etcd: { tls } } }));
    expect(etcd.tls).to.deep.equal(tls);
    expect(etcd.username).to.equal(undefined);
    expect(etcd.password).to.equal(undefined);
    expect(etcd.passwordFile).to.equal(undefined);
  });

  it("rejects unknown fields and PEM contents in dns.etcd, naming the field", () => {
    expect(() => parseConfig({ dns: { etcd: { user: "x" } } })).to.throw(ConfigError, /dns\.etcd/);
    expect(() => parseConfig({ dns: { etcd: { endpoints: ["http://x:1"] } } })).to.throw(ConfigError, /dns\.etcd/);
    expect(() => parseConfig({ dns: { etcd: { tls: { cert: "-----BEGIN CERTIFICATE-----" } } } })).to.throw(
      ConfigError,
      /dns\.etcd\.tls/,
    );
  });
});
