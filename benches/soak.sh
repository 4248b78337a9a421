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

. "$(dirname "$0")/cluster.sh"

# Create the configuration (and the ledgers), then set the snapshot interval and restart.
start_cluster
restart_cluster_with "$(printf '[snapshots]\nafter_decrees = %s' "$AFTER")"
PORTS="$(port 0),$(port 1),$(port 2)"
describe
echo "load: $SECONDS_ s, $CLIENTS clients, $KEYS keys, snapshots after $AFTER decrees"
"$BIN" bench --addr "$PORTS" --clients "$CLIENTS" --seconds "$SECONDS_" --keys "$KEYS" | sed 's/^/bench: /'
for i in 0 1 2; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$(pid $i)/status")
  ledger=$(du -sk "$DIR/ledger/priest-$i" | cut -f1)
  echo "priest $i: rss ${rss} KiB, ledger ${ledger} KiB"
done
print_status
kill -INT $CLUSTER; wait $CLUSTER || true
t0=$(date +%s.%N)
start_cluster
until "$BIN" kv --addr "$(port 0)" set soak done >/dev/null 2>&1; do sleep 0.01; done
t1=$(date +%s.%N)
echo "restart to first answered SET: $(echo "$t1 - $t0" | bc) s"
