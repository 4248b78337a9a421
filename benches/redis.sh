#!/usr/bin/env bash
# Measures a single-node Redis with `parliament-bench` (the same load generator that
# measures the parliament), for the figures in docs/performance.md.
#
#   benches/redis.sh [always|no] [SECONDS] [CLIENTS...]
#
# Starts redis-server (apt-get install -y redis-server) on 127.0.0.1:6399 in a temporary
# directory with AOF on and `appendfsync` as given (default: always, i.e. fsync before
# every reply), runs the SET workload at each client count (default 1 16 64) and a
# preloaded GET workload at 16 clients, prints one JSON report per run, and stops Redis.
# FEATURES=etcd builds with that feature (benches/compare.sh does, so the binary is not
# rebuilt between systems).
set -euo pipefail
cd "$(dirname "$0")/.."
fsync="${1:-always}"
seconds="${2:-10}"
shift $(( $# > 2 ? 2 : $# )) || true
clients=("${@:-1 16 64}")
# shellcheck disable=SC2206
clients=(${clients[*]})
port=6399

command -v redis-server >/dev/null || { echo "redis-server not installed" >&2; exit 2; }
cargo build --release --quiet ${FEATURES:+--features "$FEATURES"}
dir="$(mktemp -d)"
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' \
    --appendonly yes --appendfsync "$fsync" --daemonize no >"$dir/redis.log" 2>&1 &
redis=$!
trap 'kill "$redis" 2>/dev/null; wait "$redis" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
done

bench() { ${LOAD_NICE:+nice -n "$LOAD_NICE"} ./target/release/parliament-bench --addr "127.0.0.1:$port" --seconds "$seconds" --json "$@"; }
for c in "${clients[@]}"; do
    echo "# redis appendfsync $fsync, SET, $c clients" >&2
    bench --clients "$c" --workload set
done
echo "# redis appendfsync $fsync, GET (preloaded), 16 clients" >&2
bench --clients 16 --workload get --preload
