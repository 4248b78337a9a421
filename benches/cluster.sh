# Shared by the scripts that run a local cluster (sourced, with BIN and DIR set): a local
# 3-priest `parliament cluster` in $DIR, and what the scripts read of it; and the CPU-bound
# neighbour of compare.sh --noisy and ab.sh NOISY=1.

# Starts the cluster (its pid in CLUSTER), with any arguments given (`--no-restart`), and
# waits until it prints `ready`.
start_cluster() {
  # Gone first: a restart must not find the last run's `ready` before its own output.
  rm -f "$DIR/cluster.out"
  "$BIN" cluster --dir "$DIR" "$@" >"$DIR/cluster.out" 2>&1 &
  CLUSTER=$!
  for _ in $(seq 200); do grep -q '^ready' "$DIR/cluster.out" 2>/dev/null && return; sleep 0.05; done
  echo "cluster did not start"; cat "$DIR/cluster.out"; exit 1
}

# Stops the cluster, adds the TOML $1 to its configuration and starts it again.
restart_cluster_with() {
  kill -INT "$CLUSTER"; wait "$CLUSTER" || true
  printf '\n%s\n' "$1" >>"$DIR/cluster.toml"
  start_cluster
}

# A CPU-bound neighbour (one busy Python interpreter), its pid in NEIGHBOUR; and its end.
start_neighbour() { python3 -c 'while True: pass' & NEIGHBOUR=$!; }
stop_neighbour() {
  if [ -n "${NEIGHBOUR:-}" ]; then kill "$NEIGHBOUR" 2>/dev/null; wait "$NEIGHBOUR" 2>/dev/null || true; fi
  NEIGHBOUR=
}

# Priest $1's client address, and its pid, as the cluster printed them.
port() { grep "^priest $1:" "$DIR/cluster.out" | grep -o 'client port [0-9]*' | awk '{print "127.0.0.1:"$3}'; }
pid() { grep "^priest $1:" "$DIR/cluster.out" | grep -o 'pid [0-9]*' | awk '{print $2}'; }

# A priest that is not the president (the status table's roles), once one presides.
follower() {
  for _ in $(seq 100); do
    f=$("$BIN" status --config "$DIR/cluster.toml" --json 2>/dev/null | python3 -c '
import json, sys
rows = json.load(sys.stdin)
if any(r.get("role") == "president" for r in rows):
    print(next(r["priest"] for r in rows if r.get("role") != "president"))' 2>/dev/null || true)
    if [ -n "$f" ]; then echo "$f"; return; fi
    sleep 0.1
  done
  echo "no president" >&2; exit 1
}

# Which build, when, on how many cores.
describe() { echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%FT%TZ), $(nproc) cores"; }

# The status table, then one line per priest: its live data, the snapshots it took and
# installed since it started, and its longest save.
print_status() {
  "$BIN" status --config "$DIR/cluster.toml" | sed 's/^/status: /'
  "$BIN" status --config "$DIR/cluster.toml" --json >"$DIR/status.json"
  python3 - "$DIR/status.json" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1])):
    c = r.get("counters", {})
    print("priest %s: live data %s bytes, snapshots taken %s, installed %s, longest save %s us (%s bytes)" % (
        r["priest"], r.get("live_bytes"), c.get("snapshots_taken"), c.get("snapshots_installed"),
        c.get("longest_save_us"), c.get("longest_save_bytes")))
EOF
}
