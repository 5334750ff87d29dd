// A CA and a server certificate for the simulated clusters, made with the `openssl` CLI
// (node:crypto cannot issue X.509 certificates).
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Certificates {
  caPath: string;
  ca: string;
  cert: string;
  key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(err)}`);
  }
}

/** Writes ca.crt, ca.key, server.crt, server.key into `dir`; the server certificate names every host. */
export async function createCertificates(dir: string, hosts: string[]): Promise<Certificates> {
  const names = [...new Set(["localhost", "127.0.0.1", "::1", ...hosts])];
  const san = names.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
  const curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(
    [
      "req",
      "-x509",
      ...curve,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "3650",
      "-subj",
      "/CN=fedns-sim-ca",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  await openssl(["req", ...curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=fedns-sim"], dir);
  await writeFile(
    join(dir, "server.ext"),
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "3650",
      "-extfile",
      "server.ext",
    ],
    dir,
  );
  const [ca, cert, key] = await Promise.all(
    ["ca.crt", "server.crt", "server.key"].map((f) => readFile(join(dir, f), "utf8")),
  );
  return { caPath: join(dir, "ca.crt"), ca: ca ?? "", cert: cert ?? "", key: key ?? "" };
}
