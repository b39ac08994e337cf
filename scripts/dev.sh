#!/usr/bin/env bash
# README command 1: runs the API locally with its database.
#
# Installs SecantusDB (pinned) into .local/venv, starts it with its data in
# .local/data/mongo (kept across restarts) unless MONGODB_URI is set, keeps a
# generated development JWT secret in .local/data, migrates, seeds the demo
# organization (printing its users' sign-ins) and serves every route on
# http://127.0.0.1:${PORT:-3000}. Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

data="$LOCAL/data"
mkdir -p "$data"

if [ -z "${MONGODB_URI:-}" ]; then
  ensure_secantus
  port="${MONGODB_PORT:-27017}"
  log "starting SecantusDB on 127.0.0.1:$port (data in $data/mongo)"
  pids+=("$(start_secantus "$port" "$data/mongo" "$data/mongo.log")")
  wait_port "$port" 60 || { cat "$data/mongo.log" >&2; exit 1; }
  export MONGODB_URI="mongodb://127.0.0.1:$port/?directConnection=true"
fi
export MONGODB_DB="${MONGODB_DB:-crm_dev}"

if [ -z "${JWT_SECRET:-}" ]; then
  if [ ! -s "$data/jwt_secret" ]; then
    python3 -c 'import secrets; print(secrets.token_urlsafe(48))' > "$data/jwt_secret"
    chmod 600 "$data/jwt_secret"
  fi
  JWT_SECRET="$(cat "$data/jwt_secret")"
  export JWT_SECRET
fi
export ALLOWED_ORIGINS="${ALLOWED_ORIGINS:-http://localhost:5173,http://127.0.0.1:5173}"

cargo build --bin crm-local --locked
"$ROOT/target/debug/crm-local" --seed &
pids+=("$!")
wait "${pids[-1]}"
