#!/usr/bin/env bash
# Builds a few functions with the platforms' own builders and runs what they
# built, as a deployment would: the generated template.yaml with `sam build`
# (AWS SAM CLI and cargo-lambda, pinned in scripts/deploy-check/), and the
# generated functions/vercel.json with `vercel build` (Vercel CLI pinned in
# scripts/deploy-check/package-lock.json, its bundled @vercel/rust).
#
#   scripts/deploy-check.sh [BINARY...]     default: health accounts uploads
#
# Works on a snapshot of the working tree (tracked and untracked files,
# not ignored ones) in target/deploy-check/src, reduced to those functions
# (scripts/deploy-check/reduce.py), so neither builder builds the other
# routes. Then it checks the outputs (a `bootstrap` per SAM function; a
# `.vercel/output/functions/api/...func` per entrypoint whose executable
# exists; Vercel's static output holds functions/public and nothing else, no
# source file), runs every built binary once behind a runtime emulator with
# a recorded event of its platform (scripts/deploy-check/emulate.py, events/),
# and prints sizes. Too slow for the test command (two release builds, about
# 13 minutes on 2 cores the first time): run it before a change to the deploy
# files or the runtime adapters lands.
#
# DEPLOY_CHECK_ARCH (default x86_64) is the SAM functions' architecture. The
# template deploys arm64; building that needs the aarch64-unknown-linux-gnu
# standard library (`rustup target add`), which this machine cannot fetch.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=(health accounts uploads)
arch="${DEPLOY_CHECK_ARCH:-x86_64}"
here="$ROOT/scripts/deploy-check"
work="$ROOT/target/deploy-check"
tools="$LOCAL/deploy-check"

# The SAM CLI with cargo-lambda (and the zig it links with) into
# .local/deploy-check/venv, the Vercel CLI into .local/deploy-check/node,
# once per version of their pin files.
ensure_deploy_tools() {
  local want
  want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
  if [ "$(cat "$tools/venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    log "installing the AWS SAM CLI and cargo-lambda into $tools/venv"
    rm -rf "$tools/venv"
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
      -r "$here/requirements.txt"
    echo "$want" > "$tools/venv/.requirements.sha256"
  fi
  want="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$tools/node/.lock.sha256" 2>/dev/null)" != "$want" ]; then
    log "installing the Vercel CLI into $tools/node"
    rm -rf "$tools/node"
    mkdir -p "$tools/node"
    cp "$here/package.json" "$here/package-lock.json" "$tools/node/"
    (cd "$tools/node" && npm ci --no-audit --no-fund --silent)
    echo "$want" > "$tools/node/.lock.sha256"
  fi
}

ensure_deploy_tools
export PATH="$tools/venv/bin:$tools/node/node_modules/.bin:$PATH"
export SAM_CLI_TELEMETRY=0 VERCEL_TELEMETRY_DISABLED=1

log "snapshot of the working tree in $work/src"
rm -rf "$work"
mkdir -p "$work/src"
git ls-files -z --cached --others --exclude-standard |
  (cd "$ROOT" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' _) |
  xargs -0 cp -p --parents -t "$work/src"

failures=0
fail() {
  printf '  FAIL: %s\n' "$*" >&2
  failures=$((failures + 1))
}

# --- AWS: sam build -----------------------------------------------------
log "sam build ($arch) of ${binaries[*]}"
"$tools/venv/bin/python" "$here/reduce.py" sam "$ROOT/template.yaml" "$work/template.yaml" \
  "$work/src" "$arch" "${binaries[@]}"
# cargo-lambda builds in the snapshot; its dependencies stay compiled in the
# project's target directory (under the target triple) between runs.
(cd "$work" && CARGO_TARGET_DIR="$ROOT/target" sam build --beta-features \
  --template "$work/template.yaml" --build-dir "$work/sam-build") > "$work/sam.log" 2>&1 ||
  { tail -40 "$work/sam.log" >&2; exit 1; }

# --- Vercel: vercel build -----------------------------------------------
log "vercel build of ${binaries[*]}"
"$tools/venv/bin/python" "$here/reduce.py" vercel "$work/src/functions" "${binaries[@]}" > /dev/null
mkdir -p "$work/src/functions/.vercel"
# The project settings `vercel pull` would fetch: no framework, no build
# command, the functions/ folder as the root (the README's Deploy section).
cat > "$work/src/functions/.vercel/project.json" <<'JSON'
{"projectId":"prj_deploycheck","orgId":"team_deploycheck","settings":{"framework":null,"devCommand":null,"installCommand":null,"buildCommand":null,"outputDirectory":null,"rootDirectory":null,"nodeVersion":"20.x"}}
JSON
# VERCEL_BUILD_IMAGE=1 is what Vercel's build machines set: without it
# @vercel/rust cross-compiles with cargo-zigbuild. The separate target
# directory keeps `--cfg vercel` from invalidating the project's builds.
(cd "$work/src/functions" &&
  VERCEL_BUILD_IMAGE=1 RUSTFLAGS="--cfg vercel" CARGO_TARGET_DIR="$ROOT/target/deploy-check-vercel" \
    vercel build --yes) > "$work/vercel.log" 2>&1 ||
  { tail -40 "$work/vercel.log" >&2; exit 1; }

# --- The outputs ----------------------------------------------------------
log "checking the outputs"
out="$work/src/functions/.vercel/output"
declare -A sam_bin vercel_bin
for b in "${binaries[@]}"; do
  fn="$("$tools/venv/bin/python" - "$ROOT/template.yaml" "$b" <<'PY'
import sys
from samcli.yamlhelper import yaml_parse
t = yaml_parse(open(sys.argv[1]).read())
print(next(k for k, v in t["Resources"].items()
           if v.get("Metadata", {}).get("BuildProperties", {}).get("Binary") == sys.argv[2]))
PY
)"
  boot="$work/sam-build/$fn/bootstrap"
  if [ -x "$boot" ] && file "$boot" | grep -q ELF; then sam_bin[$b]="$boot"; else fail "no bootstrap for $fn"; fi

  entry="$(sed -n "/^name = \"$b\"$/{n;s/^path = \"\(.*\)\.rs\"$/\1/p}" "$ROOT/functions/Cargo.toml")"
  config="$out/functions/$entry.func/.vc-config.json"
  if [ ! -f "$config" ]; then fail "no $entry.func in the Vercel output"; continue; fi
  # filePathMap names files outside the output, relative to the project root.
  exe="$(python3 -c 'import json,os,sys; c=json.load(open(sys.argv[1])); print(os.path.normpath(os.path.join(sys.argv[2], c["filePathMap"][c["handler"]])))' "$config" "$work/src/functions")"
  if [ -x "$exe" ]; then vercel_bin[$b]="$exe"; else fail "$entry.func: its executable $exe is missing"; fi
done
published="$(cd "$out/static" && find . -type f | sed 's|^\./||' | sort)"
expected="$(cd "$ROOT/functions/public" && find . -type f | sed 's|^\./||' | sort)"
if [ "$published" != "$expected" ]; then
  fail "Vercel would publish more than functions/public: $(echo "$published" | head -5 | tr '\n' ' ')"
fi
echo "  Vercel's static output: $(echo "$published" | tr '\n' ' ')(functions/public only)"

# --- Each binary once, behind its platform's runtime ---------------------
log "running each built binary behind a runtime emulator"
trap stop_started EXIT
unset MONGODB_URI
use_mongodb "$work/mongo"
export MONGODB_DB=deploy_check LOG_LEVEL=warn
export JWT_SECRET="deploy-check-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
# Uploads presign locally and never reach the bucket in these requests.
export S3_BUCKET=deploy-check S3_ENDPOINT=http://127.0.0.1:9 S3_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=deploy-check AWS_SECRET_ACCESS_KEY=deploy-check-secret
for b in "${binaries[@]}"; do
  if [ -n "${sam_bin[$b]:-}" ] && [ -f "$here/events/lambda-$b.json" ]; then
    python3 "$here/emulate.py" lambda "${sam_bin[$b]}" "$here/events/lambda-$b.json" || fail "$b under Lambda"
  fi
  if [ -n "${vercel_bin[$b]:-}" ] && [ -f "$here/events/vercel-$b.json" ]; then
    python3 "$here/emulate.py" vercel "${vercel_bin[$b]}" "$here/events/vercel-$b.json" || fail "$b under Vercel"
  fi
done

log "sizes (bytes)"
printf '  %-12s %14s %14s\n' function "sam bootstrap" "vercel exe"
for b in "${binaries[@]}"; do
  printf '  %-12s %14s %14s\n' "$b" \
    "$(stat -c %s "${sam_bin[$b]:-/dev/null}")" "$(stat -c %s "${vercel_bin[$b]:-/dev/null}")"
done
echo "  tools: $(sam --version), $(grep -h '^cargo-lambda==' "$here/requirements.txt"), Vercel CLI $(vercel --version 2>/dev/null | tail -1)"

if [ "$failures" -gt 0 ]; then
  log "$failures check(s) failed"
  exit 1
fi
log "deploy check passed: ${binaries[*]} built by sam build and vercel build, and answered"
