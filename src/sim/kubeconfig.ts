// One kubeconfig for the whole simulation: a context per cluster, named after the cluster.
import { writeFile } from "node:fs/promises";
import { stringify } from "yaml";

export interface KubeconfigCluster {
  name: string;
  url: string;
  token: string;
  /** PEM of the CA, embedded so the file works wherever it is copied. */
  ca: string | undefined;
}

export function kubeconfigText(clusters: KubeconfigCluster[]): string {
  const config = {
    apiVersion: "v1",
    kind: "Config",
    preferences: {},
    "current-context": clusters[0]?.name ?? "",
    clusters: clusters.map((c) => ({
      name: c.name,
      cluster: {
        server: c.url,
        ...(c.ca === undefined ? {} : { "certificate-authority-data": Buffer.from(c.ca).toString("base64") }),
      },
    })),
    users: clusters.map((c) => ({ name: `${c.name}-admin`, user: { token: c.token } })),
    contexts: clusters.map((c) => ({ name: c.name, context: { cluster: c.name, user: `${c.name}-admin` } })),
  };
  return stringify(config);
}

export async function writeKubeconfig(path: string, clusters: KubeconfigCluster[]): Promise<void> {
  await writeFile(path, kubeconfigText(clusters), { mode: 0o600 });
}
