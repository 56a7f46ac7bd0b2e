#!/usr/bin/env bash
# Instructions per run of examples/workflows/fan_out.yaml, by Maestro and by
# the hand-written glue, counted by callgrind (steady on a noisy machine).
# Each side is counted at two run counts; the difference divided by the
# extra runs cancels start-up. Needs valgrind.
#   scripts/instructions-per-run.sh [FEW MANY]
set -euo pipefail
cd "$(dirname "$0")/.."
few=${1:-200}
many=${2:-1200}
bench=$(cargo bench --bench workflow --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*workflow-[^"]*\)".*/\1/p' | tail -1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
    MAESTRO_BENCH_PROFILE=$1 MAESTRO_BENCH_RUNS=$2 \
        valgrind --tool=callgrind --callgrind-out-file="$out/$1-$2" "$bench" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A per_run
for side in glue maestro; do
    a=$(count "$side" "$few")
    b=$(count "$side" "$many")
    per_run[$side]=$(((b - a) / (many - few)))
    echo "$side: $((per_run[$side])) instructions per run"
done
echo "maestro - glue: $((per_run[maestro] - per_run[glue])) instructions per run"
