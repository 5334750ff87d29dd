// deploy/member-cluster/make-kubeconfig.sh against a stand-in kubectl that plays one
// member cluster: the token Secret (filled in only on the second read, as the token
// controller does asynchronously), the API server URL in the user's kubeconfig, and
// `auth can-i` answers for the new credentials.
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { parse } from "yaml";

const run = promisify(execFile);
const script = resolve("deploy/member-cluster/make-kubeconfig.sh");
const token = "eyJhbGciOiJSUzI1NiJ9.fedns-reader-token";
const caData = Buffer.from("-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n").toString("base64");

// Bash stand-in for kubectl. Every call is appended to $FAKE_DIR/calls; can-i answers
// "yes" only for what fedns-reader is granted, unless FAKE_DENY names a resource.
const fakeKubectl = `#!/usr/bin/env bash
set -euo pipefail
echo "$*" >>"$FAKE_DIR/calls"
args="$*"
case "$args" in
  "config current-context") echo east-a ;;
  "config view --minify --context "*) echo "https://api.east-a.example.test:6443" ;;
  *"get secret fedns-reader-token -o go-template="*)
    n=$(cat "$FAKE_DIR/reads" 2>/dev/null || echo 0); echo $((n + 1)) >"$FAKE_DIR/reads"
    if [[ $n -ge 1 ]]; then printf '%s' "$FAKE_TOKEN"; fi ;;
  *"get secret fedns-reader-token -o jsonpath="*) printf '%s' "$FAKE_CA" ;;
  *"auth can-i "*)
    [[ "$args" == *"--kubeconfig "* ]] || { echo "can-i without the new kubeconfig" >&2; exit 2; }
    kubeconfig=$(sed -E 's/.*--kubeconfig ([^ ]+).*/\\1/' <<<"$args")
    grep -q "token: $FAKE_TOKEN" "$kubeconfig" || { echo "kubeconfig lacks the token" >&2; exit 2; }
    if [[ -n "\${FAKE_DENY:-}" && "$args" == *"$FAKE_DENY"* ]]; then echo no; exit 1; fi
    case "$args" in
      *" services "* | *" endpointslices.discovery.k8s.io "* | *" nodes "*) echo yes ;;
      *) echo no; exit 1 ;;
    esac ;;
  *) echo "fake kubectl: unexpected call: $args" >&2; exit 2 ;;
esac
`;

interface Kubeconfig {
  clusters: { name: string; cluster: { server: string; "certificate-authority-data": string } }[];
  users: { name: string; user: { token: string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  "current-context": string;
}

describe("deploy/member-cluster/make-kubeconfig.sh", function () {
  this.timeout(30_000);
  let dir = "";
  let env: NodeJS.ProcessEnv = {};

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "fedns-make-kubeconfig-"));
    writeFileSync(join(dir, "kubectl"), fakeKubectl);
    chmodSync(join(dir, "kubectl"), 0o755);
    env = { ...process.env, PATH: `${dir}:${process.env.PATH}`, FAKE_DIR: dir, FAKE_TOKEN: token, FAKE_CA: caData };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("writes a private kubeconfig named after the cluster, waiting for the token to appear", async () => {
    const output = join(dir, "out.kubeconfig");
    const { stdout } = await run("bash", [script, "--context", "east-a", "--output", output], { env });
    expect(stdout).to.include("member cluster 'east-a'");
    expect(statSync(output).mode & 0o777).to.equal(0o600);
    const config = parse(readFileSync(output, "utf8")) as Kubeconfig;
    expect(config["current-context"]).to.equal("east-a");
    expect(config.contexts).to.deep.equal([{ name: "east-a", context: { cluster: "east-a", user: "fedns-east-a" } }]);
    expect(config.clusters).to.deep.equal([
      {
        name: "east-a",
        cluster: { server: "https://api.east-a.example.test:6443", "certificate-authority-data": caData },
      },
    ]);
    expect(config.users).to.deep.equal([{ name: "fedns-east-a", user: { token } }]);
    expect(readFileSync(join(dir, "reads"), "utf8").trim()).to.equal("2");
    const calls = readFileSync(join(dir, "calls"), "utf8");
    expect(calls).to.not.include(token);
    expect(calls).to.include("auth can-i watch endpointslices.discovery.k8s.io --all-namespaces");
  });

  it("is a kubeconfig that kubectl itself accepts", async function () {
    let kubectl = "";
    try {
      kubectl = execFileSync("bash", ["-c", "command -v kubectl"], { encoding: "utf8" }).trim();
    } catch {
      this.skip();
    }
    const output = join(dir, "east.kubeconfig");
    await run(
      "bash",
      [script, "--context", "east-a", "--name", "east", "--server", "https://10.0.0.1", "--output", output],
      {
        env,
      },
    );
    const view = JSON.parse(
      execFileSync(kubectl, ["config", "view", "--kubeconfig", output, "--raw", "-o", "json"], { encoding: "utf8" }),
    ) as Kubeconfig;
    expect(view["current-context"]).to.equal("east");
    expect(view.clusters[0]?.cluster.server).to.equal("https://10.0.0.1");
    expect(view.users[0]?.user.token).to.equal(token);
  });

  it("fails and writes nothing when the credentials cannot watch what the controller needs", async () => {
    const output = join(dir, "denied.kubeconfig");
    const failure = await run("bash", [script, "--context", "east-a", "--output", output], {
      env: { ...env, FAKE_DENY: "watch nodes" },
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).to.equal(1);
    expect(failure?.stderr).to.include("cannot 'watch nodes'");
    expect(existsSync(output)).to.equal(false);
    expect(execFileSync("ls", [dir], { encoding: "utf8" })).to.not.match(/denied\.kubeconfig/);
  });

  it("refuses a cluster name that is not a DNS label", async () => {
    const failure = await run("bash", [script, "--context", "east-a", "--name", "East_A"], { env, cwd: dir }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).to.equal(1);
    expect(failure?.stderr).to.include("'East_A' is not a DNS label");
  });
});
