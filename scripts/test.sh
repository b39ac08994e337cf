#!/usr/bin/env bash
# README command 2: runs the whole test suite.
#
# Installs what it needs (pinned, idempotent), starts a MongoDB-wire server,
# an S3-compatible server and an SMTP server (writing a maildir the tests
# read) on free ports with throw-away data directories (unless MONGODB_URI
# / S3_ENDPOINT / SMTP_URL point at running ones; the MongoDB server
# then needs test commands enabled), builds the workspace with every feature
# (the Vercel adapter is one; the Lambda and Vercel tests
# run compiled function binaries), checks template.yaml with cfn-lint, runs
# every test (the browser tests in Debian's chromium, installed once per
# machine, driven by playwright-core from tests/browser), and stops the
# servers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

scratch="$(mktemp -d)"
trap 'stop_started; rm -rf "$scratch"' EXIT
# Test commands (configureFailPoint) let tests fail one step of a
# transaction on purpose, for their own connections only.
use_mongodb "$scratch/mongo" "" --enable-test-commands
use_s3 "$scratch/s3"
use_smtp "$scratch/mail"

ensure_cfn_lint
# Fault tests stop and restart a MongoDB-wire server of their own.
ensure_secantus
export SECANTUS_BIN="$VENV/bin/secantusd-py"
ensure_chromium
ensure_browser_tests
log "checking template.yaml with cfn-lint"
"$CFN_VENV/bin/cfn-lint" template.yaml

log "building"
cargo build --workspace --bins --tests --locked --all-features
log "testing"
cargo test --workspace --locked --all-features -- --test-threads="${TEST_THREADS:-8}"
