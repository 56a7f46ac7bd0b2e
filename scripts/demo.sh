#!/usr/bin/env bash
# `make demo`: builds Maestro and the example services, starts the services
# on their fixed ports (127.0.0.1:7101-7104, admin 7201-7204), runs
# workflows against them (a loop, a child workflow, one waiting for a signal
# sent from the command line), and stops the services on the way out.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
BIN=${CARGO_TARGET_DIR:-target}/debug
WORKFLOWS=examples/workflows

echo "==> building maestro and the example services"
"$CARGO" build --quiet --bin maestro --examples

# The workflows fall back to the fixed ports only when these are unset.
unset MAESTRO_CORE_GRPC MAESTRO_WEB_HTTP MAESTRO_COMMERCE_GRPC MAESTRO_DOCS_GRPC

LOGS=$(mktemp -d)
PIDS=()
stop_services() {
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$LOGS"
}
trap stop_services EXIT

# start NAME ARGS...: runs an example in the background, then waits for the
# ready line it prints on stdout once it listens.
start() {
    local name=$1
    shift
    "$BIN/examples/$name" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 200); do
        if [ -s "$LOGS/$name.out" ]; then
            echo "    $name: $(head -n 1 "$LOGS/$name.out")"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "error: $name did not start:" >&2
            cat "$LOGS/$name.err" >&2
            exit 1
        fi
        sleep 0.05
    done
    echo "error: $name printed no ready line within 10 s" >&2
    exit 1
}

echo "==> starting the example services"
start core_grpc --port 7101
start web_http --port 7102
start commerce_grpc --port 7103 --reflection none
start docs_grpc --port 7104 --reflection v1alpha

UNEXPECTED=0
# run TITLE EXPECTED_EXIT FILE ARGS...: one `maestro execute`, explained.
run() {
    local title=$1 expected=$2
    shift 2
    echo
    echo "==> $title"
    printf '    maestro execute'
    printf ' %q' "$@"
    echo
    echo
    local code=0
    "$BIN/maestro" execute "$@" || code=$?
    echo
    case $code in
        0) echo "    exit 0: the run succeeded" ;;
        1) echo "    exit 1: the run failed, and every completed step was compensated" ;;
        2) echo "    exit 2: the workflow or its input is invalid; nothing was called" ;;
        3) echo "    exit 3: a compensation did not succeed; a service may need attention" ;;
        4) echo "    exit 4: the workflow timed out; the completed steps were compensated" ;;
        *) echo "    exit $code" ;;
    esac
    if [ "$code" -ne "$expected" ]; then
        echo "    (expected exit $expected)"
        UNEXPECTED=1
    fi
}

run "The README's first workflow: process, then analyse and enrich in parallel, then submit" 0 \
    "$WORKFLOWS/seed_000_my_workflow.yaml" \
    --input '{"payload":"Quarterly revenue grew strongly in every region"}'

run "The README's loan workflow: identity, three checks in parallel, then one branch" 0 \
    "$WORKFLOWS/loan_processing.yaml" --input '{}'

run "A checkout whose card is declined: points restored, then stock released" 1 \
    "$WORKFLOWS/checkout_declined.yaml" --input-file examples/inputs/order.json

run "A loop: each line of the order reserved on its own, four at a time, then committed" 0 \
    "$WORKFLOWS/bulk_reservation.yaml" --input-file examples/inputs/order.json

run "A child workflow: payment.yaml runs as the step pay, inside the checkout's run" 0 \
    "$WORKFLOWS/checkout_with_payment.yaml" --input-file examples/inputs/order.json

echo
echo "==> A run that waits for a person: the approval arrives with \`maestro signal\`"
STATE=$(mktemp -d)
printf '    maestro execute %s --input-file %s --state-dir %s &\n' \
    "$WORKFLOWS/account_approval.yaml" examples/inputs/onboarding_free.json "$STATE"
"$BIN/maestro" execute "$WORKFLOWS/account_approval.yaml" \
    --input-file examples/inputs/onboarding_free.json --state-dir "$STATE" 2>"$LOGS/approval.err" &
APPROVAL=$!
RUN=""
for _ in $(seq 200); do
    RUN=$(sed -n 's/.*send it: maestro signal \([^ ]*\) .*/\1/p' "$LOGS/approval.err" | head -n 1)
    [ -n "$RUN" ] && break
    sleep 0.05
done
echo "    run $RUN waits for manager_approval"
printf '    maestro signal %s manager_approval --payload %q --state-dir %s\n' \
    "$RUN" '{"approved": true, "by": "ana"}' "$STATE"
"$BIN/maestro" signal "$RUN" manager_approval --payload '{"approved": true, "by": "ana"}' \
    --state-dir "$STATE" >/dev/null
code=0
wait "$APPROVAL" || code=$?
sed 's/^/    /' "$LOGS/approval.err" | grep -v '^    $' || true
rm -rf "$STATE"
if [ "$code" -ne 0 ]; then
    echo "    (expected exit 0, got $code)"
    UNEXPECTED=1
fi

echo
echo "==> done; each service's calls were at http://127.0.0.1:720N/calls while it ran"
exit "$UNEXPECTED"
