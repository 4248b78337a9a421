#!/usr/bin/env bash
# What one command costs each server process, counted rather than timed: for a run of SETs
# (or GETs) at a given number of clients, `perf stat` counts on every server process the
# CPU time, the context switches (each a wake-up or a preemption), the system calls and the
# disk syncs (fsync, fdatasync), and the script divides them by the commands answered. Counts
# hold up on a busy machine far better than rates do: they say where the time would go, and
# what a neighbour competing for the CPU has to interrupt.
#
#   benches/cost.sh [--systems "parliament redis etcd"] [--workload set|get] [SECONDS] [CLIENTS]
#
# Defaults: parliament and redis, SET, 10 s, 16 clients. The Parliament is a local
# `parliament cluster` of 3 priests (clients to priest 0's listener, the president's); Redis
# one node with `appendfsync always`; etcd 3 members (needs the etcd feature, etcd-server,
# etcd-client and protobuf-compiler). The load generator is counted too, as `bench`.
# Prints a Markdown table: per system and process, commands, then per command the CPU
# microseconds, context switches, system calls and syncs; for the Parliament also decrees
# passed per command (its batching). Needs perf (linux-perf) and permission to count
# (root, or kernel.perf_event_paranoid <= 1).
set -euo pipefail
cd "$(dirname "$0")/.."
systems="parliament redis"
workload=set
while [ $# -gt 0 ]; do
    case "$1" in
        --systems) systems="${2:?}"; shift 2 ;;
        --workload) workload="${2:?}"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        --*) echo "unknown flag $1 (see --help)" >&2; exit 2 ;;
        *) break ;;
    esac
done
SECONDS_=${1:-10}
CLIENTS=${2:-16}
case "$workload" in set|get) ;; *) echo "--workload must be set or get" >&2; exit 2 ;; esac
command -v perf >/dev/null || { echo "perf not installed (apt-get install -y linux-perf)" >&2; exit 2; }
features=""
case " $systems " in *" etcd "*) features="--features etcd" ;; esac
# shellcheck disable=SC2086
cargo build --release --quiet $features
BIN=$PWD/target/release/parliament
LOAD=$PWD/target/release/parliament-bench
work=$(mktemp -d)
CLUSTER=
DIR=
others=()
cleanup() {
    [ -n "$CLUSTER" ] && kill -INT "$CLUSTER" 2>/dev/null
    for p in "${others[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/cluster.sh"
EVENTS=task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync

# measure SYSTEM ADDR_FLAGS NAME=PID...: a warm-up, then SECONDS_ of the workload with perf
# counting each process; appends one JSON line per process to $work/cost.jsonl.
measure() {
    local system=$1 target=$2; shift 2
    local preload=()
    [ "$workload" = get ] && preload=(--preload)
    # shellcheck disable=SC2086
    "$LOAD" $target --clients "$CLIENTS" --seconds 2 --workload "$workload" "${preload[@]}" >/dev/null
    local perfs=()
    for np in "$@"; do
        perf stat -x, -e "$EVENTS" -p "${np#*=}" -o "$work/$system-${np%%=*}.perf" &
        perfs+=($!)
    done
    sleep 0.2
    before=$( [ "$system" = parliament ] && decrees || echo 0 )
    # shellcheck disable=SC2086
    perf stat -x, -e "$EVENTS" -o "$work/$system-bench.perf" -- \
        "$LOAD" $target --clients "$CLIENTS" --seconds "$SECONDS_" --workload "$workload" --json >"$work/$system.json"
    after=$( [ "$system" = parliament ] && decrees || echo 0 )
    for p in "${perfs[@]}"; do kill -INT "$p"; done
    wait "${perfs[@]}" 2>/dev/null || true
    python3 - "$work" "$system" "$((after - before))" "$@" bench=0 >>"$work/cost.jsonl" <<'EOF'
import json, sys
work, system, decrees, procs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
ops = json.load(open("%s/%s.json" % (work, system)))["ops"]
for np in procs:
    name = np.split("=")[0]
    counts = {}
    for line in open("%s/%s-%s.perf" % (work, system, name)):
        f = line.strip().split(",")
        if len(f) > 2 and not line.startswith("#"):
            try:
                counts[f[2]] = float(f[0])
            except ValueError:
                counts[f[2]] = 0.0
    print(json.dumps({"system": system, "process": name, "ops": ops, "decrees": decrees,
        "cpu_ms": counts.get("task-clock", 0.0), "switches": counts.get("context-switches", 0.0),
        "syscalls": counts.get("raw_syscalls:sys_enter", 0.0),
        "syncs": counts.get("syscalls:sys_enter_fsync", 0.0) + counts.get("syscalls:sys_enter_fdatasync", 0.0)}))
EOF
}

# Decrees passed so far: the highest `chosen` any priest reports.
decrees() {
    "$BIN" status --config "$DIR/cluster.toml" --json |
        python3 -c 'import json,sys; print(max((r.get("highest_chosen") or 0) for r in json.load(sys.stdin)))'
}

for system in $systems; do
    case "$system" in
        parliament)
            DIR=$work/cluster
            mkdir -p "$DIR"
            start_cluster --no-restart
            measure parliament "--addr $(port 0)" "priest0=$(pid 0)" "priest1=$(pid 1)" "priest2=$(pid 2)"
            kill -INT "$CLUSTER"; wait "$CLUSTER" || true
            CLUSTER=
            ;;
        redis)
            command -v redis-server >/dev/null || { echo "redis-server not installed" >&2; exit 2; }
            mkdir -p "$work/redis"
            redis-server --port 6399 --bind 127.0.0.1 --dir "$work/redis" --save '' \
                --appendonly yes --appendfsync always --daemonize no >"$work/redis.log" 2>&1 &
            others+=($!)
            rpid=$!
            for _ in $(seq 50); do redis-cli -p 6399 ping >/dev/null 2>&1 && break; sleep 0.1; done
            measure redis "--addr 127.0.0.1:6399" "redis=$rpid"
            ;;
        etcd)
            for i in 0 1 2; do cl+="${cl:+,}m$i=http://127.0.0.1:$((23800 + i))"; done
            ep=()
            for i in 0 1 2; do
                etcd --name "m$i" --data-dir "$work/etcd$i" \
                    --listen-client-urls "http://127.0.0.1:$((23790 + i))" \
                    --advertise-client-urls "http://127.0.0.1:$((23790 + i))" \
                    --listen-peer-urls "http://127.0.0.1:$((23800 + i))" \
                    --initial-advertise-peer-urls "http://127.0.0.1:$((23800 + i))" \
                    --initial-cluster "$cl" --initial-cluster-state new \
                    --initial-cluster-token "cost-$$" >"$work/etcd$i.log" 2>&1 &
                others+=($!)
                ep+=("m$i=$!")
            done
            all=127.0.0.1:23790,127.0.0.1:23791,127.0.0.1:23792
            for _ in $(seq 100); do etcdctl --endpoints "$all" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
            leader=$(etcdctl --endpoints "$all" endpoint status | awk -F', ' '$5 == "true" { print $1 }')
            measure etcd "--etcd $leader" "${ep[@]}"
            ;;
        *) echo "unknown system $system" >&2; exit 2 ;;
    esac
done

echo "# commit $(git describe --always --dirty 2>/dev/null || echo '?'), $(date -u +%FT%TZ), $(nproc) cores; $workload, $CLIENTS clients, $SECONDS_ s; load $(uptime | sed 's/.*load average: //')"
python3 - "$work/cost.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| system | process | commands | decrees per command | CPU us per command | switches per command | syscalls per command | syncs per command |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    ops = max(r["ops"], 1)
    dec = "%.3f" % (r["decrees"] / ops) if r["system"] == "parliament" and r["process"] != "bench" else "-"
    print("| %s | %s | %d | %s | %.1f | %.2f | %.1f | %.3f |" % (
        r["system"], r["process"], r["ops"], dec, r["cpu_ms"] * 1000 / ops,
        r["switches"] / ops, r["syscalls"] / ops, r["syncs"] / ops))
EOF
