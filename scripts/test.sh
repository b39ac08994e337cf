#!/usr/bin/env bash
# README command 2: runs the whole test suite.
#
# Installs what it needs (pinned, idempotent), starts a MongoDB-wire server
# on a free port with a throw-away data directory (unless MONGODB_URI points
# at one already, which then needs test commands enabled), builds the workspace (the Lambda test runs a compiled
# function binary), runs every test, and stops the server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

scratch="$(mktemp -d)"
trap 'stop_started; rm -rf "$scratch"' EXIT
# Test commands (configureFailPoint) let tests fail one step of a
# transaction on purpose, for their own connections only.
use_mongodb "$scratch/mongo" "" --enable-test-commands

log "building"
cargo build --workspace --bins --tests --locked
log "testing"
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-8}"
