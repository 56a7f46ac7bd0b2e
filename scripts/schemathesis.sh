#!/usr/bin/env bash
# Runs schemathesis (https://schemathesis.readthedocs.io) against a real
# `maestro serve` and its /openapi.json, for a bounded time: every operation
# gets schema-valid and schema-violating requests, then stateful sequences
# following the document's links. Optional: needs `schemathesis` on PATH
# (`pip install schemathesis`), or SCHEMATHESIS=/path/to/schemathesis.
#
#   MAX_EXAMPLES  cases per operation and phase (default 50)
#   MAX_TIME      seconds for the whole run (default 120)
#   SEED          for a reproducible run (default: random)
#   FAULT_INJECTION=1  also serves the kill endpoint; /readyz then answers
#                      503 while a killed actor restarts, as documented,
#                      which schemathesis reports as a server error.
#
# Checks: all but `use_after_free`: DELETE /v1/runs/{id} cancels a run,
# which stays readable with its final status (it is not a deletion).
# /v1/events is left out: it is a stream that stays open, which a request
# timeout would report as a failure (tests/it/serve/events.rs covers it).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
BIN=${CARGO_TARGET_DIR:-target}/debug
ST=${SCHEMATHESIS:-$(command -v schemathesis || command -v st || true)}
if [ -z "$ST" ]; then
    echo "error: schemathesis is not installed: pip install schemathesis" >&2
    exit 2
fi

echo "==> building maestro"
"$CARGO" build --quiet --bin maestro

LOGS=$(mktemp -d)
SERVER=
stop_server() {
    if [ -n "$SERVER" ]; then
        kill -TERM "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    rm -rf "$LOGS"
}
trap stop_server EXIT

# --max-wait: a long poll (`GET /v1/runs/{id}?wait=37s`) ends well within
# schemathesis's 10 s request timeout.
ARGS=(serve --port 0 --workflows tests/fixtures/unreachable.yaml --max-body-bytes 65536 --max-wait 2s)
if [ "${FAULT_INJECTION:-0}" = 1 ]; then
    ARGS+=(--enable-fault-injection)
fi
env -u MAESTRO_TOKEN "$BIN/maestro" "${ARGS[@]}" >"$LOGS/serve.out" 2>"$LOGS/serve.err" &
SERVER=$!
for _ in $(seq 200); do
    [ -s "$LOGS/serve.out" ] && break
    if ! kill -0 "$SERVER" 2>/dev/null; then
        echo "error: maestro serve did not start:" >&2
        cat "$LOGS/serve.err" >&2
        exit 1
    fi
    sleep 0.05
done
ADDR=$(sed -n 's/.*"listening":"\([^"]*\)".*/\1/p' "$LOGS/serve.out")
if [ -z "$ADDR" ]; then
    echo "error: maestro serve printed no address" >&2
    exit 1
fi
rss() { awk '/^VmRSS/ {print $2 " kB"}' "/proc/$SERVER/status" 2>/dev/null || echo "?"; }
echo "==> maestro serve on $ADDR, resident memory $(rss)"

ST_ARGS=(run "http://$ADDR/openapi.json"
    --checks all --exclude-checks use_after_free --exclude-path /v1/events
    --max-examples "${MAX_EXAMPLES:-50}" --max-time "${MAX_TIME:-120}"
    --request-timeout 10 --workers 2)
if [ -n "${SEED:-}" ]; then
    ST_ARGS+=(--seed "$SEED")
fi
status=0
# From the scratch folder: schemathesis keeps its state in the working one.
(cd "$LOGS" && "$ST" "${ST_ARGS[@]}") || status=$?

echo "==> resident memory after: $(rss)"
if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "error: maestro serve died during the run:" >&2
    tail -n 20 "$LOGS/serve.err" >&2
    exit 1
fi
if grep -q panicked "$LOGS/serve.err"; then
    echo "error: maestro serve panicked:" >&2
    grep -A5 panicked "$LOGS/serve.err" >&2
    exit 1
fi
exit "$status"
