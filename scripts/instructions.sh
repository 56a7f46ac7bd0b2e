#!/usr/bin/env bash
# Instructions counted by callgrind (steady on a noisy machine), each at two
# operation counts, the difference divided by the extra operations so that
# start-up cancels out. Needs valgrind.
#   scripts/instructions.sh run [FEW MANY]   a run of examples/workflows/fan_out.yaml,
#                                            by Maestro and by the glue (benches/workflow.rs)
#   scripts/instructions.sh step [FEW MANY]  each layer of one step (benches/dispatch.rs):
#                                            glue call, transport, service actor, whole run
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-run}
few=${2:-200}
many=${3:-1200}
case "$what" in
    run) bench=workflow; cases="glue maestro" ;;
    step)
        bench=dispatch
        cases="grpc:glue grpc:transport grpc:actor grpc:run http:glue http:transport http:actor http:run"
        ;;
    *) echo "usage: $0 run|step [FEW MANY]" >&2; exit 2 ;;
esac
binary=$(cargo bench --bench "$bench" --no-run --message-format=json 2>/dev/null |
    sed -n "s/.*\"executable\":\"\([^\"]*$bench-[^\"]*\)\".*/\1/p" | tail -1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
    MAESTRO_BENCH_PROFILE=$1 MAESTRO_BENCH_RUNS=$2 \
        valgrind --tool=callgrind --callgrind-out-file="$out/count" "$binary" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for case in $cases; do
    a=$(count "$case" "$few")
    b=$(count "$case" "$many")
    echo "$case: $(((b - a) / (many - few))) instructions per operation"
done
