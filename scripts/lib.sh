# Shared by scripts/dev.sh and scripts/test.sh: installs pinned tools
# idempotently and starts local servers. Source it; do not run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs SecantusDB (a MongoDB-wire server) and aiosmtpd (an SMTP
# server) into .local/venv, once per version of scripts/requirements.txt.
ensure_secantus() {
  local stamp="$VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$ROOT/scripts/requirements.txt" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/secantusd-py" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "installing SecantusDB into $VENV"
  mkdir -p "$LOCAL"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$ROOT/scripts/requirements.txt"
  echo "$want" > "$stamp"
}

# s3s-fs, an S3-compatible server that checks SigV4 signatures and presigned
# URL expiry. Built once per machine (a few minutes) into TOOLS, shared by
# every clone; 0.14.1 is the newest release this toolchain builds.
S3S_FS_VERSION=0.14.1
TOOLS="${CRM_TOOLS_DIR:-$HOME/.cache/crm-tools}"
S3S_FS="$TOOLS/s3s-fs-$S3S_FS_VERSION/bin/s3s-fs"
ensure_s3s_fs() {
  [ -x "$S3S_FS" ] && return 0
  log "building s3s-fs $S3S_FS_VERSION into $TOOLS (once per machine)"
  cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked \
    --root "$TOOLS/s3s-fs-$S3S_FS_VERSION"
}

# cfn-lint (checks template.yaml) into .local/cfn-lint, once per version of
# scripts/requirements-cfn-lint.txt.
CFN_VENV="$LOCAL/cfn-lint"
ensure_cfn_lint() {
  local stamp="$CFN_VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$ROOT/scripts/requirements-cfn-lint.txt" | cut -d' ' -f1)"
  if [ -x "$CFN_VENV/bin/cfn-lint" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "installing cfn-lint into $CFN_VENV"
  mkdir -p "$LOCAL"
  python3 -m venv "$CFN_VENV"
  "$CFN_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps \
    -r "$ROOT/scripts/requirements-cfn-lint.txt"
  echo "$want" > "$stamp"
}

# openapi-spec-validator and schemathesis (the API contract's checkers) into
# .local/contract, once per version of scripts/requirements-contract.txt.
CONTRACT_VENV="$LOCAL/contract"
ensure_contract_tools() {
  local stamp="$CONTRACT_VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$ROOT/scripts/requirements-contract.txt" | cut -d' ' -f1)"
  if [ ! -x "$CONTRACT_VENV/bin/schemathesis" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing openapi-spec-validator and schemathesis into $CONTRACT_VENV"
    mkdir -p "$LOCAL"
    python3 -m venv "$CONTRACT_VENV"
    "$CONTRACT_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps \
      -r "$ROOT/scripts/requirements-contract.txt"
    echo "$want" > "$stamp"
  fi
  export CONTRACT_TOOLS="$CONTRACT_VENV/bin"
}

# Installs Debian's package $1 at version $2 (the security archive's, so
# the pin holds until Debian replaces it: then the current one, with a
# warning), as root or with sudo.
apt_install_pinned() {
  local package="$1" version="$2" sudo="" apt="apt-get install -y -qq --no-install-recommends"
  [ "$(id -u)" = 0 ] || sudo=sudo
  log "installing Debian's $package $version"
  export DEBIAN_FRONTEND=noninteractive
  $sudo $apt "$package=$version" >/dev/null 2>&1 || {
    $sudo apt-get update -qq
    $sudo $apt "$package=$version" || {
      log "WARNING: $package $version is gone from Debian; installing the current one"
      $sudo $apt "$package"
    }
  }
}

# Debian's poppler-utils (`pdftotext`) for the PDF tests, pinned like
# chromium, once per machine.
POPPLER_VERSION=22.12.0-2+deb12u1
ensure_poppler() {
  command -v pdftotext >/dev/null 2>&1 || apt_install_pinned poppler-utils "$POPPLER_VERSION"
  PDFTOTEXT="$(command -v pdftotext)"
  export PDFTOTEXT
}

# Debian's Chromium for the browser tests, pinned to the version the
# security archive carries (should Debian have replaced it, the current one
# is taken, with a warning), once per machine.
CHROMIUM_VERSION=148.0.7778.167-1~deb12u1
ensure_chromium() {
  command -v chromium >/dev/null 2>&1 || apt_install_pinned chromium "$CHROMIUM_VERSION"
  CHROMIUM="$(command -v chromium)"
  export CHROMIUM
}

# playwright-core (drives Chromium), openapi-typescript and typescript (the
# generated client's type check) into tests/browser/node_modules, once per
# version of tests/browser/package-lock.json.
ensure_browser_tests() {
  local dir="$ROOT/tests/browser" want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$dir/node_modules/.lock.sha256" 2>/dev/null)" != "$want" ]; then
    log "installing playwright-core, openapi-typescript and typescript from tests/browser/package-lock.json"
    (cd "$dir" && npm ci --no-audit --no-fund --silent)
    echo "$want" > "$dir/node_modules/.lock.sha256"
  fi
  export BROWSER_TESTS="$dir"
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something accepts connections on 127.0.0.1:$1 (up to $2 s).
wait_port() {
  local port="$1" limit="${2:-30}" i=0
  until python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(('127.0.0.1',$port)))" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -ge $((limit * 4)) ]; then
      log "nothing is listening on port $port after ${limit}s"
      return 1
    fi
    sleep 0.25
  done
}

STARTED_PIDS=()

# Stops every server this script started (call it from an EXIT trap).
stop_started() {
  for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

# Unless MONGODB_URI is already set: installs SecantusDB, starts it on port
# $2 (default: a free one) with its data in directory $1, its log in $1.log
# and any further arguments as server flags, waits for it, and exports
# MONGODB_URI.
use_mongodb() {
  [ -n "${MONGODB_URI:-}" ] && return 0
  local data="$1" port="${2:-}"
  shift 2 || shift $#
  [ -n "$port" ] || port="$(free_port)"
  if python3 -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(('127.0.0.1',$port)) == 0 else 1)"; then
    log "port $port is already in use: set MONGODB_PORT, or MONGODB_URI to use that server"
    return 1
  fi
  ensure_secantus
  mkdir -p "$data"
  log "starting SecantusDB on 127.0.0.1:$port (data in $data)"
  "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$port" --storage-path "$data" \
    --log-level WARNING "$@" >"$data.log" 2>&1 &
  STARTED_PIDS+=("$!")
  wait_port "$port" 60 || { cat "$data.log" >&2; return 1; }
  export MONGODB_URI="mongodb://127.0.0.1:$port/?directConnection=true"
}

# A real SMTP server (aiosmtpd) on 127.0.0.1 that writes every message it
# accepts into the maildir $1 (new/ holds one file per message), unless
# SMTP_URL points at one already. Exports SMTP_URL, MAILDIR and SMTP_PYTHON
# (tests that take the server down start their own with it).
use_smtp() {
  [ -n "${SMTP_URL:-}" ] && return 0
  local maildir="$1" port="${2:-}"
  [ -n "$port" ] || port="$(free_port)"
  ensure_secantus
  # aiosmtpd makes the maildir (tmp/, new/, cur/) only where none exists.
  mkdir -p "$(dirname "$maildir")"
  log "starting aiosmtpd on 127.0.0.1:$port (messages in $maildir/new)"
  "$VENV/bin/python" -m aiosmtpd -n -l "127.0.0.1:$port" \
    -c aiosmtpd.handlers.Mailbox "$maildir" >"$maildir.log" 2>&1 &
  STARTED_PIDS+=("$!")
  wait_port "$port" 30 || { cat "$maildir.log" >&2; return 1; }
  export SMTP_URL="smtp://127.0.0.1:$port"
  export MAILDIR="$maildir"
  export SMTP_PYTHON="$VENV/bin/python"
}

# Debian's nginx (the light build), pinned like chromium, once per machine:
# the bucket's CORS rules in front of s3s-fs, which has none of its own.
NGINX_VERSION=1.22.1-9+deb12u7
ensure_nginx() {
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] ||
    apt_install_pinned nginx-light "$NGINX_VERSION"
  NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
}

# Writes the nginx configuration that gives the local bucket what S3, R2
# and Spaces give a bucket with CORS rules (README, "Browser uploads"): a
# preflight from an origin in $S3_CORS_ORIGINS (comma-separated) is
# answered for GET, PUT and HEAD with any request header, one from any
# other origin is 403; answers to an allowed origin carry
# Access-Control-Allow-Origin and expose ETag. Everything is passed to
# s3s-fs on $3 unchanged, Host included, so SigV4 signatures and presigned
# URLs are checked by s3s-fs as they are by S3.
write_s3_cors_conf() {
  local dir="$1" port="$2" inner="$3" origins="" o
  IFS=',' read -ra list <<< "$S3_CORS_ORIGINS"
  for o in "${list[@]}"; do
    o="$(echo "$o" | tr -d '[:space:]')"
    [ -n "$o" ] && origins+="    \"$o\" \$http_origin;"$'\n'
  done
  local user=""
  # As root, workers would otherwise run as nobody, who cannot write here.
  [ "$(id -u)" = 0 ] && user="user root;"
  mkdir -p "$dir/tmp"
  cat > "$dir/nginx.conf" <<CONF
daemon off;
$user
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  client_max_body_size 0;
  proxy_request_buffering off;
  proxy_buffering off;
  map \$http_origin \$cors_origin {
    default "";
$origins  }
  map "\$request_method:\$cors_origin" \$preflight {
    default "";
    "~^OPTIONS:\$" refused;
    "~^OPTIONS:." allowed;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      if (\$preflight = refused) {
        return 403;
      }
      if (\$preflight = allowed) {
        add_header Access-Control-Allow-Origin \$cors_origin always;
        add_header Access-Control-Allow-Methods "GET, PUT, HEAD" always;
        add_header Access-Control-Allow-Headers \$http_access_control_request_headers always;
        add_header Access-Control-Max-Age 3000 always;
        add_header Vary "Origin, Access-Control-Request-Headers, Access-Control-Request-Method" always;
        return 200;
      }
      add_header Access-Control-Allow-Origin \$cors_origin always;
      add_header Access-Control-Expose-Headers "ETag" always;
      add_header Vary Origin always;
      proxy_pass http://127.0.0.1:$inner;
      proxy_http_version 1.1;
      proxy_set_header Host \$http_host;
      proxy_set_header Connection "";
    }
  }
}
CONF
}

# Unless S3_ENDPOINT is already set: builds s3s-fs if needed, starts it on a
# free port with its files in directory $1 and the bucket $S3_BUCKET
# (default crm-files) in it, puts nginx with the bucket's CORS rules
# ($S3_CORS_ORIGINS, default $ALLOWED_ORIGINS) in front of it on port $2
# (default: a free one), waits for both, and exports the storage variables
# the API reads.
use_s3() {
  [ -n "${S3_ENDPOINT:-}" ] && return 0
  local data="$1" port="${2:-}" inner
  [ -n "$port" ] || port="$(free_port)"
  inner="$(free_port)"
  ensure_s3s_fs
  ensure_nginx
  export S3_BUCKET="${S3_BUCKET:-crm-files}"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-crm-local-key}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-crm-local-secret-key}"
  export S3_REGION="${S3_REGION:-us-east-1}"
  export S3_CORS_ORIGINS="${S3_CORS_ORIGINS:-${ALLOWED_ORIGINS:-http://localhost:5173,http://127.0.0.1:5173}}"
  mkdir -p "$data/$S3_BUCKET"
  log "starting s3s-fs on 127.0.0.1:$inner (files in $data)"
  "$S3S_FS" --host 127.0.0.1 --port "$inner" --access-key "$AWS_ACCESS_KEY_ID" \
    --secret-key "$AWS_SECRET_ACCESS_KEY" "$data" >"$data.log" 2>&1 &
  STARTED_PIDS+=("$!")
  wait_port "$inner" 30 || { cat "$data.log" >&2; return 1; }
  write_s3_cors_conf "$data.nginx" "$port" "$inner"
  log "starting nginx on 127.0.0.1:$port (the bucket's CORS rules for $S3_CORS_ORIGINS)"
  "$NGINX" -c "$data.nginx/nginx.conf" -e "$data.nginx/error.log" >"$data.nginx/stdout.log" 2>&1 &
  STARTED_PIDS+=("$!")
  wait_port "$port" 30 || { cat "$data.nginx/error.log" >&2; return 1; }
  export S3_ENDPOINT="http://127.0.0.1:$port"
  # Tests that stop a storage server start their own with this binary.
  export S3S_FS_BIN="$S3S_FS"
}
