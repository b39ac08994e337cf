#!/usr/bin/env bash
# README command 2: runs the whole test suite.
#
# Installs what it needs (pinned, idempotent), starts a MongoDB-wire server
# on a free port with a throw-away data directory (unless MONGODB_URI points
# at one already), builds the function binaries the Lambda test runs, runs
# every test of the workspace, and stops the server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

pids=()
scratch="$(mktemp -d)"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

if [ -z "${MONGODB_URI:-}" ]; then
  ensure_secantus
  port="$(free_port)"
  log "starting SecantusDB on 127.0.0.1:$port"
  pids+=("$(start_secantus "$port" "$scratch/mongo" "$scratch/mongo.log")")
  wait_port "$port" 60 || { cat "$scratch/mongo.log" >&2; exit 1; }
  export MONGODB_URI="mongodb://127.0.0.1:$port/?directConnection=true"
fi

log "building"
cargo build --workspace --bins --tests --locked
log "testing"
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-8}"
