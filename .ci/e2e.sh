#!/usr/bin/env bash
# Browser end-to-end test of the news-portal example (examples/server/).
#
#   bash .ci/e2e.sh
#
# Needs Rust, Node >= 20 and npm; installs Debian's chromium (apt) and playwright-core (npm,
# from .ci/e2e/package-lock.json, no browser download) when missing. Builds the example in
# release, serves it on a free loopback port with a fresh snapshot file, runs .ci/e2e/e2e.js
# and always stops the server. Exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=/usr/bin/chromium
E2E_DIR=.ci/e2e
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "tools"
if [ ! -x "$CHROMIUM" ]; then
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
want=$(node -p "require('./$E2E_DIR/package.json').dependencies['playwright-core']")
have=$(node -p "try { require('./$E2E_DIR/node_modules/playwright-core/package.json').version } catch { '' }")
if [ "$have" != "$want" ]; then
  (cd "$E2E_DIR" && npm install --no-audit --no-fund)
fi
echo "node $(node --version), playwright-core $want, $("$CHROMIUM" --version 2>/dev/null)"

step "build the example (release)"
cargo build --release --example server
SERVER=target/release/examples/server

TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Answers 0 when GET $1 returns HTTP 200 (a JSON endpoint: not counted as a page view).
http_ok() {
  node -e "fetch(process.argv[1]).then(r => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))" "$1"
}

step "start the server"
PORT=
for attempt in 1 2 3 4 5; do
  port=$(node -e "const s = require('net').createServer(); s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
  rm -f "$TMP/snapshot.bin"
  "$SERVER" --addr "127.0.0.1:$port" --snapshot "$TMP/snapshot.bin" >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    if http_ok "http://127.0.0.1:$port/api/stats"; then PORT=$port; break; fi
    sleep 0.1
  done
  [ -n "$PORT" ] && break
  echo "server did not answer on port $port (attempt $attempt):"; tail -n 20 "$TMP/server.log" || true
  kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
done
if [ -z "$PORT" ]; then
  echo "FAIL: server did not start"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "server pid $SERVER_PID on http://127.0.0.1:$PORT (snapshot $TMP/snapshot.bin)"

step "browser test"
rc=0
E2E_CHROMIUM="$CHROMIUM" node "$E2E_DIR/e2e.js" "http://127.0.0.1:$PORT" || rc=$?
if [ "$rc" != 0 ]; then
  echo "--- server log (last 40 lines) ---"
  tail -n 40 "$TMP/server.log" || true
fi
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "FAIL: the server died during the test"
  rc=1
fi
exit "$rc"
