#!/usr/bin/env bash
# Builds the experimental batched-UDP addon with the system C compiler against Node-API headers
# (Node-API is ABI-stable, so headers of an older Node, e.g. Debian's /usr/include/node, load in Node 24).
set -euo pipefail
cd "$(dirname "$0")"
include="${NODE_INCLUDE:-/usr/include/node}"
[ -f "$include/node_api.h" ] || { echo "no node_api.h in $include (set NODE_INCLUDE)" >&2; exit 1; }
mkdir -p build
gcc -O2 -Wall -shared -fPIC -I"$include" -DNODE_GYP_MODULE_NAME=udpbatch addon.c -o build/udpbatch.node
echo "built $(pwd)/build/udpbatch.node"
