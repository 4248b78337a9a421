#!/usr/bin/env bash
# The Parliament beside etcd, measured in one run by the same load generator: runs
# benches/etcd.sh and then benches/kv.sh with the same SECONDS and CLIENTS, and prints a
# Markdown table (system, workload, clients, ops/s, p50, p99, p999) for docs/performance.md.
#
#   benches/compare.sh [SECONDS] [CLIENTS...]      (defaults: 10 s; 1 16 64 clients)
#
# ENDPOINTS=leader (default) sends every client to etcd's leader and to the Parliament's
# president's listener; ENDPOINTS=all spreads the clients over the three members of each.
#
# The JSON reports are kept in the directory named by OUT (default: a temporary one, removed
# at the end). Needs what etcd.sh needs (etcd-server, etcd-client, protobuf-compiler, jq).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v jq >/dev/null || { echo "jq not installed (apt-get install -y jq)" >&2; exit 2; }
if [ -n "${OUT:-}" ]; then
    out="$OUT"; mkdir -p "$out"
else
    out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
fi
export FEATURES=etcd
echo "# load before: $(uptime)" >&2
benches/etcd.sh "$@" >"$out/etcd.json"
benches/kv.sh "$@" >"$out/parliament.json"
echo "# load after: $(uptime)" >&2

echo "| system | workload | clients | ops/s | p50 | p99 | p999 |"
echo "|---|---|---|---|---|---|---|"
for s in etcd parliament; do
    jq -s -r --arg s "$s" '.[] |
        def ms: (if . < 1000 then (. | round / 1000) else (. / 10 | round / 100) end | tostring) + " ms";
        "| \($s) | \(.workload) | \(.clients) | \(.ops_per_sec | round) | \(.latency.p50_us | ms) | \(.latency.p99_us | ms) | \(.latency.p999_us | ms) |"' \
        "$out/$s.json"
done
