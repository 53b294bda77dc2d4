#!/usr/bin/env bash
# Browser end-to-end tests of the news-portal example (examples/server/).
#
#   bash .ci/e2e.sh
#
# Needs Rust, Node >= 20 and npm; installs Debian's chromium and varnish (apt) and
# playwright-core (npm, from .ci/e2e/package-lock.json, no browser download) when missing. Builds
# the example in release, then:
# 1. serves it in its default mode (`--count server`) on a free loopback port with a fresh
#    snapshot file and runs .ci/e2e/e2e.js against it;
# 2. serves a second one in beacon mode (`--count beacon`) behind a Varnish on another free port
#    (.ci/e2e/beacon.vcl: pages cached, cookies stripped from page requests) and runs
#    .ci/e2e/e2e-beacon.js through the cache.
# 3. serves two more sharing one site through a redis-server of its own (`--redis`), and runs
#    .ci/e2e/e2e-shared.js: a client without a cookie alternating between them.
# Always stops what it started. Exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=/usr/bin/chromium
E2E_DIR=.ci/e2e
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "tools"
missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
command -v varnishd >/dev/null || [ -x /usr/sbin/varnishd ] || missing+=(varnish)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi
VARNISHD=$(command -v varnishd || echo /usr/sbin/varnishd)
want=$(node -p "require('./$E2E_DIR/package.json').dependencies['playwright-core']")
have=$(node -p "try { require('./$E2E_DIR/node_modules/playwright-core/package.json').version } catch { '' }")
if [ "$have" != "$want" ]; then
  (cd "$E2E_DIR" && npm install --no-audit --no-fund)
fi
echo "node $(node --version), playwright-core $want, $("$CHROMIUM" --version 2>/dev/null), $("$VARNISHD" -V 2>&1 | head -n 1)"

step "build the example (release)"
cargo build --release --example server
SERVER=target/release/examples/server

TMP=$(mktemp -d)
# Varnish reads its VCL after dropping its privileges (to Debian's varnish users).
chmod 755 "$TMP"
PIDS=()
stop() {
  local pid=$1
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
cleanup() {
  for pid in "${PIDS[@]}"; do stop "$pid"; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  node -e "const s = require('net').createServer(); s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"
}

# Answers 0 when GET $1 returns HTTP 200.
http_ok() {
  node -e "fetch(process.argv[1]).then(r => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))" "$1"
}

# start_server NAME ARGS...: serves the example on a free port with a fresh snapshot; sets PORT
# and SERVER_PID, or exits.
start_server() {
  local name=$1
  shift
  PORT=
  for attempt in 1 2 3 4 5; do
    local port
    port=$(free_port)
    rm -f "$TMP/$name.snapshot"
    "$SERVER" --addr "127.0.0.1:$port" --snapshot "$TMP/$name.snapshot" "$@" >"$TMP/$name.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
      if http_ok "http://127.0.0.1:$port/api/stats"; then PORT=$port; break; fi
      sleep 0.1
    done
    [ -n "$PORT" ] && break
    echo "server did not answer on port $port (attempt $attempt):"; tail -n 20 "$TMP/$name.log" || true
    stop "$SERVER_PID"
  done
  if [ -z "$PORT" ]; then
    echo "FAIL: server did not start"
    echo "0 passed, 1 failed"
    exit 1
  fi
  PIDS+=("$SERVER_PID")
  echo "$name: server pid $SERVER_PID on http://127.0.0.1:$PORT ($*)"
}

rc=0

step "browser test: counting the pages served"
start_server pages
E2E_CHROMIUM="$CHROMIUM" node "$E2E_DIR/e2e.js" "http://127.0.0.1:$PORT" || rc=$?
if [ "$rc" != 0 ]; then
  echo "--- server log (last 40 lines) ---"
  tail -n 40 "$TMP/pages.log" || true
fi
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "FAIL: the server died during the test"
  rc=1
fi

step "browser test: beacon mode behind Varnish"
start_server beacon --count beacon
APP_PORT=$PORT
APP_PID=$SERVER_PID
CACHE_PORT=
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  sed "s/BACKEND_PORT/$APP_PORT/" "$E2E_DIR/beacon.vcl" >"$TMP/beacon.vcl"
  # -F: in the foreground (a child of this script); -n: its own work directory; -T none: no
  # management port.
  "$VARNISHD" -F -n "$TMP/varnish" -a "127.0.0.1:$port" -f "$TMP/beacon.vcl" -s malloc,32m \
    -T none >"$TMP/varnish.log" 2>&1 &
  VARNISH_PID=$!
  for _ in $(seq 100); do
    if ! kill -0 "$VARNISH_PID" 2>/dev/null; then break; fi
    if http_ok "http://127.0.0.1:$port/api/stats"; then CACHE_PORT=$port; break; fi
    sleep 0.1
  done
  [ -n "$CACHE_PORT" ] && break
  echo "varnish did not answer on port $port (attempt $attempt):"; tail -n 20 "$TMP/varnish.log" || true
  stop "$VARNISH_PID"
done
if [ -z "$CACHE_PORT" ]; then
  echo "FAIL: varnish did not start"
  exit 1
fi
PIDS+=("$VARNISH_PID")
echo "varnish pid $VARNISH_PID on http://127.0.0.1:$CACHE_PORT, in front of the app on $APP_PORT"
brc=0
E2E_CHROMIUM="$CHROMIUM" node "$E2E_DIR/e2e-beacon.js" "http://127.0.0.1:$CACHE_PORT" "http://127.0.0.1:$APP_PORT" || brc=$?
if [ "$brc" != 0 ]; then
  echo "--- server log (last 40 lines) ---"
  tail -n 40 "$TMP/beacon.log" || true
  echo "--- varnish log (last 20 lines) ---"
  tail -n 20 "$TMP/varnish.log" || true
  rc=$brc
fi
if ! kill -0 "$APP_PID" 2>/dev/null; then
  echo "FAIL: the beacon-mode server died during the test"
  rc=1
fi

step "two servers sharing one site through Redis"
REDIS_PORT=$(free_port)
mkdir -p "$TMP/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$TMP/redis" --appendonly yes \
  --appendfsync always --save "" --daemonize no >"$TMP/redis.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
start_server shared-a --redis "redis://127.0.0.1:$REDIS_PORT/" --site e2e
A_PORT=$PORT
start_server shared-b --redis "redis://127.0.0.1:$REDIS_PORT/" --site e2e
B_PORT=$PORT
src=0
node "$E2E_DIR/e2e-shared.js" "http://127.0.0.1:$A_PORT" "http://127.0.0.1:$B_PORT" || src=$?
if [ "$src" != 0 ]; then
  for name in shared-a shared-b; do
    echo "--- $name log (last 20 lines) ---"
    tail -n 20 "$TMP/$name.log" || true
  done
  rc=$src
fi
exit "$rc"
