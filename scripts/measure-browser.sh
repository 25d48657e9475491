#!/usr/bin/env bash
# Prints dial -> first decoded frame for peercall -> browser, browser -> peercall and
# browser <-> browser (5 runs each) with Debian's headless Chromium on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --test browser_measure -- --ignored --nocapture "$@"
