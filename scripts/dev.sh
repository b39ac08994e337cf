#!/usr/bin/env bash
# README command 1: runs the API locally with its database and file store.
#
# Installs SecantusDB (pinned) into .local/venv and starts it on
# MONGODB_PORT (default 27017) with its data in .local/data/mongo (kept
# across restarts), unless MONGODB_URI is set; builds s3s-fs (pinned, once
# per machine) and starts it with its files in .local/data/s3, behind
# Debian's nginx on S3_PORT (default 9000) with the bucket's CORS rules for
# ALLOWED_ORIGINS (browser uploads), unless S3_ENDPOINT is set; starts aiosmtpd (pinned) on
# SMTP_PORT (default 2525), every email it accepts a file in
# .local/data/mail/new, unless SMTP_URL is set; keeps a generated development
# JWT secret in .local/data; migrates, seeds the demo organization (printing
# its users' sign-ins) and serves every route on http://127.0.0.1:${PORT:-3000}.
# Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

data="$LOCAL/data"
mkdir -p "$data"
trap stop_started EXIT
# The browser origins the API (and the local bucket's CORS rules) allow.
export ALLOWED_ORIGINS="${ALLOWED_ORIGINS:-http://localhost:5173,http://127.0.0.1:5173}"
use_mongodb "$data/mongo" "${MONGODB_PORT:-27017}"
use_s3 "$data/s3" "${S3_PORT:-9000}"
use_smtp "$data/mail" "${SMTP_PORT:-2525}"
export MONGODB_DB="${MONGODB_DB:-crm_dev}"

if [ -z "${JWT_SECRET:-}" ]; then
  if [ ! -s "$data/jwt_secret" ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(48))' > "$data/jwt_secret")
  fi
  JWT_SECRET="$(cat "$data/jwt_secret")"
  export JWT_SECRET
fi

# A reminder's one-click unsubscribe points at this server.
export API_URL="${API_URL:-http://127.0.0.1:${PORT:-3000}}"

cargo run --locked --bin crm-local -- --seed
