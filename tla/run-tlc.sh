#!/usr/bin/env bash
# Run TLC on a spec of tla/ and print its distinct-state count beside the Rust
# transliteration's for the same constants.
#
#   TLA2TOOLS_JAR=/path/to/tla2tools.jar tla/run-tlc.sh paxos [--max-ballot N] [--symmetry all|acceptors]
#   TLA2TOOLS_JAR=/path/to/tla2tools.jar tla/run-tlc.sh synod [--priests N] [--proposers P] [--rounds R]
#   TLA2TOOLS_JAR=/path/to/tla2tools.jar tla/run-tlc.sh parliament [--priests N] [--proposers P] [--rounds R] [--decrees D] [--genesis true]
#
# Paxos runs on MCPaxos (3 acceptors, 2 values, majority quorums); Synod on MCSynod;
# Parliament on MCParliament (defaults: 3 priests, 2 presidents, 1 round, 2 decree numbers).
# Environment: TLA2TOOLS_JAR (required), JAVA (default: java), TLC_WORKERS (default: 2),
# PARLIAMENT (the parliament binary; default: built with cargo --release).
# Exit status: 0 when the distinct-state counts and depths agree, 1 when they differ, 2 on bad
# usage or a failed run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() {
    sed -n '5,7p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2
    exit 2
}
die() {
    echo "error: $*" >&2
    exit 2
}

[ $# -ge 1 ] || usage
spec="$1"
shift
max_ballot=2 symmetry="" priests=3 proposers=2 rounds="" decrees=2 genesis=false
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "option $1 needs a value"
    case "$spec:$1" in
    paxos:--max-ballot) max_ballot="$2" ;;
    paxos:--symmetry) symmetry="$2" ;;
    synod:--priests) priests="$2" ;;
    synod:--proposers) proposers="$2" ;;
    synod:--rounds | parliament:--rounds) rounds="$2" ;;
    parliament:--priests) priests="$2" ;;
    parliament:--proposers) proposers="$2" ;;
    parliament:--decrees) decrees="$2" ;;
    parliament:--genesis) genesis="$2" ;;
    *) die "unknown option $1 for spec '$spec'" ;;
    esac
    shift 2
done
# Synod's default is 2 rounds, Parliament's 1.
if [ -z "$rounds" ]; then
    if [ "$spec" = parliament ]; then rounds=1; else rounds=2; fi
fi
for n in "$max_ballot" "$priests" "$proposers" "$rounds" "$decrees"; do
    [[ "$n" =~ ^[0-9]+$ ]] || die "'$n' is not a number"
done

[ -n "${TLA2TOOLS_JAR:-}" ] || die "set TLA2TOOLS_JAR to the path of tla2tools.jar"
[ -f "$TLA2TOOLS_JAR" ] || die "TLA2TOOLS_JAR=$TLA2TOOLS_JAR is not a file"
java="${JAVA:-java}"
command -v "$java" >/dev/null || die "no '$java' on PATH (set JAVA)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here"/*.tla "$work"/

case "$spec" in
paxos)
    module=MCPaxos
    case "$symmetry" in
    "") sym_line="" rust_sym=() ;;
    all) sym_line="SYMMETRY SymmetryAll" rust_sym=(--symmetry all) ;;
    acceptors) sym_line="SYMMETRY SymmetryAcceptors" rust_sym=(--symmetry acceptors) ;;
    *) die "--symmetry must be all or acceptors" ;;
    esac
    cat >"$work/$module.cfg" <<CFG
CONSTANTS
    a1 = a1
    a2 = a2
    a3 = a3
    v1 = v1
    v2 = v2
    None = None
    Acceptor <- MCAcceptor
    Value <- MCValue
    Quorum <- MCQuorum
    MaxBallot = $max_ballot
SPECIFICATION Spec
INVARIANTS TypeOK Agreement
$sym_line
CFG
    rust_args=(check paxos-spec --acceptors 3 --values 2 --max-ballot "$max_ballot" "${rust_sym[@]}")
    ;;
synod)
    module=MCSynod
    cat >"$work/$module.cfg" <<CFG
CONSTANTS
    N = $priests
    P = $proposers
    MaxRound = $rounds
    None = None
SPECIFICATION Spec
INVARIANTS TypeOK B1 B2 B3 Agreement LearnedImpliesChosen
CFG
    rust_args=(check synod-spec --priests "$priests" --proposers "$proposers" --rounds "$rounds")
    ;;
parliament)
    module=MCParliament
    cat >"$work/$module.cfg" <<CFG
CONSTANTS
    N = $priests
    P = $proposers
    MaxRound = $rounds
    D = $decrees
    Genesis = $(if [ "$genesis" = true ]; then echo TRUE; else echo FALSE; fi)
    Olive = Olive
    None = None
    Proposes <- MCProposes
SPECIFICATION Spec
INVARIANTS TypeOK B1 B2 B3 Agreement LearnedImpliesChosen LogsArePrefixes
CFG
    rust_args=(check parliament-spec --priests "$priests" --proposers "$proposers" --rounds "$rounds" --decrees "$decrees")
    if [ "$genesis" = true ]; then rust_args+=(--genesis); fi
    ;;
*) usage ;;
esac

echo "TLC on $module ($(grep -E '^ +(MaxBallot|N|P|MaxRound|D|Genesis) =' "$work/$module.cfg" | tr -s ' ' | tr '\n' ' ')${symmetry:+symmetry $symmetry})..."
(cd "$work" && "$java" -XX:+UseParallelGC -cp "$TLA2TOOLS_JAR" tlc2.TLC \
    -workers "${TLC_WORKERS:-2}" -deadlock -cleanup -config "$module.cfg" "$module") \
    >"$work/tlc.out" 2>&1 || {
    cat "$work/tlc.out" >&2
    die "TLC failed"
}
tlc_line="$(grep -E 'distinct states found' "$work/tlc.out" | tail -1)"
[ -n "$tlc_line" ] || {
    cat "$work/tlc.out" >&2
    die "no state count in TLC's output"
}
tlc_states="$(echo "$tlc_line" | sed -E 's/.* ([0-9,]+) distinct states found.*/\1/' | tr -d ,)"
tlc_generated="$(echo "$tlc_line" | sed -E 's/^([0-9,]+) states generated.*/\1/' | tr -d ,)"
tlc_depth="$(grep -E 'depth of the complete state graph search is' "$work/tlc.out" | sed -E 's/.* is ([0-9]+).*/\1/' | tail -1)"
tlc_time="$(grep -E '^Finished in' "$work/tlc.out" | tail -1 | sed -E 's/^Finished in ([^ ]+).*/\1/')"

if [ -n "${PARLIAMENT:-}" ]; then
    parliament=("$PARLIAMENT")
else
    parliament=(cargo run --quiet --release --manifest-path "$here/../Cargo.toml" --)
fi
"${parliament[@]}" "${rust_args[@]}" --threads "${TLC_WORKERS:-2}" --json >"$work/rust.json" || [ $? -eq 1 ] ||
    die "parliament ${rust_args[*]} failed"
read -r rust_states rust_generated rust_depth rust_time < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["unique_states"], r["total_states"], r["max_depth"], "%.2fs" % r["seconds"])
' "$work/rust.json")

row() { printf '%-62s %10s %11s %6s %10s\n' "$@"; }
row "checker" "distinct" "generated" "depth" "time"
row "TLC $module" "$tlc_states" "${tlc_generated:-?}" "${tlc_depth:-?}" "${tlc_time:-?}"
row "parliament ${rust_args[*]:1}" "$rust_states" "$rust_generated" "$rust_depth" "$rust_time"
if [ "$tlc_states" != "$rust_states" ]; then
    echo "distinct states DIFFER"
    exit 1
fi
if [ "${tlc_generated:-?}" = "$rust_generated" ] && [ "${tlc_depth:-?}" = "$rust_depth" ]; then
    echo "distinct states, generated states and depth agree"
else
    # Distinct states and depth are the spec's meaning; generated counts depend on how
    # each action's witnesses are enumerated (see tla/README.md).
    echo "distinct states agree; generated or depth differ"
    [ "${tlc_depth:-?}" = "$rust_depth" ] || exit 1
fi
