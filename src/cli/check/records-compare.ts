// Do the records in etcd match what the member clusters imply? plan() over the listed clusters
// (all active) against the keys etcd holds for owner `fedns/<federation>`.
import { type CurrentRecord, desiredValue, diff, normalizeValue } from "../../federation/diff.ts";
import { serviceUnitOf } from "../../federation/keys.ts";
import type { Plan } from "../../federation/state.ts";
import { describeRecord } from "../../records/describe.ts";
import { encodeService, ownerOf, type SkydnsService } from "../../records/service.ts";
import type { KeyValue } from "../../store/kv.ts";
import { error, type Finding, listed, ok, warn } from "./findings.ts";

const UNKNOWN = "(no service)";
const MID_UPDATE = "a running controller may be mid-update: run fedns check again";

export function compareRecords(
  plan: Plan,
  kvs: readonly KeyValue[],
  options: { prefix: string; federation: string; owner: string },
): Finding[] {
  const unitOf = serviceUnitOf(options.prefix, options.federation);
  const stored = new Map<string, CurrentRecord & { raw: string }>();
  const ownedByUnit = new Map<string, string[]>();
  for (const kv of kvs) {
    const owner = ownerOf(kv.value);
    stored.set(kv.key, { value: normalizeValue(kv.value), owner, raw: kv.value });
    if (owner !== options.owner) continue;
    const unit = unitOf(kv.key) ?? UNKNOWN;
    ownedByUnit.set(unit, [...(ownedByUnit.get(unit) ?? []), kv.key]);
  }

  const describe = (key: string, value: string): string => {
    const view = describeRecord(options.prefix, key, value);
    return `${view.name} ${view.type} ${view.data}`;
  };
  const shown = (key: string): string => stored.get(key)?.value ?? stored.get(key)?.raw ?? "";

  const findings: Finding[] = [];
  let desiredCount = 0;
  const published = [...plan.services.values()].filter((records) => records.size > 0).length;
  const units = new Set([...plan.services.keys(), ...ownedByUnit.keys()]);
  for (const unit of [...units].sort()) {
    const desired = plan.services.get(unit) ?? new Map<string, SkydnsService>();
    desiredCount += desired.size;
    const subject = unit === UNKNOWN ? "records" : `records ${unit}`;
    const wanted = new Map<string, string>();
    for (const [key, service] of desired) {
      wanted.set(key, desiredValue(service, options.owner) ?? encodeService({ ...service, owner: options.owner }));
    }
    // The same diff the controller's writer applies: what it would change is what is wrong here.
    const changes = diff((key) => stored.get(key), ownedByUnit.get(unit) ?? [], wanted, options.owner);
    const missing = changes.create;
    const foreign = changes.foreign;
    const differs = changes.update;
    const extra = changes.delete;
    if (missing.length > 0) {
      findings.push(
        error(
          subject,
          "records-missing",
          `${missing.length} record${missing.length === 1 ? "" : "s"} the clusters imply ${missing.length === 1 ? "is" : "are"} missing in etcd: ${listed(missing.map((key) => `${describe(key, encodeService(desired.get(key)!))} (${key})`))}`,
          `is fedns controller running and leading (its logs, /readyz)? ${MID_UPDATE}`,
          { keys: missing },
        ),
      );
    }
    if (differs.length > 0) {
      findings.push(
        error(
          subject,
          "records-differ",
          `${differs.length} record${differs.length === 1 ? "" : "s"} in etcd differ${differs.length === 1 ? "s" : ""} from what the clusters imply: ${listed(
            differs.map((key) => `${key} holds ${shown(key)}, expected ${wanted.get(key)}`),
            3,
          )}`,
          `is fedns controller running and leading? ${MID_UPDATE}`,
          { keys: differs },
        ),
      );
    }
    if (extra.length > 0) {
      findings.push(
        error(
          subject,
          "records-extra",
          `${extra.length} record${extra.length === 1 ? "" : "s"} of ${options.owner} in etcd that the clusters do not imply: ${listed(extra.map((key) => `${describe(key, stored.get(key)!.raw)} (${key})`))}`,
          `is fedns controller running and leading? ${MID_UPDATE}; leftovers of a removed federation can be deleted with etcdctl del`,
          { keys: extra },
        ),
      );
    }
    if (foreign.length > 0) {
      findings.push(
        warn(
          subject,
          "records-foreign-owner",
          `${foreign.length} key${foreign.length === 1 ? "" : "s"} fedns would write ${foreign.length === 1 ? "is" : "are"} held by another owner and left untouched: ${listed(foreign.map((key) => `${key} (owner ${stored.get(key)!.owner ?? "none"})`))}`,
          "remove or move the other writer's keys if fedns should serve these names",
          { keys: foreign },
        ),
      );
    }
  }
  if (!findings.some((finding) => finding.severity === "error")) {
    findings.push(
      ok(
        "records",
        "records-ok",
        `etcd holds exactly the ${desiredCount} records the clusters imply for ${options.owner} (${published} services with names)`,
      ),
    );
  }
  return findings;
}
