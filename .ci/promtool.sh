#!/usr/bin/env bash
# The example server's /metrics through `promtool check metrics` (Debian's prometheus package).
#
#   bash .ci/promtool.sh
#
# Builds the example in release and serves it on a free loopback port (the OS picks it), sharing
# a site through a redis-server of its own on a Unix socket, so that every family is there: an
# article view, a save (POST /admin/save) and a sync. Scrapes /metrics in the Prometheus text
# format (the example's default, and the only format promtool reads) and checks it. Always
# stops what it started. Exits non-zero when promtool flags anything or a family is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

cargo build --release --example server
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  # The server first (it syncs once more as it stops), then its Redis.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[i]}" 2>/dev/null || true
    wait "${PIDS[i]}" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis-server --port 0 --unixsocket "$TMP/redis.sock" --dir "$TMP" --save "" --appendonly no \
  --daemonize no >"$TMP/redis.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
  redis-cli -s "$TMP/redis.sock" ping >/dev/null 2>&1 && break
  sleep 0.1
done

VC_ADMIN_TOKEN=ci target/release/examples/server --addr 127.0.0.1:0 \
  --snapshot "$TMP/counter.snapshot" --redis "unix://$TMP/redis.sock" --site promtool \
  >"$TMP/server.log" 2>&1 &
PIDS+=("$!")
BASE=
for _ in $(seq 100); do
  BASE=$(grep -o -m 1 'http://127\.0\.0\.1:[0-9]*' "$TMP/server.log" || true)
  [ -n "$BASE" ] && break
  sleep 0.1
done
if [ -z "$BASE" ]; then
  echo "FAIL: the example did not start"; cat "$TMP/server.log"; exit 1
fi

browser='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'
curl -fsS -o /dev/null -A "$browser" -H 'Accept: text/html' "$BASE/articles/1"
curl -fsS -o /dev/null -X POST -H 'Authorization: Bearer ci' "$BASE/admin/save"
# The families that appear only once there is something to show.
late=(visitors_article_views_today visitors_snapshot_last_save_timestamp_seconds
  visitors_sync_last_success_timestamp_seconds visitors_sync_clock_offset_seconds)
for _ in $(seq 50); do
  curl -fsS "$BASE/metrics" >"$TMP/metrics.txt"
  missing=()
  for family in "${late[@]}"; do
    grep -q "^# TYPE $family " "$TMP/metrics.txt" || missing+=("$family")
  done
  [ ${#missing[@]} = 0 ] && break
  sleep 0.1
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "FAIL: not in /metrics: ${missing[*]}"; cat "$TMP/metrics.txt"; tail -n 20 "$TMP/server.log"
  exit 1
fi
grep '^# TYPE ' "$TMP/metrics.txt"
promtool --version 2>&1 | sed -n 1p
promtool check metrics <"$TMP/metrics.txt"
echo "promtool check metrics: no problems"
