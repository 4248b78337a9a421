#!/usr/bin/env bash
# Catch-up: a local 3-priest cluster; priest 2 is killed (-9) while SETs pass through the
# other two listeners, then restarted while the load goes on. Prints how many SETs passed
# while it was down, how long it took to apply the president's highest decree again (polled
# every 0.1 s from `parliament status`), the load's p99 during the catch-up and whether it
# installed a snapshot.
#
#   benches/catchup.sh [DOWN_SECONDS] [CLIENTS] [KEYS]
#
# Defaults: 25 s down (about a million SETs on the 2-core machine), 64 clients, 10,000 keys
# of 100 bytes, the default snapshot settings. docs/performance.md quotes the figures.
set -euo pipefail
DOWN=${1:-25}
CLIENTS=${2:-64}
KEYS=${3:-10000}
BIN=${BIN:-target/release/parliament}
DIR=$(mktemp -d)
trap 'kill $CLUSTER $PRIEST 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
PRIEST=

. "$(dirname "$0")/cluster.sh"
# The cluster must not restart priest 2 itself: this script restarts it, on time.
start_cluster --no-restart
OTHERS="$(port 0),$(port 1)"
describe
kill -9 "$(pid 2)"
"$BIN" bench --addr "$OTHERS" --clients "$CLIENTS" --seconds "$DOWN" --keys "$KEYS" | sed 's/^/while down: /'
# Restart priest 2 alone, under a second load of the same kind, and time its catch-up.
"$BIN" bench --addr "$OTHERS" --clients "$CLIENTS" --seconds 30 --keys "$KEYS" >"$DIR/during.out" &
LOAD=$!
sleep 1
"$BIN" serve --config "$DIR/cluster.toml" --id 2 >>"$DIR/priest-2.out" 2>&1 &
PRIEST=$!
t0=$(date +%s.%N)
caught=
while kill -0 $LOAD 2>/dev/null; do
  json=$("$BIN" status --config "$DIR/cluster.toml" --json 2>/dev/null || true)
  if python3 - "$json" <<'EOF'
import json, sys
rows = {r["priest"]: r for r in json.loads(sys.argv[1] or "[]")}
pres = [r for r in rows.values() if r["role"] == "president"]
me = rows.get(2, {})
ok = bool(pres) and (me.get("highest_applied") or 0) >= (pres[0].get("highest_applied") or 0) - 2 > 0
sys.exit(0 if ok else 1)
EOF
  then
    caught=$(echo "$(date +%s.%N) - $t0" | bc)
    break
  fi
  sleep 0.1
done
wait $LOAD || true
sed 's/^/during catch-up (30 s): /' "$DIR/during.out"
echo "priest 2 caught up (within 2 decrees of the president's applied) after: ${caught:-never} s"
print_status
