#!/usr/bin/env bash
# `make services`: the four example services on their fixed ports
# (127.0.0.1:7101-7104, admin 7201-7204), in the foreground, for running the
# README's commands by hand in another terminal. Ctrl-C (or SIGTERM) stops
# them all. EXAMPLES_BIN names a folder of built examples to skip the build.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
if [ -z "${EXAMPLES_BIN:-}" ]; then
    echo "==> building the example services" >&2
    "$CARGO" build --quiet --examples
    EXAMPLES_BIN=${CARGO_TARGET_DIR:-target}/debug/examples
fi

PIDS=()
stop() {
    trap - INT TERM EXIT
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    echo "==> stopped" >&2
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# Each prints its ready line, `{"listening":...}`, on stdout.
start() {
    local name=$1
    shift
    "$EXAMPLES_BIN/$name" "$@" &
    PIDS+=("$!")
}

start core_grpc --port 7101
start web_http --port 7102
start commerce_grpc --port 7103 --reflection none
start docs_grpc --port 7104 --reflection v1alpha
echo "==> the example services run; Ctrl-C stops them" >&2

# Until a signal. Ctrl-C reaches the services too, and each exits cleanly
# (status 0) on it; one that fails on its own (a port in use) stops the rest.
status=0
wait -n || status=$?
if [ "$status" -ne 0 ]; then
    echo "error: an example service exited with status $status; stopping the others" >&2
    exit 1
fi
