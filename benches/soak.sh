#!/usr/bin/env bash
# Soak: a local 3-priest cluster under a closed loop of SETs; then each priest's ledger size
# and resident memory, a restart of every priest and the time to the first answered SET.
#
#   benches/soak.sh [SECONDS] [CLIENTS] [KEYS] [AFTER_DECREES]
#
# Defaults: 60 s, 64 clients, 10,000 keys of 100 bytes, snapshots every 2,000 decrees (the
# configuration's default; 0 turns snapshots off, for a comparison). Prints one line per
# figure; docs/performance.md quotes them.
set -euo pipefail
SECONDS_=${1:-60}
CLIENTS=${2:-64}
KEYS=${3:-10000}
AFTER=${4:-2000}
BIN=${BIN:-target/release/parliament}
DIR=$(mktemp -d)
trap 'kill $CLUSTER 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT

start() {
  "$BIN" cluster --dir "$DIR" >"$DIR/cluster.out" 2>&1 &
  CLUSTER=$!
  for _ in $(seq 200); do grep -q '^ready' "$DIR/cluster.out" 2>/dev/null && return; sleep 0.05; done
  echo "cluster did not start"; cat "$DIR/cluster.out"; exit 1
}

# Create the configuration (and the ledgers), then set the snapshot interval and restart.
start
kill -INT $CLUSTER; wait $CLUSTER || true
printf '\n[snapshots]\nafter_decrees = %s\n' "$AFTER" >>"$DIR/cluster.toml"
start
PORTS=$(grep -o 'client port [0-9]*' "$DIR/cluster.out" | awk '{print "127.0.0.1:"$3}' | paste -sd,)
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%FT%TZ), $(nproc) cores"
echo "load: $SECONDS_ s, $CLIENTS clients, $KEYS keys, snapshots after $AFTER decrees"
"$BIN" bench --addr "$PORTS" --clients "$CLIENTS" --seconds "$SECONDS_" --keys "$KEYS" | sed 's/^/bench: /'
for i in 0 1 2; do
  pid=$(grep "^priest $i:" "$DIR/cluster.out" | grep -o 'pid [0-9]*' | awk '{print $2}')
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  ledger=$(du -sk "$DIR/ledger/priest-$i" | cut -f1)
  echo "priest $i: rss ${rss} KiB, ledger ${ledger} KiB"
done
"$BIN" status --config "$DIR/cluster.toml" | sed 's/^/status: /'
"$BIN" status --config "$DIR/cluster.toml" --json >"$DIR/status.json"
python3 - "$DIR/status.json" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1])):
    print("priest %s: live data %s bytes" % (r["priest"], r.get("live_bytes")))
EOF
kill -INT $CLUSTER; wait $CLUSTER || true
t0=$(date +%s.%N)
start
PORT=$(grep -o 'client port [0-9]*' "$DIR/cluster.out" | head -1 | awk '{print $3}')
until "$BIN" kv --addr "127.0.0.1:$PORT" set soak done >/dev/null 2>&1; do sleep 0.01; done
t1=$(date +%s.%N)
echo "restart to first answered SET: $(echo "$t1 - $t0" | bc) s"
