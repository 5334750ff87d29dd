// A leader candidate in its own process, so tests can kill it outright:
// node test/support/campaign-process.ts <etcd endpoint> <election> <candidate> <ttl seconds>
import { configureLogging } from "../../src/obs/log.ts";
import { createEtcdBackend } from "../../src/store/etcd-kv.ts";

const [endpoint, election, candidate, ttl] = process.argv.slice(2);
if (endpoint === undefined || election === undefined || candidate === undefined) {
  process.stderr.write("usage: campaign-process.ts <endpoint> <election> <candidate> [ttl]\n");
  process.exit(2);
}
configureLogging("silent");
const backend = createEtcdBackend({ endpoints: [endpoint] });
const campaign = backend.campaign(election, candidate, Number(ttl ?? "2"));
await campaign.elected;
process.stdout.write("elected\n");
setInterval(() => {}, 1 << 30);
