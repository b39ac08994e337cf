#!/usr/bin/env bash
# The benchmark: builds the release binaries, starts a MongoDB-wire server on
# a free port (unless MONGODB_URI is set) and prints binary sizes, cold start,
# memory and latency as Markdown tables. BENCH_COLD_RUNS and BENCH_REQUESTS
# tune the run counts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

scratch="$(mktemp -d)"
trap 'stop_started; rm -rf "$scratch"' EXIT
use_mongodb "$scratch/mongo"

log "building release binaries"
cargo build --release --locked -p functions --bins
cargo build --release --locked -p tests --bin bench
"$ROOT/target/release/bench"
