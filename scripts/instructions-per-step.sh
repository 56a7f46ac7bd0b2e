#!/usr/bin/env bash
# Instructions per operation of each layer a step goes through (benches/
# dispatch.rs): the glue's call, Maestro's transport alone, an attempt
# through the service actor, a whole one-step run; for gRPC and HTTP.
# Counted by callgrind at two operation counts, the difference divided by
# the extra operations. Needs valgrind.
#   scripts/instructions-per-step.sh [FEW MANY]
set -euo pipefail
cd "$(dirname "$0")/.."
few=${1:-200}
many=${2:-1200}
bench=$(cargo bench --bench dispatch --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*dispatch-[^"]*\)".*/\1/p' | tail -1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
    MAESTRO_BENCH_PROFILE=$1 MAESTRO_BENCH_RUNS=$2 \
        valgrind --tool=callgrind --callgrind-out-file="$out/run" "$bench" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for protocol in grpc http; do
    for layer in glue transport actor run; do
        a=$(count "$protocol:$layer" "$few")
        b=$(count "$protocol:$layer" "$many")
        echo "$protocol $layer: $(((b - a) / (many - few))) instructions per operation"
    done
done
