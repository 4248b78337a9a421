#!/usr/bin/env bash
# Two builds of parliament, measured interleaved: each round starts a fresh local 3-priest
# cluster of build A, runs SECONDS of SETs (100-byte values over KEYS keys, spread over the
# three listeners) at each client count, stops it, and does the same with build B. The same
# load generator (build B's `parliament bench`) measures both. Prints one line per run, then
# per build and client count the median ops/s and p99 with their range over the rounds.
#
#   benches/ab.sh A_BIN B_BIN [ROUNDS] [SECONDS] [CLIENTS...]
#
# Defaults: 3 rounds, 20 s, 16 and 64 clients; KEYS=10000. One run on a shared 2-core
# machine can be off by 2x: quote the medians and their range, never one run.
#
# A and B may be the same build under two configurations: A_CONFIG and B_CONFIG are TOML
# appended to that side's cluster.toml (say B_CONFIG=$'[scheduling]\nslice_us = 0'), the
# cluster restarted with it before measuring. NOISY=1 runs a CPU-bound neighbour (one busy
# Python interpreter) beside every run, as benches/compare.sh --noisy does. DOWN=1 stops one
# follower (SIGSTOP, for the whole run; the clients use the other two listeners), to measure
# a Parliament that lost a priest.
set -euo pipefail
A=${1:?usage: benches/ab.sh A_BIN B_BIN [ROUNDS] [SECONDS] [CLIENTS...]}
B=${2:?usage: benches/ab.sh A_BIN B_BIN [ROUNDS] [SECONDS] [CLIENTS...]}
ROUNDS=${3:-3}
SECONDS_=${4:-20}
shift $(($# < 4 ? $# : 4))
CLIENTS=("${@:-16 64}")
# shellcheck disable=SC2206
CLIENTS=(${CLIENTS[*]})
KEYS=${KEYS:-10000}
LOAD=$B
RESULTS=$(mktemp)
CLUSTER=
DIR=
NEIGHBOUR=
trap '[ -n "$CLUSTER" ] && kill $CLUSTER 2>/dev/null; stop_neighbour; wait 2>/dev/null; rm -rf "$RESULTS" "$DIR"' EXIT

. "$(dirname "$0")/cluster.sh"

echo "A: $A"
echo "B: $B"
describe
echo "$ROUNDS rounds of $SECONDS_ s per client count (${CLIENTS[*]}), $KEYS keys, A then B"
for round in $(seq "$ROUNDS"); do
  for side in A B; do
    BIN=${!side}
    DIR=$(mktemp -d)
    start_cluster
    extra=${side}_CONFIG
    if [ -n "${!extra:-}" ]; then
      restart_cluster_with "${!extra}"
    fi
    PORTS="$(port 0),$(port 1),$(port 2)"
    STOPPED=
    if [ -n "${DOWN:-}" ]; then
      down=$(follower)
      STOPPED=$(pid "$down")
      kill -STOP "$STOPPED"
      PORTS=$(for i in 0 1 2; do [ "$i" != "$down" ] && port "$i"; done | paste -sd,)
      echo "round $round $side: priest $down (a follower) stopped"
    fi
    if [ -n "${NOISY:-}" ]; then
      start_neighbour
    fi
    for c in "${CLIENTS[@]}"; do
      out=$("$LOAD" bench --addr "$PORTS" --clients "$c" --seconds "$SECONDS_" --keys "$KEYS")
      ops=$(echo "$out" | grep -o '[0-9.]* ops/s' | head -1 | cut -d' ' -f1)
      p50=$(echo "$out" | grep -o 'p50 [0-9.]* ms' | head -1 | cut -d' ' -f2)
      p99=$(echo "$out" | grep -o 'p99 [0-9.]* ms' | head -1 | cut -d' ' -f2)
      echo "round $round $side clients $c: $ops ops/s, p50 $p50 ms, p99 $p99 ms"
      echo "$side $c $ops $p50 $p99" >>"$RESULTS"
    done
    stop_neighbour
    if [ -n "$STOPPED" ]; then kill -CONT "$STOPPED"; fi
    kill -INT $CLUSTER; wait $CLUSTER || true
    CLUSTER=
    rm -rf "$DIR"
  done
done
python3 - "$RESULTS" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    side, c, ops, p50, p99 = line.split()
    runs.setdefault((side, int(c)), []).append((float(ops), float(p50), float(p99)))
print("| build | clients | ops/s median (range) | p50 ms median (range) | p99 ms median (range) |")
print("|---|---|---|---|---|")
for (side, c), rs in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    ops, p50, p99 = ([r[i] for r in rs] for i in range(3))
    print("| %s | %d | %.0f (%.0f-%.0f) | %.2f (%.2f-%.2f) | %.1f (%.1f-%.1f) |" % (
        side, c, statistics.median(ops), min(ops), max(ops),
        statistics.median(p50), min(p50), max(p50),
        statistics.median(p99), min(p99), max(p99)))
EOF
