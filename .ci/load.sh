#!/usr/bin/env bash
# Load test of an example: requests per second with its counting (the tower layer in the axum
# news portal `server`, or the `web::actix::Count` middleware in `actix`) and without it
# (`--no-count`), on `/` and `/articles/1`, for two kinds of visitor:
# - new: no cookie, and a User-Agent no other request has (a wrk Lua script numbers a browser's
#   Chrome version). The rules count a request without a cookie under the day's id of its
#   address and User-Agent, so wrk's requests, all from 127.0.0.1, are each a new visitor only
#   if their User-Agents differ. Each new User-Agent also misses the bot-verdict cache (the
#   crawler automata run: under 1 us), which real new visitors, with common User-Agents, rarely do;
# - returning: one fixed plain vc_id cookie, so one visitor.
# Both servers run with `--pace-limit 0` (LOAD_PACE_LIMIT): at the default limit, 60 page views
# of a visitor a minute, nearly every returning request would be excluded (`Exclusion::Pace`).
# The pace check's own cost is measured by `benches/hit.rs` (`rules/...`).
#
#   bash .ci/load.sh      # env: LOAD_ROUNDS=3 LOAD_DURATION=10s LOAD_THREADS=2 LOAD_CONNS=32
#   LOAD_EXAMPLE=actix bash .ci/load.sh     # the actix example (or `bash .ci/load-actix.sh`)
#
# Each round starts both servers (fresh snapshot files, free loopback ports), warms them up,
# then runs every case against one and right after against the other, the order alternating,
# so that drift or other work on the machine hits both modes alike. Prints each run, the
# medians and the overhead `1 - with/without`.
# A measurement, not a gate: exits 0 whatever the numbers (non-zero only when it cannot run).
# Server and load generator both stay on loopback; every run has a bounded duration.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

ROUNDS=${LOAD_ROUNDS:-3}
DURATION=${LOAD_DURATION:-10s}
THREADS=${LOAD_THREADS:-2}
CONNS=${LOAD_CONNS:-32}
WARMUP=${LOAD_WARMUP:-2s}
PATHS=(/ /articles/1)
MODES=(count nocount)
PACE_LIMIT=${LOAD_PACE_LIMIT:-0}
# wrk sends no User-Agent, which the counter treats as a bot (not counted): send a browser's.
UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'
# New visitors: the same browser, its version numbered by wrk thread and request.
NEW_UA_FORMAT='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.%d.%d Safari/537.36'
RETURNING_COOKIE='vc_id=0123456789abcdef0123456789abcdef'

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step "tools"
if ! command -v wrk >/dev/null 2>&1; then
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
fi
wrk --version 2>&1 | head -n 1 || true
echo "nproc $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"

step "build the example (release)"
EXAMPLE=${LOAD_EXAMPLE:-server}
case $EXAMPLE in
  server) ARTICLES=20 ;;
  actix) ARTICLES=5 ;;
  *) echo "LOAD_EXAMPLE: server or actix" >&2; exit 2 ;;
esac
cargo build --release --example "$EXAMPLE"
SERVER=target/release/examples/$EXAMPLE
PACE_ARGS=(--pace-limit "$PACE_LIMIT")
echo "servers run with --pace-limit $PACE_LIMIT"

TMP=$(mktemp -d)
# Every request a new visitor: a User-Agent no other request of the run has. `setup` runs in
# wrk's main Lua state and gives each thread its number; `request` runs in the thread's own.
cat >"$TMP/new-visitors.lua" <<LUA
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local n = 0
function request()
  n = n + 1
  wrk.headers["User-Agent"] = string.format("$NEW_UA_FORMAT", tid, n)
  return wrk.format()
end
LUA
declare -A PID PORT # mode -> server pid, port
stop_server() {
  local mode=$1 pid=${PID[$1]:-}
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  [ -n "$pid" ] && { wait "$pid" 2>/dev/null || true; }
  PID[$mode]=
}
stop_all() { for m in "${MODES[@]}"; do stop_server "$m"; done; }
trap 'stop_all; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

# GET $2 from 127.0.0.1:$1 with bash's /dev/tcp; prints the response (no curl needed).
# Without a User-Agent, so not counted; page_view sends a browser's, without a cookie (counted,
# every one under the same cookieless visitor).
http_get() {
  local port=$1 path=$2 extra=${3:-}
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n' "$path" "$extra" >&3
    timeout 5 cat <&3
  ) 2>/dev/null
}
status_of() { http_get "$1" "$2" "${3:-}" | head -n 1 | awk '{print $2}'; }
page_view() { status_of "$1" "$2" "User-Agent: $UA"$'\r\n'; }

# start_server MODE [fresh]: the server on a free loopback port, with the snapshot file
# $TMP/MODE.snapshot (removed first with "fresh").
start_server() {
  local mode=$1 fresh=${2:-} extra=() port pid
  [ "$mode" = nocount ] && extra=(--no-count)
  for _ in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 40000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi # taken
    [ "$fresh" = fresh ] && rm -f "$TMP/$mode.snapshot"
    "$SERVER" --addr "127.0.0.1:$port" --snapshot "$TMP/$mode.snapshot" "${PACE_ARGS[@]}" "${extra[@]}" >"$TMP/server-$mode.log" 2>&1 &
    pid=$!
    PID[$mode]=$pid
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      if [ "$(status_of "$port" /api/stats)" = 200 ]; then PORT[$mode]=$port; return 0; fi
      sleep 0.1
    done
    echo "server ($mode) did not answer on port $port:"; tail -n 20 "$TMP/server-$mode.log" || true
    stop_server "$mode"
  done
  echo "could not start the server ($mode)" >&2
  exit 1
}

# Server CPU time (user + system) of PID, in clock ticks.
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {
  local s
  s=$(cat "/proc/$1/stat")
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  echo $(( ${12} + ${13} ))
}

# run_wrk PORT PATH VISITOR DURATION: prints "requests/second requests"; warns about errors.
run_wrk() {
  local port=$1 path=$2 visitor=$3 dur=$4 out
  local args=(-t"$THREADS" -c"$CONNS" -d"$dur" --timeout 5s -H "User-Agent: $UA" -H 'Accept: text/html')
  case $visitor in
    new) args+=(-s "$TMP/new-visitors.lua") ;;
    returning) args+=(-H "Cookie: $RETURNING_COOKIE") ;;
  esac
  out=$(wrk "${args[@]}" "http://127.0.0.1:$port$path")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    grep -E 'Non-2xx|Socket errors' <<<"$out" | sed 's/^ */    warning: /' >&2
  fi
  printf '%s %s\n' "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")" "$(awk '/ requests in / {print $1}' <<<"$out")"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
pct() { awk -v w="$1" -v n="$2" 'BEGIN {printf "%.1f", (1 - w / n) * 100}'; }

CASES=()
for p in "${PATHS[@]}"; do for v in new returning; do CASES+=("$p|$v"); done; done
declare -A RPS  # "mode|path|visitor" -> rps of each round, space-separated
declare -A PAIR # "path|visitor" -> overhead % of each round's pair of runs
declare -A CPU  # "mode|path|visitor" -> server CPU microseconds per request of each round

step "load: wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds, modes alternating"
# Server and wrk share this machine's cores: anything else running skews the numbers.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (on $(nproc) cores; keep the machine otherwise idle)"
# Both servers of a round start from the same state: a fresh snapshot, primed by the counting
# server with one view of each article and of the home page, saved on SIGTERM and copied. Else
# the no-count pages would be lighter (an empty "most read" box), which is not the layer's cost.
prime() {
  start_server count fresh
  for i in $(seq "$ARTICLES"); do page_view "${PORT[count]}" "/articles/$i" >/dev/null; done
  page_view "${PORT[count]}" / >/dev/null
  stop_server count
  [ -s "$TMP/count.snapshot" ] || { echo "the server saved no snapshot on SIGTERM" >&2; exit 1; }
  cp "$TMP/count.snapshot" "$TMP/nocount.snapshot"
}

flip=0
for round in $(seq "$ROUNDS"); do
  prime
  for m in "${MODES[@]}"; do start_server "$m"; done
  for m in "${MODES[@]}"; do
    for p in "${PATHS[@]}"; do
      s=$(status_of "${PORT[$m]}" "$p")
      [ "$s" = 200 ] || { echo "GET $p ($m) answered '$s', not 200" >&2; exit 1; }
    done
    for p in "${PATHS[@]}"; do run_wrk "${PORT[$m]}" "$p" new "$WARMUP" >/dev/null; done
  done
  for c in "${CASES[@]}"; do
    p=${c%|*}; v=${c#*|}
    if (( flip++ % 2 )); then order=(nocount count); else order=(count nocount); fi
    declare -A r=()
    for m in "${order[@]}"; do
      t0=$(cpu_ticks "${PID[$m]}")
      read -r rps reqs < <(run_wrk "${PORT[$m]}" "$p" "$v" "$DURATION")
      t1=$(cpu_ticks "${PID[$m]}")
      if [ -z "${reqs:-}" ] || [ "$reqs" = 0 ]; then
        echo "wrk got no answer from the $m server on $p" >&2; tail -n 20 "$TMP/server-$m.log" >&2 || true
        exit 1
      fi
      us=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
      r[$m]=$rps
      RPS["$m|$c"]+="$rps "
      CPU["$m|$c"]+="$us "
      printf 'round %s  %-8s %-12s %-10s %10s req/s  %6s us server CPU/request\n' "$round" "$m" "$p" "$v" "$rps" "$us"
    done
    PAIR["$c"]+="$(pct "${r[count]}" "${r[nocount]}") "
  done
  echo "  counted by the server that counts: $(http_get "${PORT[count]}" /api/stats | grep -oE '"(online|page_views)":(\{[^}]*\}|[0-9]+)' | tr '\n' ' ')"
  stop_all
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

step "summary: requests/second, median of $ROUNDS runs; overhead = 1 - with/without"
printf '%-12s %-10s %12s %12s %10s   %s\n' path visitor with-count no-count overhead 'overhead of each round pair'
worst=-1000
for c in "${CASES[@]}"; do
  p=${c%|*}; v=${c#*|}
  # shellcheck disable=SC2086
  w=$(median ${RPS["count|$c"]}); n=$(median ${RPS["nocount|$c"]})
  o=$(pct "$w" "$n")
  printf '%-12s %-10s %12s %12s %9s%%   %s\n' "$p" "$v" "$w" "$n" "$o" "$(printf '%s%% ' ${PAIR[$c]})"
  worst=$(awk -v a="$worst" -v b="$o" 'BEGIN {print (b > a) ? b : a}')
done
echo
echo "Server CPU per request (median, microseconds; less sensitive to other work on the machine);"
echo "overhead as throughput at full CPU = 1 - no-count/with-count:"
printf '%-12s %-10s %12s %12s %10s\n' path visitor with-count no-count overhead
cpu_worst=-1000
for c in "${CASES[@]}"; do
  # shellcheck disable=SC2086
  w=$(median ${CPU["count|$c"]}); n=$(median ${CPU["nocount|$c"]})
  o=$(pct "$n" "$w")
  printf '%-12s %-10s %12s %12s %9s%%\n' "${c%|*}" "${c#*|}" "$w" "$n" "$o"
  cpu_worst=$(awk -v a="$cpu_worst" -v b="$o" 'BEGIN {print (b > a) ? b : a}')
done
echo "largest overhead (server CPU per request): $cpu_worst%"
echo
echo "largest overhead (medians of requests/second): $worst%"
if awk -v o="$worst" 'BEGIN {exit !(o <= 10)}'; then echo "overhead <= 10%: yes"; else echo "overhead <= 10%: no"; fi
exit 0
