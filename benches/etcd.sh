#!/usr/bin/env bash
# Measures a 3-member etcd cluster with `parliament-bench --etcd` (the same closed-loop load
# generator, keys, values and histogram that measure the Parliament; etcd's own v3 gRPC
# API, one connection per client, Put for SET, linearizable Range for GET).
#
#   benches/etcd.sh [SECONDS] [CLIENTS...]
#
# Needs etcd 3.4 (apt-get install -y etcd-server etcd-client) and protoc to build the etcd
# driver (apt-get install -y protobuf-compiler). Starts three members on 127.0.0.1 (client
# ports 23790-23792, peer ports 23800-23802, data in a temporary directory, etcd's default
# durability: the WAL is fsynced before a write is acknowledged), waits until the cluster is
# healthy, runs the SET workload at each client count (default 1 16 64, SECONDS each, default
# 10) and a preloaded GET workload at 16 clients, prints one JSON report per run on stdout,
# then stops etcd and removes its data.
#
# ENDPOINTS=leader (default) sends every client to the leader, etcd's fastest path;
# ENDPOINTS=all spreads client i over member i mod 3 (followers forward to the leader).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
shift $(( $# > 1 ? 1 : $# )) || true
clients=("${@:-1 16 64}")
# shellcheck disable=SC2206
clients=(${clients[*]})
endpoints_mode="${ENDPOINTS:-leader}"
case "$endpoints_mode" in leader|all) ;; *) echo "ENDPOINTS must be leader or all" >&2; exit 2;; esac

command -v etcd >/dev/null || { echo "etcd not installed (apt-get install -y etcd-server)" >&2; exit 2; }
command -v etcdctl >/dev/null || { echo "etcdctl not installed (apt-get install -y etcd-client)" >&2; exit 2; }
command -v protoc >/dev/null || { echo "protoc not installed (apt-get install -y protobuf-compiler)" >&2; exit 2; }
for p in 23790 23791 23792 23800 23801 23802; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "port $p on 127.0.0.1 is taken (an etcd already running?)" >&2
        exit 2
    fi
done
cargo build --release --quiet --features etcd

dir="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster=""
client_urls=()
for i in 0 1 2; do
    cluster+="${cluster:+,}m$i=http://127.0.0.1:$((23800 + i))"
    client_urls+=("127.0.0.1:$((23790 + i))")
done
for i in 0 1 2; do
    etcd --name "m$i" --data-dir "$dir/m$i" \
        --listen-client-urls "http://127.0.0.1:$((23790 + i))" \
        --advertise-client-urls "http://127.0.0.1:$((23790 + i))" \
        --listen-peer-urls "http://127.0.0.1:$((23800 + i))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((23800 + i))" \
        --initial-cluster "$cluster" --initial-cluster-state new \
        --initial-cluster-token "bench-$$" \
        --logger zap --log-outputs stderr >"$dir/m$i.log" 2>&1 &
    pids+=($!)
done
all="$(IFS=,; echo "${client_urls[*]}")"
healthy=""
for _ in $(seq 100); do
    if etcdctl --endpoints "$all" endpoint health >/dev/null 2>&1; then healthy=1; break; fi
    sleep 0.2
done
if [ -z "$healthy" ]; then
    echo "etcd did not become healthy; logs:" >&2
    tail -n 20 "$dir"/m*.log >&2
    exit 1
fi
leader="$(etcdctl --endpoints "$all" endpoint status | awk -F', ' '$5 == "true" { print $1 }')"
[ -n "$leader" ] || { echo "no etcd leader found" >&2; exit 1; }
if [ "$endpoints_mode" = leader ]; then targets="$leader"; else targets="$all"; fi
echo "# etcd $(etcd --version | awk '/etcd Version/ { print $3 }'), 3 members, leader $leader, clients to: $targets" >&2
echo "# load: $(uptime)" >&2

bench() { ${LOAD_NICE:+nice -n "$LOAD_NICE"} ./target/release/parliament-bench --etcd "$targets" --seconds "$seconds" --json "$@"; }
for c in "${clients[@]}"; do
    echo "# etcd, SET, $c clients" >&2
    bench --clients "$c" --workload set
done
echo "# etcd, GET (preloaded, linearizable), 16 clients" >&2
bench --clients 16 --workload get --preload
