#!/usr/bin/env bash
# Refresh docs/console-*.png: the browser tests, run with MAESTRO_SCREENSHOTS
# set, save a screenshot of each console page as they check it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --examples --bins
if cargo nextest --version >/dev/null 2>&1; then
    MAESTRO_SCREENSHOTS=1 cargo nextest run --test it 'browser::'
else
    MAESTRO_SCREENSHOTS=1 cargo test --test it -- browser::
fi
ls -l docs/console-*.png
