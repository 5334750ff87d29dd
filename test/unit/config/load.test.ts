// Reading config text: YAML syntax errors and schema errors must never echo secrets.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { ConfigError, loadConfigFile, parseConfig, parseYaml } from "../../../src/config/load.ts";
import { resolveConfig } from "../../../src/config/resolve.ts";

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("config loading", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fedns-config-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe("YAML syntax errors", () => {
    const text = "etcd:\n  username: fedns\n  password: hunter2-secret: oops\n";

    it("give line, column and kind, never the source text", () => {
      const message = messageOf(() => parseYaml(text, "fedns.yaml"));
      expect(message).to.not.include("hunter2");
      expect(message).to.not.include("oops");
      expect(message).to.match(/^fedns\.yaml is not valid YAML:\n {2}line 3, column \d+: .+ \([A-Z_]+\)/);
    });

    it("stay secret through loadConfigFile and resolveConfig (the controller's reload path)", async () => {
      const path = join(dir, "bad.yaml");
      await writeFile(path, text);
      for (const load of [() => loadConfigFile(path), () => resolveConfig(path, {})]) {
        const err = await load().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(ConfigError);
        expect((err as Error).message)
          .to.include("line 3, column")
          .and.not.include("hunter2");
      }
    });

    it("do not quote the source for other kinds either", () => {
      const cases = [
        'password: "hunter2-secret\n', // unclosed quote
        "a: 1\na: hunter2-secret\n", // duplicate key
        "etcd:\n  password: [hunter2-secret\n", // unclosed flow sequence
        "etcd:\n\tpassword: hunter2-secret\n", // tab indentation
        "password: *hunter2-secret\n", // unresolved alias
      ];
      for (const bad of cases) {
        const message = messageOf(() => parseYaml(bad, "fedns.yaml"));
        expect(message, bad).to.match(/line \d+, column \d+/);
        expect(message, bad).to.not.include("hunter2");
      }
    });

    it("name only the kind for too many aliases", () => {
      const laughs = ["a: &hunter2 [x, x, x, x, x, x, x, x, x, x]"];
      for (let i = 0; i < 4; i++)
        laughs.push(
          `l${i}: &l${i} [${Array(10)
            .fill(i === 0 ? "*hunter2" : `*l${i - 1}`)
            .join(", ")}]`,
        );
      const message = messageOf(() => parseYaml(`${laughs.join("\n")}\n`, "fedns.yaml"));
      expect(message).to.equal("fedns.yaml is not valid YAML:\n  aliases cannot be resolved (too many?)");
    });

    it("still parse valid YAML", () => {
      expect(parseYaml("etcd:\n  password: 'a: b'\n", "x")).to.deep.equal({ etcd: { password: "a: b" } });
    });
  });

  describe("schema errors", () => {
    it("hide values of password, token, secret and key fields, whatever their type", () => {
      const message = messageOf(() =>
        parseConfig({
          etcd: { username: "fedns", password: 12345678, passwordFile: "", tls: { cert: "c", key: 42 } },
        }),
      );
      expect(message).to.include("etcd.password: ");
      expect(message).to.include("etcd.tls.key: ");
      expect(message).to.not.include("12345678");
      expect(message).to.not.match(/got 42/);
      expect(message).to.not.match(/etcd\.passwordFile: .*\(got/);
    });

    it("hide string values under any secret-looking name, at any depth", () => {
      const message = messageOf(() =>
        parseConfig({ etcd: { apiToken: "hunter2-a", clientSecret: { x: "hunter2-b" } } }),
      );
      expect(message).to.not.include("hunter2");
    });

    it("refuse PEM contents where a file path belongs, without echoing them", () => {
      const pem = "-----BEGIN PRIVATE KEY-----\nMIIhunter2\n-----END PRIVATE KEY-----\n";
      const message = messageOf(() => parseConfig({ etcd: { tls: { ca: pem, cert: "c", key: pem } } }));
      expect(message).to.include("etcd.tls.ca: must be a file path, not PEM contents");
      expect(message).to.include("etcd.tls.key: must be a file path, not PEM contents");
      expect(message).to.not.include("hunter2");
    });

    it("mask credentials in URLs", () => {
      const message = messageOf(() => parseConfig({ etcd: { endpoints: ["http://root:hunter2@etcd:99999"] } }));
      expect(message).to.include('etcd.endpoints.0: Invalid URL (got "http://***@etcd:99999")');
    });

    it("still show ordinary values", () => {
      expect(messageOf(() => parseConfig({ etcd: { prefix: "a b" } }))).to.include('(got "a b")');
    });
  });
});
