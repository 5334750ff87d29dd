#!/usr/bin/env bash
# EXPERIMENT: the same fedns QueryHandler over the batched-UDP addon and over node:dgram, each pinned to
# core 0 with dnsperf on core 1 (as bench/qps does). Compare with `npm run bench:qps -- --knot-only`.
set -euo pipefail
cd "$(dirname "$0")"
root=../../..
node="$root/node_modules/.bin/node"
seconds="${SECONDS_PER_RUN:-10}"
./build.sh >/dev/null
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
"$node" -e "import('$root/bench/qps/dataset.ts').then((m) => process.stdout.write(m.buildDataset({ prefix: '/skydns' }).queries))" >"$work/queries.txt"
for mode in addon dgram; do
  port=$(( 20000 + RANDOM % 20000 ))
  taskset -c 0 "$node" server.ts "$port" "$mode" 64 2>"$work/$mode.log" &
  server=$!
  for _ in $(seq 50); do grep -q listening "$work/$mode.log" && break; sleep 0.1; done
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l 3 -c 4 -T 1 -q 100 >/dev/null 2>&1
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$seconds" -c 4 -T 1 -q 100 >"$work/$mode.txt" 2>&1
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  echo "$mode: $(grep -E 'Queries per second|Queries lost|Average Latency' "$work/$mode.txt" | tr -s ' ' | tr '\n' ';')"
done
