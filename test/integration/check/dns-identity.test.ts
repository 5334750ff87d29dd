// `fedns check` against a real etcd with authentication on: it warns dns-identity-can-write when the
// identity `fedns serve` connects with (dns.etcd, else etcd's own) may write, is content when that identity
// is read-only, and the probe itself writes nothing.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { checkDnsIdentity, writeProbeKey } from "../../../src/cli/check/dns-identity.ts";
import { type Finding, runCheck } from "../../../src/cli/check.ts";
import { parseConfig } from "../../../src/config/load.ts";
import type { FednsConfig } from "../../../src/config/schema.ts";
import { type EtcdProcess, startEtcd } from "../../support/etcd.ts";
import { type EtcdAuth, type EtcdUser, enableEtcdAuth } from "../../support/etcd-auth.ts";

const IDENTITY_CODES = ["dns-identity-can-write", "dns-identity-read-only", "dns-identity-cannot-read"];

describe("fedns check: can the DNS servers' etcd identity write?", function () {
  this.timeout(60_000);
  let etcd: EtcdProcess;
  let auth: EtcdAuth;
  let dir: string;
  const nobody: EtcdUser = { username: "nobody", password: "nobody-password" };

  before(async () => {
    etcd = await startEtcd();
    // A user without any role: may neither read nor write the prefix.
    await etcd.etcdctl(["user", "add", nobody.username, `--new-user-password=${nobody.password}`]);
    auth = await enableEtcdAuth(etcd);
    dir = await mkdtemp(join(tmpdir(), "fedns-check-identity-"));
    for (const user of [auth.controller, auth.dns, nobody]) {
      await writeFile(join(dir, user.username), user.password);
    }
  });

  after(async () => {
    await etcd?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  function configWith(dnsUser: EtcdUser | undefined): FednsConfig {
    return parseConfig({
      federation: "myfed",
      domain: "example.com",
      etcd: {
        endpoints: [etcd.endpoint],
        prefix: "/skydns",
        username: auth.controller.username,
        passwordFile: join(dir, auth.controller.username),
      },
      dns:
        dnsUser === undefined
          ? {}
          : { etcd: { username: dnsUser.username, passwordFile: join(dir, dnsUser.username) } },
      log: { level: "silent" },
    });
  }

  async function identityFindings(dnsUser: EtcdUser | undefined): Promise<Finding[]> {
    const report = await runCheck(configWith(dnsUser), { members: [], skipDns: true, timeoutMs: 5000 });
    return report.findings.filter((finding) => IDENTITY_CODES.includes(finding.code));
  }

  it("warns when dns.etcd names a user that can write", async () => {
    const findings = await identityFindings(auth.controller);
    expect(findings.map((f) => [f.severity, f.code])).to.deep.equal([["warn", "dns-identity-can-write"]]);
    expect(findings[0]!.message).to.contain("user fedns").and.contain("/skydns/");
  });

  it("warns when there is no dns.etcd: fedns serve then uses the controller's read-write identity", async () => {
    const findings = await identityFindings(undefined);
    expect(findings.map((f) => [f.severity, f.code])).to.deep.equal([["warn", "dns-identity-can-write"]]);
    expect(findings[0]!.fix).to.contain("dns.etcd");
  });

  it("is content with a read-only dns.etcd user", async () => {
    const findings = await identityFindings(auth.dns);
    expect(findings.map((f) => [f.severity, f.code])).to.deep.equal([["ok", "dns-identity-read-only"]]);
  });

  it("reports an identity that cannot even read the prefix as an error", async () => {
    const findings = await identityFindings(nobody);
    expect(findings.map((f) => [f.severity, f.code])).to.deep.equal([["error", "dns-identity-cannot-read"]]);
  });

  it("writes nothing while probing a read-write identity", async () => {
    const before = await etcd.etcdctl([`--user=root:${auth.root.password}`, "endpoint", "status", "-w", "json"]);
    const findings = await checkDnsIdentity(configWith(auth.controller), 5000);
    expect(findings.map((f) => f.code)).to.deep.equal(["dns-identity-can-write"]);
    const after = await etcd.etcdctl([`--user=root:${auth.root.password}`, "endpoint", "status", "-w", "json"]);
    const revision = (text: string): number =>
      (JSON.parse(text) as { Status: { header: { revision: number } } }[])[0]!.Status.header.revision;
    expect(revision(after)).to.equal(revision(before));
    const probe = writeProbeKey("/skydns");
    expect(await etcd.etcdctl([`--user=root:${auth.root.password}`, "get", probe])).to.equal("");
  });

  it("leaves the question open, without failing, where the DNS servers' password file is not mounted", async () => {
    const config = configWith(auth.dns);
    const elsewhere = {
      ...config,
      dns: { ...config.dns, etcd: { ...config.dns.etcd, passwordFile: join(dir, "absent") } },
    };
    const findings = await checkDnsIdentity(elsewhere, 5000);
    expect(findings.map((f) => [f.severity, f.code])).to.deep.equal([["ok", "dns-identity-not-checked"]]);
    expect(findings[0]!.message).to.contain("dns.etcd.passwordFile");
  });
});
