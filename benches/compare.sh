#!/usr/bin/env bash
# The Parliament beside etcd and a single Redis, interleaved: each round runs every system
# once, a fresh cluster (or server) each time, in an order that rotates from round to round
# (round 1: etcd, parliament, redis; round 2: parliament, redis, etcd; ...), so a slow
# stretch of the shared machine falls on every system alike. Every system is measured by the
# same load generator (`parliament-bench`), through the scripts that measure each alone:
# benches/etcd.sh (3 members, WAL fsynced before a write is acknowledged), benches/kv.sh
# (3 priests, ledgers fsynced before a vote is sent) and benches/redis.sh always (one node,
# AOF fsynced before every reply: the single-node yardstick).
#
#   benches/compare.sh [--rounds N] [--noisy] [--systems "etcd parliament redis"]
#                      [SECONDS] [CLIENTS...]
#
# Defaults: 3 rounds, 10 s a run, SET at 1, 16 and 64 clients, and a preloaded GET at 16.
# --noisy runs a CPU-bound neighbour (one busy Python interpreter) beside every run, so the
# cost of a busy machine is a figure too. ENDPOINTS=leader|all as in etcd.sh and kv.sh.
# LOAD_NICE=N runs the load generator at nice value N for every system (with --noisy and
# N below 0: as if the clients ran on other machines, out of the neighbour's way); NICE=N
# sets the priests' `[scheduling] nice` (benches/kv.sh).
#
# Prints one line per run as it ends, then per workload, client count and system the median
# and range (min-max) over the rounds of ops/s, p50, p99, p999 and the longest silence (the
# longest time no client got an answer), then the ratio of the medians of ops/s. The JSON
# reports (with each run's time series) and the summary (summary.json) are kept in OUT
# (default: a new directory under /tmp, printed at the end). Quote only such figures, with
# the date, commit and machine printed at the top.
#
# Needs etcd-server, etcd-client, protobuf-compiler, redis-server and jq (apt-get install).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
noisy=""
systems="etcd parliament redis"
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
        --noisy) noisy=1; shift ;;
        --systems) systems="${2:?--systems needs a list}"; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        --*) echo "unknown flag $1 (see --help)" >&2; exit 2 ;;
        *) break ;;
    esac
done
case "$rounds" in ''|*[!0-9]*|0) echo "--rounds must be a positive number" >&2; exit 2 ;; esac
seconds="${1:-10}"
shift $(( $# > 1 ? 1 : $# )) || true
clients=("${@:-1 16 64}")
# shellcheck disable=SC2206
clients=(${clients[*]})
# shellcheck disable=SC2206
order=($systems)
for s in "${order[@]}"; do
    case "$s" in etcd|parliament|redis) ;; *) echo "unknown system $s (etcd, parliament, redis)" >&2; exit 2 ;; esac
done
command -v jq >/dev/null || { echo "jq not installed (apt-get install -y jq)" >&2; exit 2; }

out="${OUT:-$(mktemp -d /tmp/compare.XXXXXX)}"
mkdir -p "$out"
export FEATURES=etcd
cargo build --release --quiet --features etcd

. "$(dirname "$0")/cluster.sh"
trap stop_neighbour EXIT

echo "# commit $(git describe --always --dirty 2>/dev/null || echo '?'), $(date -u +%FT%TZ), $(nproc) cores, $(uname -sr)"
echo "# $rounds rounds of ${order[*]}, rotating; $seconds s a run; SET at ${clients[*]} clients, GET (preloaded) at 16; ENDPOINTS=${ENDPOINTS:-leader}${noisy:+; a CPU-bound neighbour beside every run}${NICE:+; priests at nice $NICE}${LOAD_NICE:+; load generator at nice $LOAD_NICE}"
echo "# reports in $out"
for r in $(seq "$rounds"); do
    n=${#order[@]}
    for k in $(seq 0 $((n - 1))); do
        s=${order[$(( (r - 1 + k) % n ))]}
        if [ -n "$noisy" ]; then
            start_neighbour
        fi
        echo "# round $r, $s; load: $(uptime | sed 's/.*load average: //')" >&2
        case "$s" in
            etcd) benches/etcd.sh "$seconds" "${clients[@]}" ;;
            parliament) benches/kv.sh "$seconds" "${clients[@]}" ;;
            redis) benches/redis.sh always "$seconds" "${clients[@]}" ;;
        esac 2>>"$out/stderr.log" | jq -c --arg s "$s" --argjson r "$r" '. + {name: $s, round: $r}' >>"$out/runs.jsonl"
        stop_neighbour
        jq -r --arg s "$s" --argjson r "$r" 'select(.name == $s and .round == $r) |
            "round \($r) \($s) \(.workload) \(.clients): \(.ops_per_sec | round) ops/s, p99 \(.latency.p99_us / 1000 * 100 | round / 100) ms, longest silence \(.longest_silence_us / 1000 | round) ms"' \
            "$out/runs.jsonl"
    done
done

python3 - "$out" <<'EOF'
import json, statistics, sys
out = sys.argv[1]
runs = [json.loads(l) for l in open(out + "/runs.jsonl")]
groups = {}
for r in runs:
    groups.setdefault((r["workload"], r["clients"], r["name"]), []).append(r)
def fig(xs, fmt):
    return "%s (%s-%s)" % (fmt(statistics.median(xs)), fmt(min(xs)), fmt(max(xs)))
ms = lambda us: "%.2f" % (us / 1000)
ops = lambda x: "{:,.0f}".format(x)
summary = []
print()
print("| workload | clients | system | rounds | ops/s | p50 ms | p99 ms | p999 ms | longest silence ms |")
print("|---|---|---|---|---|---|---|---|---|")
for (w, c, s), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "set", kv[0][1], kv[0][2])):
    o = [r["ops_per_sec"] for r in rs]
    lat = {p: [r["latency"][p + "_us"] for r in rs] for p in ("p50", "p99", "p999")}
    sil = [r["longest_silence_us"] for r in rs]
    print("| %s | %d | %s | %d | %s | %s | %s | %s | %s |" % (
        w.upper(), c, s, len(rs), fig(o, ops), fig(lat["p50"], ms), fig(lat["p99"], ms),
        fig(lat["p999"], ms), fig(sil, ms)))
    summary.append({"workload": w, "clients": c, "system": s, "rounds": len(rs),
                    "ops_per_sec": {"median": statistics.median(o), "min": min(o), "max": max(o)},
                    **{p + "_us": {"median": statistics.median(v), "min": min(v), "max": max(v)} for p, v in lat.items()},
                    "longest_silence_us": {"median": statistics.median(sil), "min": min(sil), "max": max(sil)}})
print()
print("| workload | clients | parliament / etcd | parliament / redis |")
print("|---|---|---|---|")
med = {(x["workload"], x["clients"], x["system"]): x["ops_per_sec"]["median"] for x in summary}
for (w, c) in sorted({(x["workload"], x["clients"]) for x in summary}, key=lambda k: (k[0] != "set", k[1])):
    p = med.get((w, c, "parliament"))
    ratio = lambda other: "%.2fx" % (p / med[(w, c, other)]) if p and med.get((w, c, other)) else "-"
    print("| %s | %d | %s | %s |" % (w.upper(), c, ratio("etcd"), ratio("redis")))
json.dump(summary, open(out + "/summary.json", "w"), indent=1)
EOF
echo
echo "# reports in $out (runs.jsonl, summary.json, stderr.log)"
