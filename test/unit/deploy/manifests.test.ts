// Renders the kustomizations under deploy/ and checks the properties the operator docs
// promise: probes on the metrics port, non-root read-only pods, port 53 over UDP and TCP
// mapped to what the DNS server listens on, mounts where fedns.yaml expects its files,
// and member-cluster RBAC that allows list/watch on three resources and nothing more.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { parse, parseAllDocuments } from "yaml";
import { loadConfigFile } from "../../../src/config/load.ts";

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  type?: string;
}
interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: ContainerPort[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
}
interface PodSpec {
  containers: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
  automountServiceAccountToken?: boolean;
}
interface WorkloadSpec {
  replicas?: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
}
interface EtcdIdentity {
  passwordFile?: string;
  tls?: { ca?: string; cert?: string; key?: string };
}
interface FednsConfig {
  dns?: { listen?: string; etcd?: EtcdIdentity };
  etcd?: EtcdIdentity & { endpoints?: string[] };
  kubeconfig?: string;
  clusters?: { name: string; kubeconfig: string }[];
}

const overlays = ["bundled-etcd", "external-etcd", "example"];

function kubectlAvailable(): boolean {
  try {
    execFileSync("kubectl", ["kustomize", "--help"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function render(dir: string): K8sObject[] {
  const text = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8" });
  return parseAllDocuments(text).map((doc) => doc.toJS() as K8sObject);
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} in ${objects.map((o) => o.kind).join(",")}`);
  return found;
}

function workload(object: K8sObject): WorkloadSpec {
  return object.spec as unknown as WorkloadSpec;
}

function onlyContainer(object: K8sObject): Container {
  const containers = workload(object).template.spec.containers;
  expect(containers, `${object.metadata.name} containers`).to.have.length(1);
  return containers[0]!;
}

function configOf(objects: K8sObject[]): FednsConfig {
  const maps = objects.filter((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("fedns-config"));
  expect(maps, "fedns-config ConfigMaps").to.have.length(1);
  const text = maps[0]!.data?.["fedns.yaml"];
  expect(text, "fedns.yaml in fedns-config").to.be.a("string");
  return parse(text!) as FednsConfig;
}

function configPath(container: Container): string {
  const flag = (container.args ?? []).find((a) => a.startsWith("--config="));
  expect(flag, `${container.name} --config flag`).to.be.a("string");
  return flag!.slice("--config=".length);
}

/** The volume mounted at the longest mountPath that contains path, or undefined. */
function volumeFor(pod: PodSpec, container: Container, path: string) {
  const mounts = (container.volumeMounts ?? []).filter(
    (m) => path === m.mountPath || path.startsWith(`${m.mountPath.replace(/\/$/, "")}/`),
  );
  mounts.sort((a, b) => b.mountPath.length - a.mountPath.length);
  const mount = mounts[0];
  if (mount === undefined) return undefined;
  return pod.volumes?.find((v) => v.name === mount.name);
}

/** The credential files an etcd identity in fedns.yaml names. */
function credentialFiles(identity: EtcdIdentity | undefined): string[] {
  const files = [identity?.passwordFile, identity?.tls?.ca, identity?.tls?.cert, identity?.tls?.key];
  return files.filter((f): f is string => f !== undefined);
}

/** The metrics address is the pod's own IP (downward API), never 0.0.0.0. */
function expectMetricsOnPodIp(container: Container, port: number): void {
  expect(container.args).to.include(`--metrics=$(POD_IP):${port}`);
  expect(container.args?.some((a) => a.startsWith("--metrics=0.0.0.0"))).to.equal(false);
  const env = (container.env ?? []).find((e) => e.name === "POD_IP");
  expect(env?.valueFrom?.fieldRef?.fieldPath, `${container.name} POD_IP`).to.equal("status.podIP");
}

function portOf(listen: string): number {
  const match = /:(\d+)$/.exec(listen);
  if (match === null) throw new Error(`no port in ${listen}`);
  return Number(match[1]);
}

function namedPort(container: Container, name: string | number): ContainerPort | undefined {
  return (container.ports ?? []).find((p) => p.name === name || p.containerPort === name);
}

function expectHardened(object: K8sObject): void {
  const pod = workload(object).template.spec;
  const what = `${object.kind} ${object.metadata.name}`;
  expect(pod.securityContext?.runAsNonRoot, `${what} runAsNonRoot`).to.equal(true);
  expect(pod.securityContext?.runAsUser, `${what} runAsUser`).to.be.a("number").above(0);
  expect(pod.securityContext?.seccompProfile?.type, `${what} seccomp`).to.equal("RuntimeDefault");
  for (const c of pod.containers) {
    expect(c.securityContext?.readOnlyRootFilesystem, `${what}/${c.name} readOnlyRootFilesystem`).to.equal(true);
    expect(c.securityContext?.allowPrivilegeEscalation, `${what}/${c.name} allowPrivilegeEscalation`).to.equal(false);
    expect(c.securityContext?.capabilities?.drop, `${what}/${c.name} drop`).to.deep.equal(["ALL"]);
    expect(c.securityContext?.capabilities?.add, `${what}/${c.name} add`).to.equal(undefined);
    expect(c.resources?.requests?.cpu, `${what}/${c.name} cpu request`).to.be.a("string");
    expect(c.resources?.requests?.memory, `${what}/${c.name} memory request`).to.be.a("string");
    expect(c.resources?.limits?.memory, `${what}/${c.name} memory limit`).to.be.a("string");
  }
}

interface NetworkPolicySpec {
  podSelector: { matchLabels?: Record<string, string> };
  policyTypes: string[];
  ingress: {
    from?: Record<string, unknown>[];
    ports: { port: number; protocol?: string }[];
  }[];
}

function expectSelects(selector: Record<string, string>, labels: Record<string, string>, what: string): void {
  for (const [key, value] of Object.entries(selector)) expect(labels[key], `${what} selects ${key}`).to.equal(value);
}

describe("deploy/ manifests", () => {
  before(function () {
    if (!kubectlAvailable()) this.skip();
  });

  for (const overlay of overlays) {
    describe(`overlays/${overlay}`, () => {
      let objects: K8sObject[] = [];
      before(() => {
        objects = render(`deploy/overlays/${overlay}`);
      });

      it("puts every namespaced object into the fedns namespace, which enforces the restricted pod security", () => {
        const namespace = find(objects, "Namespace", "fedns");
        expect(namespace.metadata.labels?.["pod-security.kubernetes.io/enforce"]).to.equal("restricted");
        for (const o of objects.filter((o) => o.kind !== "Namespace")) {
          expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).to.equal("fedns");
        }
      });

      it("runs at least two non-root, read-only DNS servers probed on their metrics port", () => {
        const dns = find(objects, "Deployment", "fedns-dns");
        expect(workload(dns).replicas).to.be.at.least(2);
        expectHardened(dns);
        const container = onlyContainer(dns);
        expect(container.args?.[0]).to.equal("serve");
        // Traffic only after the index is loaded; then not withdrawn from every replica at once when etcd is away.
        expect(container.startupProbe?.httpGet?.path).to.equal("/readyz");
        expect(container.readinessProbe?.httpGet?.path).to.equal("/readyz?degraded=ok");
        expect(container.livenessProbe?.httpGet?.path).to.equal("/healthz");
        const metrics = namedPort(container, container.readinessProbe!.httpGet!.port);
        expect(metrics, "readiness probe port").to.not.equal(undefined);
        expectMetricsOnPodIp(container, metrics!.containerPort);
        expect(namedPort(container, container.livenessProbe!.httpGet!.port)).to.deep.equal(metrics);
        expect(namedPort(container, container.startupProbe!.httpGet!.port)).to.deep.equal(metrics);
      });

      it("exposes port 53 over UDP and TCP on the port the DNS server listens on", () => {
        const dns = find(objects, "Deployment", "fedns-dns");
        const container = onlyContainer(dns);
        const listenPort = portOf(configOf(objects).dns?.listen ?? "");
        const service = find(objects, "Service", "fedns-dns");
        expectSelects(
          (service.spec as { selector: Record<string, string> }).selector,
          workload(dns).template.metadata.labels,
          "fedns-dns Service",
        );
        const ports = (service.spec as { ports: { port: number; protocol: string; targetPort: string }[] }).ports;
        expect(ports.map((p) => `${p.port}/${p.protocol}`).sort()).to.deep.equal(["53/TCP", "53/UDP"]);
        for (const port of ports) {
          const target = namedPort(container, port.targetPort);
          expect(target, `target of ${port.protocol}`).to.not.equal(undefined);
          expect(target!.protocol).to.equal(port.protocol);
          expect(target!.containerPort).to.equal(listenPort);
        }
      });

      it("runs two hardened controllers with the member kubeconfigs mounted where fedns.yaml reads them", () => {
        const controller = find(objects, "Deployment", "fedns-controller");
        expect(workload(controller).replicas).to.equal(2);
        expectHardened(controller);
        const container = onlyContainer(controller);
        expect(container.args?.[0]).to.equal("controller");
        expect(container.livenessProbe?.httpGet?.path).to.equal("/healthz");
        expect(container.readinessProbe?.httpGet?.path).to.equal("/readyz");
        const metrics = namedPort(container, container.readinessProbe!.httpGet!.port);
        expectMetricsOnPodIp(container, metrics!.containerPort);
        const config = configOf(objects);
        const kubeconfigs = [config.kubeconfig, ...(config.clusters ?? []).map((c) => c.kubeconfig)];
        expect(kubeconfigs.filter((k) => k !== undefined)).to.not.be.empty;
        for (const path of kubeconfigs.filter((k): k is string => k !== undefined)) {
          const volume = volumeFor(workload(controller).template.spec, container, path);
          expect(volume?.secret?.secretName, path).to.equal("fedns-member-kubeconfigs");
        }
      });

      it("mounts fedns.yaml into both processes, and each process only its own etcd credentials", () => {
        const config = configOf(objects);
        const configMap = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("fedns-config"))!;
        const controllerFiles = credentialFiles(config.etcd);
        // The DNS servers use dns.etcd when it is set (a read-only identity), else etcd's.
        expect(config.dns?.etcd, "fedns.yaml gives the DNS servers their own etcd identity").to.not.equal(undefined);
        const dnsFiles = credentialFiles(config.dns?.etcd);
        expect(dnsFiles, "dns.etcd credentials").to.not.be.empty;
        for (const [name, own, others] of [
          ["fedns-controller", controllerFiles, dnsFiles],
          ["fedns-dns", dnsFiles, controllerFiles],
        ] as const) {
          const deployment = find(objects, "Deployment", name);
          const pod = workload(deployment).template.spec;
          const container = onlyContainer(deployment);
          const path = configPath(container);
          expect(path.endsWith("/fedns.yaml"), path).to.equal(true);
          expect(volumeFor(pod, container, path)?.configMap?.name, `${name} config`).to.equal(configMap.metadata.name);
          for (const file of own) {
            expect(volumeFor(pod, container, file)?.secret, `${name} mounts ${file}`).to.not.equal(undefined);
          }
          const ownSecrets = new Set(own.map((file) => volumeFor(pod, container, file)?.secret?.secretName));
          for (const file of others.filter((f) => !own.includes(f))) {
            const secret = volumeFor(pod, container, file)?.secret?.secretName;
            expect(secret === undefined || ownSecrets.has(secret), `${name} must not mount ${file}`).to.equal(true);
          }
        }
        // And no Secret is mounted by both (a shared CA aside, each Secret holds one identity).
        const secretsOf = (name: string): string[] =>
          (workload(find(objects, "Deployment", name)).template.spec.volumes ?? []).flatMap((v) =>
            v.secret === undefined ? [] : [v.secret.secretName],
          );
        const shared = secretsOf("fedns-dns").filter((secret) => secretsOf("fedns-controller").includes(secret));
        expect(shared, "Secrets mounted by both Deployments").to.deep.equal([]);
      });

      it("has NetworkPolicies: DNS open on its port, metrics only from the monitoring namespace", () => {
        const dnsPolicy = find(objects, "NetworkPolicy", "fedns-dns").spec as unknown as NetworkPolicySpec;
        const dns = find(objects, "Deployment", "fedns-dns");
        expectSelects(dnsPolicy.podSelector.matchLabels!, workload(dns).template.metadata.labels, "fedns-dns policy");
        const listenPort = portOf(configOf(objects).dns?.listen ?? "");
        const open = dnsPolicy.ingress.filter((rule) => rule.from === undefined);
        expect(open.flatMap((rule) => rule.ports.map((p) => `${p.port}/${p.protocol}`)).sort()).to.deep.equal([
          `${listenPort}/TCP`,
          `${listenPort}/UDP`,
        ]);
        for (const [name, port] of [
          ["fedns-dns", 9153],
          ["fedns-controller", 9154],
        ] as const) {
          const policy = find(objects, "NetworkPolicy", name).spec as unknown as NetworkPolicySpec;
          expect(policy.policyTypes).to.deep.equal(["Ingress"]);
          const rules = policy.ingress.filter((rule) => rule.ports.some((p) => p.port === port));
          expect(rules, `${name} metrics rules`).to.have.length(1);
          expect(rules[0]!.from).to.deep.equal([
            { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } },
          ]);
        }
        const controllerPolicy = find(objects, "NetworkPolicy", "fedns-controller")
          .spec as unknown as NetworkPolicySpec;
        expect(controllerPolicy.ingress.flatMap((rule) => rule.ports.map((p) => p.port))).to.deep.equal([9154]);
      });

      it("has disruption budgets that select the fedns pods", () => {
        for (const name of ["fedns-dns", "fedns-controller"]) {
          const budget = find(objects, "PodDisruptionBudget", name);
          const deployment = find(objects, "Deployment", name);
          expectSelects(
            (budget.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels,
            workload(deployment).template.metadata.labels,
            `PDB ${name}`,
          );
        }
      });
    });
  }

  describe("overlays/bundled-etcd", () => {
    let objects: K8sObject[] = [];
    before(() => {
      objects = render("deploy/overlays/bundled-etcd");
    });

    it("runs a 3-member etcd that can bootstrap: parallel start, peers published before ready, one member per node", () => {
      const etcd = find(objects, "StatefulSet", "fedns-etcd");
      const spec = etcd.spec as unknown as WorkloadSpec & {
        serviceName: string;
        podManagementPolicy: string;
        volumeClaimTemplates: unknown[];
      };
      expect(spec.replicas).to.equal(3);
      expect(spec.podManagementPolicy).to.equal("Parallel");
      expect(spec.volumeClaimTemplates).to.have.length(1);
      expectHardened(etcd);
      const pod = spec.template.spec as PodSpec & {
        affinity?: { podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { topologyKey: string }[] } };
      };
      expect(pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0]?.topologyKey).to.equal(
        "kubernetes.io/hostname",
      );
      const headless = find(objects, "Service", spec.serviceName).spec as {
        clusterIP: string;
        publishNotReadyAddresses: boolean;
      };
      expect(headless.clusterIP).to.equal("None");
      expect(headless.publishNotReadyAddresses).to.equal(true);

      const args = onlyContainer(etcd).args ?? [];
      const initial = args.find((a) => a.startsWith("--initial-cluster="))!;
      const members = initial.slice("--initial-cluster=".length).split(",");
      expect(members.map((m) => m.split("=")[0])).to.deep.equal(["fedns-etcd-0", "fedns-etcd-1", "fedns-etcd-2"]);
      for (const [i, member] of members.entries()) {
        expect(member).to.match(new RegExp(`^fedns-etcd-${i}=https://fedns-etcd-${i}\\.${spec.serviceName}\\.`));
      }
    });

    it("runs etcd with client and peer TLS, client certificates required, from the Secrets make-etcd-secrets.sh writes", () => {
      const etcd = find(objects, "StatefulSet", "fedns-etcd");
      const pod = workload(etcd).template.spec;
      const container = onlyContainer(etcd);
      const args = container.args ?? [];
      const flag = (name: string): string | undefined =>
        args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
      for (const url of [
        "listen-client-urls",
        "advertise-client-urls",
        "listen-peer-urls",
        "initial-advertise-peer-urls",
      ]) {
        expect(flag(url), url).to.match(/^https:\/\//);
      }
      expect(flag("client-cert-auth")).to.equal("true");
      expect(flag("peer-client-cert-auth")).to.equal("true");
      const script = readFileSync("deploy/overlays/bundled-etcd/make-etcd-secrets.sh", "utf8");
      const secretOf = (path: string): string | undefined => volumeFor(pod, container, path)?.secret?.secretName;
      for (const [file, secret] of [
        ["cert-file", "fedns-etcd-server-tls"],
        ["key-file", "fedns-etcd-server-tls"],
        ["trusted-ca-file", "fedns-etcd-server-tls"],
        ["peer-cert-file", "fedns-etcd-peer-tls"],
        ["peer-key-file", "fedns-etcd-peer-tls"],
        ["peer-trusted-ca-file", "fedns-etcd-peer-tls"],
      ] as const) {
        expect(secretOf(flag(file) ?? ""), file).to.equal(secret);
        expect(script, `make-etcd-secrets.sh writes ${secret}`).to.include(`secret ${secret} `);
      }
      // The root certificate for bootstrap-etcd-auth.sh, where its kubectl exec expects it.
      const bootstrap = readFileSync("deploy/overlays/bundled-etcd/bootstrap-etcd-auth.sh", "utf8");
      const rootCert = /--cert=(\/etc\/\S+)/.exec(bootstrap)?.[1];
      expect(secretOf(rootCert ?? ""), "root certificate").to.equal("fedns-etcd-root-tls");
      for (const secret of ["fedns-etcd-controller-tls", "fedns-etcd-dns-tls"]) {
        expect(script, `make-etcd-secrets.sh writes ${secret}`).to.include(`secret ${secret} `);
      }
    });

    it("points fedns at every etcd member", () => {
      expect(configOf(objects).etcd?.endpoints).to.deep.equal(
        [0, 1, 2].map((i) => `https://fedns-etcd-${i}.fedns-etcd:2379`),
      );
    });

    it("lets only the controller and DNS pods reach the etcd client port, members the peer port, monitoring the metrics", () => {
      const policy = find(objects, "NetworkPolicy", "fedns-etcd").spec as {
        ingress: {
          from?: { podSelector: { matchExpressions?: { key: string; values: string[] }[] } }[];
          ports: { port: number }[];
        }[];
      };
      const client = policy.ingress.find((rule) => rule.ports.some((p) => p.port === 2379));
      const components = client?.from?.[0]?.podSelector.matchExpressions?.find(
        (e) => e.key === "app.kubernetes.io/component",
      );
      expect(components?.values.sort()).to.deep.equal(["controller", "dns"]);
      const peer = policy.ingress.find((rule) => rule.ports.some((p) => p.port === 2380));
      expect(peer?.from).to.deep.equal([
        { podSelector: { matchLabels: { "app.kubernetes.io/name": "fedns", "app.kubernetes.io/component": "etcd" } } },
      ]);
      const metrics = policy.ingress.find((rule) => rule.ports.some((p) => p.port === 2381));
      expect(metrics?.from).to.deep.equal([
        { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } },
      ]);
      expect(policy.ingress.every((rule) => rule.from !== undefined)).to.equal(true);
    });
  });

  describe("member-cluster", () => {
    let objects: K8sObject[] = [];
    before(() => {
      objects = render("deploy/member-cluster");
    });

    it("grants get/list/watch on services, nodes and endpointslices and nothing else", () => {
      const role = find(objects, "ClusterRole", "fedns-reader");
      const granted = new Set<string>();
      for (const rule of role.rules ?? []) {
        for (const group of rule.apiGroups)
          for (const resource of rule.resources)
            for (const verb of rule.verbs) granted.add(`${group}/${resource}:${verb}`);
      }
      const wanted = ["/services", "/nodes", "discovery.k8s.io/endpointslices"].flatMap((r) =>
        ["get", "list", "watch"].map((v) => `${r}:${v}`),
      );
      expect([...granted].sort()).to.deep.equal(wanted.sort());
    });

    it("binds the role to the ServiceAccount whose long-lived token the script reads", () => {
      const account = find(objects, "ServiceAccount", "fedns-reader");
      const binding = find(objects, "ClusterRoleBinding", "fedns-reader");
      expect(binding.roleRef).to.deep.include({ kind: "ClusterRole", name: "fedns-reader" });
      expect(binding.subjects).to.deep.equal([
        { kind: "ServiceAccount", name: "fedns-reader", namespace: account.metadata.namespace },
      ]);
      const token = find(objects, "Secret", "fedns-reader-token");
      expect(token.type).to.equal("kubernetes.io/service-account-token");
      expect(token.metadata.annotations?.["kubernetes.io/service-account.name"]).to.equal("fedns-reader");
      expect(token.metadata.namespace).to.equal(account.metadata.namespace);
      const script = readFileSync("deploy/member-cluster/make-kubeconfig.sh", "utf8");
      expect(script).to.include(`namespace="${account.metadata.namespace}"`);
      expect(script).to.include(`secret="${token.metadata.name}"`);
    });
  });
});

describe("config/ examples", () => {
  for (const file of [
    "config/fedns.dev.yaml",
    "config/fedns.production.yaml",
    "deploy/overlays/bundled-etcd/fedns.yaml",
    "deploy/overlays/external-etcd/fedns.yaml",
  ]) {
    it(`${file} passes the config schema`, async () => {
      const config = await loadConfigFile(file);
      expect(config.federation).to.be.a("string");
      expect(config.domain).to.be.a("string");
    });
  }

  it("fedns.production.yaml reads its etcd credentials and kubeconfigs where the external-etcd overlay mounts them", function () {
    if (!kubectlAvailable()) this.skip();
    const config = parse(readFileSync("config/fedns.production.yaml", "utf8")) as FednsConfig;
    expect(config.etcd?.tls?.ca, "TLS to etcd").to.be.a("string");
    expect(config.etcd?.passwordFile, "etcd auth").to.be.a("string");
    expect(config.clusters).to.have.length(3);
    const objects = render("deploy/overlays/external-etcd");
    const files = [config.etcd?.passwordFile, config.etcd?.tls?.ca, config.etcd?.tls?.cert, config.etcd?.tls?.key];
    const controller = find(objects, "Deployment", "fedns-controller");
    const pod = workload(controller).template.spec;
    const container = onlyContainer(controller);
    for (const file of files.filter((f): f is string => f !== undefined)) {
      expect(volumeFor(pod, container, file)?.secret, file).to.not.equal(undefined);
    }
    for (const cluster of config.clusters ?? []) {
      expect(volumeFor(pod, container, cluster.kubeconfig)?.secret?.secretName, cluster.name).to.equal(
        "fedns-member-kubeconfigs",
      );
    }
    const dnsDeployment = find(objects, "Deployment", "fedns-dns");
    const dns = onlyContainer(dnsDeployment);
    expect(namedPort(dns, "dns-udp")?.containerPort).to.equal(portOf(config.dns?.listen ?? ""));
    expect(config.dns?.etcd?.passwordFile, "the DNS servers' own etcd user").to.be.a("string");
    for (const file of credentialFiles(config.dns?.etcd)) {
      expect(volumeFor(workload(dnsDeployment).template.spec, dns, file)?.secret, file).to.not.equal(undefined);
    }
  });

  it("fedns.dev.yaml keeps everything on the loopback interface", () => {
    const config = parse(readFileSync("config/fedns.dev.yaml", "utf8")) as FednsConfig & {
      metrics?: { listen?: string };
    };
    expect(config.dns?.listen).to.match(/^127\.0\.0\.1:\d+$/);
    expect(config.metrics?.listen).to.match(/^127\.0\.0\.1:\d+$/);
    for (const endpoint of config.etcd?.endpoints ?? []) expect(endpoint).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
