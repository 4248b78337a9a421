#!/usr/bin/env bash
# Joining: a local 3-priest cluster (with [membership]) is loaded with KEYS keys of 100 bytes,
# then, while a load of SETs goes on, `parliament cluster --add` starts priest 3 (joining)
# and adds it by decree. Prints how long the add took to pass, how long until priest 3 had
# the change in force and had caught up (applied within 2 decrees of the president, polled
# every 0.1 s from `parliament status`), whether it installed a snapshot, and the load's
# ops/s and p99 during the change.
#
#   benches/join.sh [KEYS] [LOAD_SECONDS] [CLIENTS]
#
# Defaults: 10,000 keys, loaded for 20 s, 64 clients. docs/performance.md quotes the figures.
set -euo pipefail
KEYS=${1:-10000}
LOAD=${2:-20}
CLIENTS=${3:-64}
BIN=${BIN:-target/release/parliament}
DIR=$(mktemp -d)
trap 'kill $CLUSTER 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT

. "$(dirname "$0")/cluster.sh"
start_cluster
ALL="$(port 0),$(port 1),$(port 2)"
describe
"$BIN" bench --addr "$ALL" --clients "$CLIENTS" --seconds "$LOAD" --keys "$KEYS" | sed 's/^/loading: /'
"$BIN" bench --addr "$ALL" --clients "$CLIENTS" --seconds 30 --keys "$KEYS" >"$DIR/during.out" &
BENCH=$!
sleep 2
t0=$(date +%s.%N)
"$BIN" cluster --dir "$DIR" --add | sed 's/^/add: /'
t1=$(date +%s.%N)
caught=
while kill -0 $BENCH 2>/dev/null; do
  json=$("$BIN" status --config "$DIR/cluster.toml" --json 2>/dev/null || true)
  if python3 - "$json" <<'PY'
import json, sys
rows = {r["priest"]: r for r in json.loads(sys.argv[1] or "[]")}
pres = [r for r in rows.values() if r["role"] == "president"]
me = rows.get(3, {})
ok = bool(pres) and 3 in (me.get("members") or []) and \
    (me.get("highest_applied") or 0) >= (pres[0].get("highest_applied") or 0) - 2 > 0
sys.exit(0 if ok else 1)
PY
  then
    caught=$(echo "$(date +%s.%N) - $t0" | bc)
    break
  fi
  sleep 0.1
done
wait $BENCH || true
echo "the add passed after $(echo "$t1 - $t0" | bc) s (starting priest 3 included)"
echo "priest 3 a member and caught up (within 2 decrees of the president) after: ${caught:-never} s"
sed 's/^/during the change (30 s): /' "$DIR/during.out"
print_status
