// The bundled etcd overlay's security, run for real on this machine: make-etcd-secrets.sh makes the
// certificates with openssl; three etcd members start with the TLS flags of deploy's StatefulSet and those
// Secrets (files where the pods mount them); bootstrap-etcd-auth.sh turns auth on (twice: it must be
// idempotent). Then the controller's certificate may write the prefix and campaign, the DNS servers'
// certificate lets `fedns serve` (configured by the overlay's own fedns.yaml) load and answer but not write,
// and a client without a certificate, or with one from another CA, gets nowhere.
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { checkServerIdentity } from "node:tls";
import { promisify } from "node:util";
import { expect } from "chai";
import { parse, parseAllDocuments, stringify } from "yaml";
import { dnsEtcdBackend } from "../../../src/cli/backend.ts";
import { checkDnsIdentity } from "../../../src/cli/check/dns-identity.ts";
import { parseConfig } from "../../../src/config/load.ts";
import type { FednsConfig } from "../../../src/config/schema.ts";
import { electionOf } from "../../../src/federation/keys.ts";
import { createEtcdBackend, type EtcdTlsOptions } from "../../../src/store/etcd-kv.ts";
import type { KvBackend } from "../../../src/store/kv.ts";
import { waitForEtcd } from "../../../src/store/local-etcd.ts";
import { dig } from "../../support/dns.ts";
import { ETCD_BINARY, ETCDCTL_BINARY } from "../../support/etcd.ts";
import { eventually, FEDNS_MAIN, waitForHttp } from "../../support/fedns.ts";
import { freePort } from "../../support/ports.ts";
import { type Started, startProcess } from "../../support/processes.ts";

const run = promisify(execFile);
const OVERLAY = resolve("deploy/overlays/bundled-etcd");
const NGINX = "nginx.default.myfed.svc.example.com";
const NGINX_KEY = "/skydns/com/example/svc/myfed/default/nginx";

interface Secret {
  kind: string;
  metadata: { name: string; namespace: string };
  type: string;
  data: Record<string, string>;
}
interface Mount {
  name: string;
  mountPath: string;
}
interface PodTemplate {
  spec: {
    containers: { name: string; args?: string[]; volumeMounts?: Mount[] }[];
    volumes?: { name: string; secret?: { secretName: string } }[];
  };
}
interface Workload {
  spec: { template: PodTemplate };
}

/** Maps the paths a manifest's pod sees (mountPath/key) to where the test wrote each Secret. */
async function mountMap(file: string, secretsDir: string): Promise<(path: string) => string> {
  const workload = parse(await readFile(join(OVERLAY, file), "utf8")) as Workload;
  const pod = workload.spec.template.spec;
  const mounts = pod.containers.flatMap((c) => c.volumeMounts ?? []);
  return (path: string): string => {
    const mount = mounts.find((m) => path.startsWith(`${m.mountPath}/`));
    const secret = pod.volumes?.find((v) => v.name === mount?.name)?.secret?.secretName;
    if (mount === undefined || secret === undefined) throw new Error(`${file} mounts no Secret at ${path}`);
    return join(secretsDir, secret, path.slice(mount.mountPath.length + 1));
  };
}

function files(dir: string): EtcdTlsOptions {
  return { caFile: join(dir, "ca.crt"), certFile: join(dir, "tls.crt"), keyFile: join(dir, "tls.key") };
}

async function refusal(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (err) {
    return String(err);
  }
  return "not refused";
}

describe("deploy/overlays/bundled-etcd: TLS and auth with the generated certificates", function () {
  this.timeout(120_000);
  let dir: string;
  let secretsDir: string;
  let secrets: Secret[];
  const members: Started[] = [];
  const clientPorts: number[] = [];
  const metricsPorts: number[] = [];
  const backends: KvBackend[] = [];
  let rootEtcdctl: string[];
  let serve: Started | undefined;

  const backend = (tls: EtcdTlsOptions | undefined): KvBackend => {
    const created = createEtcdBackend({
      endpoints: clientPorts.map((port) => `https://127.0.0.1:${port}`),
      ...(tls === undefined ? {} : { tls }),
      dialTimeoutMs: 2000,
      requestTimeoutMs: 3000,
    });
    backends.push(created);
    return created;
  };

  before(async function () {
    if (!existsSync(ETCD_BINARY)) this.skip();
    dir = await mkdtemp(join(tmpdir(), "fedns-bundled-etcd-"));
    const out = join(dir, "out");
    await run("bash", [join(OVERLAY, "make-etcd-secrets.sh"), "--out", out, "--namespace", "fedns"]);
    secrets = parseAllDocuments(await readFile(join(out, "secrets.yaml"), "utf8"))
      .map((doc) => doc.toJS() as Secret | null)
      .filter((doc): doc is Secret => doc !== null);
    // As kubelet would mount them: one directory per Secret, one file per key.
    secretsDir = join(dir, "secrets");
    for (const secret of secrets) {
      await mkdir(join(secretsDir, secret.metadata.name), { recursive: true });
      for (const [key, value] of Object.entries(secret.data)) {
        await writeFile(join(secretsDir, secret.metadata.name, key), Buffer.from(value, "base64"), { mode: 0o600 });
      }
    }

    // Three members with the StatefulSet's TLS flags, mapped to the files above; loopback addresses.
    const statefulSet = parse(await readFile(join(OVERLAY, "etcd-statefulset.yaml"), "utf8")) as Workload;
    const etcdPaths = await mountMap("etcd-statefulset.yaml", secretsDir);
    const manifestArgs = statefulSet.spec.template.spec.containers[0]!.args ?? [];
    const tlsFlags = manifestArgs
      .filter((arg) => /^--(peer-)?(cert-file|key-file|trusted-ca-file|client-cert-auth)=/.test(arg))
      .map((arg) => {
        const [flag, value] = arg.split("=", 2) as [string, string];
        return value.startsWith("/") ? `${flag}=${etcdPaths(value)}` : arg;
      });
    expect(tlsFlags, "TLS flags of the StatefulSet").to.have.length(8);
    const peerPorts: number[] = [];
    const used = new Set<number>();
    const port = async (): Promise<number> => {
      let next = await freePort();
      while (used.has(next)) next = await freePort();
      used.add(next);
      return next;
    };
    for (let i = 0; i < 3; i++) {
      clientPorts.push(await port());
      peerPorts.push(await port());
      metricsPorts.push(await port());
    }
    const initialCluster = peerPorts.map((p, i) => `m${i}=https://127.0.0.1:${p}`).join(",");
    for (let i = 0; i < 3; i++) {
      members.push(
        startProcess(ETCD_BINARY, [
          `--name=m${i}`,
          `--data-dir=${join(dir, `data-${i}`)}`,
          `--listen-client-urls=https://127.0.0.1:${clientPorts[i]}`,
          `--advertise-client-urls=https://127.0.0.1:${clientPorts[i]}`,
          `--listen-peer-urls=https://127.0.0.1:${peerPorts[i]}`,
          `--initial-advertise-peer-urls=https://127.0.0.1:${peerPorts[i]}`,
          `--initial-cluster=${initialCluster}`,
          "--initial-cluster-state=new",
          "--initial-cluster-token=fedns-etcd-test",
          `--listen-metrics-urls=http://127.0.0.1:${metricsPorts[i]}`,
          "--log-level=warn",
          "--logger=zap",
          ...tlsFlags,
        ]),
      );
    }
    // Healthy means a quorum, which the members can only form over peer TLS.
    await Promise.all(
      members.map((member, i) =>
        waitForEtcd(`http://127.0.0.1:${metricsPorts[i]}`, {
          exitCode: () => member.child.exitCode,
          output: member.output,
        }),
      ),
    );

    const root = join(secretsDir, "fedns-etcd-root-tls");
    rootEtcdctl = [
      ETCDCTL_BINARY,
      `--endpoints=${clientPorts.map((p) => `https://127.0.0.1:${p}`).join(",")}`,
      `--cacert=${join(root, "ca.crt")}`,
      `--cert=${join(root, "tls.crt")}`,
      `--key=${join(root, "tls.key")}`,
    ];
  });

  after(async () => {
    await serve?.stop();
    await Promise.all(backends.map((b) => b.close().catch(() => undefined)));
    await Promise.all(members.map((m) => m.stop()));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("writes the Secrets the manifests mount, with certificates for the names fedns.yaml uses", async () => {
    expect(secrets.map((s) => s.metadata.name).sort()).to.deep.equal([
      "fedns-etcd-controller-tls",
      "fedns-etcd-dns-tls",
      "fedns-etcd-peer-tls",
      "fedns-etcd-root-tls",
      "fedns-etcd-server-tls",
    ]);
    for (const secret of secrets) {
      expect(secret.type).to.equal("kubernetes.io/tls");
      expect(secret.metadata.namespace).to.equal("fedns");
      expect(Object.keys(secret.data).sort()).to.deep.equal(["ca.crt", "tls.crt", "tls.key"]);
    }
    const certificate = async (secret: string): Promise<X509Certificate> =>
      new X509Certificate(await readFile(join(secretsDir, secret, "tls.crt")));
    // The client certificates' common names are the etcd users bootstrap-etcd-auth.sh creates.
    expect((await certificate("fedns-etcd-controller-tls")).subject).to.equal("CN=fedns");
    expect((await certificate("fedns-etcd-dns-tls")).subject).to.equal("CN=fedns-dns");
    expect((await certificate("fedns-etcd-root-tls")).subject).to.equal("CN=root");
    // Node's own check (what the etcd client runs) accepts the server certificate for every endpoint of the
    // overlay's fedns.yaml.
    const config = parse(await readFile(join(OVERLAY, "fedns.yaml"), "utf8")) as FednsConfig;
    const server = await certificate("fedns-etcd-server-tls");
    const peerCertificate = { subject: { CN: "fedns-etcd" }, subjectaltname: server.subjectAltName ?? "" };
    for (const endpoint of config.etcd.endpoints) {
      const host = new URL(endpoint).hostname;
      expect(checkServerIdentity(host, peerCertificate as never), host).to.equal(undefined);
    }
    // Peers are signed by their own CA: no client certificate verifies as a member's.
    const clientCa = new X509Certificate(await readFile(join(secretsDir, "fedns-etcd-server-tls", "ca.crt")));
    const peerCa = new X509Certificate(await readFile(join(secretsDir, "fedns-etcd-peer-tls", "ca.crt")));
    expect((await certificate("fedns-etcd-dns-tls")).verify(clientCa.publicKey)).to.equal(true);
    expect((await certificate("fedns-etcd-dns-tls")).verify(peerCa.publicKey)).to.equal(false);
  });

  it("turns auth on with bootstrap-etcd-auth.sh, and running it again changes nothing", async () => {
    const env = { ...process.env, ETCDCTL: rootEtcdctl.join(" ") };
    const script = join(OVERLAY, "bootstrap-etcd-auth.sh");
    const first = await run("bash", [script], { env });
    expect(first.stdout).to.contain("user fedns-dns added");
    const second = await run("bash", [script], { env });
    expect(second.stdout).to.not.contain("added");
    const etcdctl = async (args: string[]): Promise<string> =>
      (await run(rootEtcdctl[0]!, [...rootEtcdctl.slice(1), ...args], { env: { ...process.env, ETCDCTL_API: "3" } }))
        .stdout;
    // Auth is on: a certificate from the client CA whose common name is no etcd user (the server's own,
    // CN=fedns-etcd) may no longer read, as it could before.
    const server = join(secretsDir, "fedns-etcd-server-tls");
    const stranger = backend({ ...files(server) });
    expect(await refusal(() => stranger.range("/skydns/"))).to.match(/user name not found|permission denied|invalid/i);
    const dnsRole = await etcdctl(["role", "get", "fedns-dns"]);
    // fedns-dns: read on the prefix, no write at all.
    // The probes' endpoint (plain HTTP, no keys) still reports health with auth on.
    for (const port of metricsPorts) {
      const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { health?: string };
      expect(health.health, `member on ${port}`).to.equal("true");
    }
    expect(dnsRole).to.equal(
      "Role fedns-dns\nKV Read:\n\t[/fedns-serial/, /fedns-serial0) (prefix /fedns-serial/)\n\t[/fedns-short/, /fedns-short0) (prefix /fedns-short/)\n\t[/skydns/, /skydns0) (prefix /skydns/)\nKV Write:\n",
    );
  });

  it("lets the controller's certificate write the prefix and campaign, and nothing else", async () => {
    const controller = backend(files(join(secretsDir, "fedns-etcd-controller-tls")));
    const value = JSON.stringify({ host: "198.51.100.7", ttl: 30, group: NGINX, owner: "fedns/myfed" });
    await controller.txn([], [{ type: "put", key: `${NGINX_KEY}/east-a-1`, value }]);
    expect((await controller.range(`${NGINX_KEY}/`)).kvs).to.have.length(1);
    expect(await refusal(() => controller.txn([], [{ type: "put", key: "/elsewhere/x", value: "x" }]))).to.match(
      /permission denied/i,
    );
    const campaign = controller.campaign(electionOf("myfed"), "controller-0", 5);
    await campaign.elected;
    expect(campaign.isLeader()).to.equal(true);
    await campaign.resign();
  });

  it("runs fedns serve as the DNS servers' certificate from the overlay's fedns.yaml: it answers, and cannot write", async () => {
    // The overlay's fedns.yaml as it is, with the endpoints on loopback and the paths where this test put the
    // Secrets of each Deployment's mounts.
    const raw = parse(await readFile(join(OVERLAY, "fedns.yaml"), "utf8")) as {
      etcd: { endpoints: string[]; tls: Record<string, string> };
      dns: { listen: string; etcd: { tls: Record<string, string> } };
      kubeconfig?: string;
    };
    const controllerPaths = await mountMap("etcd-credentials-controller.yaml", secretsDir);
    const dnsPaths = await mountMap("etcd-credentials-dns.yaml", secretsDir);
    raw.etcd.endpoints = clientPorts.map((p) => `https://127.0.0.1:${p}`);
    // The controller's files do not exist in a DNS pod: serve must not need them.
    for (const key of Object.keys(raw.etcd.tls)) raw.etcd.tls[key] = `${controllerPaths(raw.etcd.tls[key]!)}.absent`;
    for (const key of Object.keys(raw.dns.etcd.tls)) raw.dns.etcd.tls[key] = dnsPaths(raw.dns.etcd.tls[key]!);
    delete raw.kubeconfig;
    const file = join(dir, "fedns.yaml");
    await writeFile(file, stringify(raw));
    const config = parseConfig(raw, file);

    const port = await freePort();
    const metrics = await freePort();
    serve = startProcess(process.execPath, [
      FEDNS_MAIN,
      "serve",
      "--config",
      file,
      "--listen",
      `127.0.0.1:${port}`,
      "--metrics",
      `127.0.0.1:${metrics}`,
    ]);
    await waitForHttp(`http://127.0.0.1:${metrics}/readyz`, serve, 30_000);
    await eventually(
      "fedns serve answers from etcd",
      async () => {
        const answer = await dig({ host: "127.0.0.1", port }, NGINX, "A");
        expect(answer.answer.map((rr) => rr.data)).to.deep.equal(["198.51.100.7"]);
      },
      5000,
    );

    const dns = dnsEtcdBackend(config);
    backends.push(dns);
    expect(await refusal(() => dns.txn([], [{ type: "put", key: `${NGINX_KEY}/rogue`, value: "{}" }]))).to.match(
      /permission denied/i,
    );
    // And fedns check, given the same config, finds it read-only.
    const findings = await checkDnsIdentity(config, 5000);
    expect(findings.map((f) => f.code)).to.deep.equal(["dns-identity-read-only"]);
  });

  it("refuses a client without a certificate, and one whose certificate another CA signed", async () => {
    const server = join(secretsDir, "fedns-etcd-server-tls");
    expect(await refusal(() => backend({ caFile: join(server, "ca.crt") }).range("/skydns/"))).to.not.equal(
      "not refused",
    );
    // The peer certificate (peer CA) is not a client identity.
    const peer = join(secretsDir, "fedns-etcd-peer-tls");
    const impostor = backend({
      caFile: join(server, "ca.crt"),
      certFile: join(peer, "tls.crt"),
      keyFile: join(peer, "tls.key"),
    });
    expect(await refusal(() => impostor.range("/skydns/"))).to.not.equal("not refused");
  });
});
