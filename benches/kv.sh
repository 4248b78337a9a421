#!/usr/bin/env bash
# Measures the Parliament key-value service, 3 priests on 127.0.0.1, with `parliament-bench`
# (the same closed-loop load generator that measures etcd in benches/etcd.sh and Redis in
# benches/redis.sh).
#
#   benches/kv.sh [SECONDS] [CLIENTS...]
#
# Writes a 3-priest configuration (protocol = "parliament"; priests on UDP 127.0.0.1:27000-
# 27002, RESP listeners on TCP 127.0.0.1:26380-26382; a fresh key; ledgers in a temporary
# directory, fsynced as `parliament serve` always does), starts the three `parliament serve`
# processes, waits until a SET through priest 0's listener is answered, runs the SET workload
# at each client count (default 1 16 64, SECONDS each, default 10) and a preloaded GET
# workload at 16 clients, through priest 0's listener or, with ENDPOINTS=all, through all
# three (a listener sends each command to the president it last heard from, wherever it
# is), prints one JSON report per run on stdout,
# then stops the priests and removes their ledgers. SLICE_US=N sets the priests'
# `[scheduling] slice_us` (default 0: the kernel's slice), NICE=N their `[scheduling] nice`
# (default 0: the nice value they start with). FEATURES=etcd builds with that feature
# (benches/compare.sh does, so the binary is not rebuilt between the two systems).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
shift $(( $# > 1 ? 1 : $# )) || true
clients=("${@:-1 16 64}")
# shellcheck disable=SC2206
clients=(${clients[*]})

for p in 26380 26381 26382; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "port $p on 127.0.0.1 is taken (a parliament already running?)" >&2
        exit 2
    fi
done
cargo build --release --quiet ${FEATURES:+--features "$FEATURES"}
bin=./target/release/parliament
bench_bin=./target/release/parliament-bench

dir="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin" keygen "$dir/cluster.key"
{
    echo 'ledger_dir = "ledger"'
    echo 'key_file = "cluster.key"'
    echo 'protocol = "parliament"'
    for i in 0 1 2; do
        echo '[[priest]]'
        echo "id = $i"
        echo "address = \"127.0.0.1:$((27000 + i))\""
        echo "client_address = \"127.0.0.1:$((26380 + i))\""
    done
    # SLICE_US=N: the priests' `[scheduling] slice_us` (0: the kernel's default slice).
    # NICE=N: their `[scheduling] nice`.
    if [ -n "${SLICE_US:-}" ] || [ -n "${NICE:-}" ]; then
        printf '[scheduling]\nslice_us = %s\nnice = %s\n' "${SLICE_US:-0}" "${NICE:-0}"
    fi
} >"$dir/cluster.toml"
for i in 0 1 2; do
    "$bin" serve --config "$dir/cluster.toml" --id "$i" --bootstrap >"$dir/priest-$i.log" 2>&1 </dev/null &
    pids+=($!)
done
addr=127.0.0.1:26380
ready=""
for _ in $(seq 100); do
    if "$bin" kv --addr "$addr" --timeout 2 set bench:ready yes >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.2
done
if [ -z "$ready" ]; then
    echo "the Parliament never answered a SET; logs:" >&2
    tail -n 20 "$dir"/priest-*.log >&2
    exit 1
fi
# ENDPOINTS=leader (the default) sends every client to priest 0's listener (the president's,
# as etcd.sh sends every client to etcd's leader); ENDPOINTS=all spreads the clients over the
# three listeners (client i to listener i mod 3), as etcd.sh does over its three members.
case "${ENDPOINTS:-leader}" in
    leader) targets="$addr" ;;
    all) targets="127.0.0.1:26380,127.0.0.1:26381,127.0.0.1:26382" ;;
    *) echo "ENDPOINTS must be leader or all" >&2; exit 2 ;;
esac
echo "# parliament $(git describe --always --dirty 2>/dev/null || echo '?'), 3 priests, clients to $targets" >&2
echo "# load: $(uptime)" >&2

bench() { ${LOAD_NICE:+nice -n "$LOAD_NICE"} "$bench_bin" --addr "$targets" --seconds "$seconds" --json "$@"; }
for c in "${clients[@]}"; do
    echo "# parliament, SET, $c clients" >&2
    bench --clients "$c" --workload set
done
echo "# parliament, GET (preloaded), 16 clients" >&2
bench --clients 16 --workload get --preload
