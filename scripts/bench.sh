#!/usr/bin/env bash
# The benchmark: builds the release binaries, starts a MongoDB-wire server and
# an S3-compatible server on free ports (unless MONGODB_URI / S3_ENDPOINT are
# set) and prints binary sizes, cold start, memory and latency as Markdown
# tables. BENCH_COLD_RUNS and BENCH_REQUESTS
# tune the run counts. `scripts/bench.sh crm` runs the CRM benchmark at scale
# instead (see tests/bench_crm.rs), `scripts/bench.sh workshop` the workshop
# one (work orders, stock, appointments; see tests/bench_workshop.rs),
# `scripts/bench.sh webhooks` the webhook one (tests/bench_webhooks.rs),
# `scripts/bench.sh pdf` the PDF one (tests/bench_pdf.rs).
# `scripts/bench.sh round-trips` prints the commands and sequential round
# trips of each route family through the wire proxy (tests/api/round_trips.rs;
# the test command checks them against their budgets).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

scratch="$(mktemp -d)"
trap 'stop_started; rm -rf "$scratch"' EXIT
use_mongodb "$scratch/mongo"
use_s3 "$scratch/s3"

if [ "${1:-}" = "round-trips" ]; then
  use_smtp "$scratch/mail"
  ROUND_TRIPS_VERBOSE=1 cargo test --locked --all-features -p tests --test api -- \
    round_trips --nocapture 2>&1 | grep -E '^(\||[A-Z]+ /)'
  exit "${PIPESTATUS[0]}"
fi

# Each function links with fat LTO (about a minute apiece on 2 cores): by
# default only the binaries measured are built; BENCH_ALL_BINARIES=1 builds
# every function so the size table covers all of them.
log "building release binaries"
if [ "${1:-}" = "pdf" ]; then
  # The invoice PDF's function beside one without the PDF engine, and the
  # renderer's times (tests/bench_pdf.rs).
  cargo build --release --locked -p functions --bin work-orders-id-invoice-pdf --bin work-orders-id-invoice
  cargo build --release --locked -p tests --bin bench-pdf
  "$ROOT/target/release/bench-pdf"
  exit 0
fi
if [ -n "${BENCH_ALL_BINARIES:-}" ]; then
  cargo build --release --locked -p functions --bins
else
  cargo build --release --locked -p functions --bin crm-local --bin accounts --bin health --bin auth-login --bin uploads
fi
if [ "${1:-}" = "crm" ]; then
  # CRM at scale; BENCH_CRM_RECORDS (default 100000) and BENCH_CRM_ORGS (default 10) set its size.
  cargo build --release --locked -p tests --bin bench-crm
  "$ROOT/target/release/bench-crm"
elif [ "${1:-}" = "webhooks" ]; then
  # BENCH_WEBHOOK_ENDPOINTS (default 100), BENCH_WEBHOOK_EVENTS (default 20)
  # and BENCH_WEBHOOK_REQUESTS (default 50) set its size.
  cargo build --release --locked -p tests --bin bench-webhooks
  "$ROOT/target/release/bench-webhooks"
elif [ "${1:-}" = "workshop" ]; then
  # BENCH_VEHICLES (default 10000), BENCH_WORK_ORDERS (default 50000) and
  # BENCH_TIME_ENTRIES (default 200000) set its size.
  cargo build --release --locked -p functions --bin crm-admin
  cargo build --release --locked -p tests --bin bench-workshop
  "$ROOT/target/release/bench-workshop"
else
  cargo build --release --locked -p tests --bin bench
  "$ROOT/target/release/bench"
fi
