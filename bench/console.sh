#!/usr/bin/env bash
# Console pages with a large account (issue 16): 100,000 stored calls (COUNT), then wrk, signed in,
# against the calls list (first page, a status filter, a page deep in the list) and one call's page,
# next to wrk against a trivial axum handler (the HTTP baseline) in the same run. Prints p99 latency
# per page. Usage: bench/console.sh [SECONDS] [CONNECTIONS] [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-8}
connections=${2:-8}
count=${3:-100000}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p switchboard-cli -p switchboard-bench
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_for_address() { # file
  for _ in $(seq 100); do
    address=$(sed -n 's/^http listening on //p' "$1")
    [ -n "$address" ] && { echo "$address"; return; }
    sleep 0.1
  done
  echo "server did not start" >&2; exit 1
}

sid="AC$(openssl rand -hex 16)"; token=$(openssl rand -hex 16)
start_engine() {
  : >"$work/engine.out"
  SWITCHBOARD_ACCOUNT_SID=$sid SWITCHBOARD_AUTH_TOKEN=$token target/release/switchboard serve \
    --http 127.0.0.1:0 --sip off --database "sqlite://$work/bench.db" >"$work/engine.out" 2>"$work/engine.err" &
  engine_pid=$!
  pids+=($engine_pid)
  engine="http://$(wait_for_address "$work/engine.out")"
}

# One real call (its primary refuses, so it ends on the platform prompt), copied COUNT times.
start_engine
api="$engine/2010-04-01/Accounts/$sid"
curl -sf -u "$sid:$token" "$api/IncomingPhoneNumbers.json" -d PhoneNumber=%2B14155550000 \
  -d VoiceUrl=http://127.0.0.1:9/voice >/dev/null
call=$(curl -sf -u "$sid:$token" "$engine/sandbox/Calls" -d To=%2B14155550000 -d Clock=fast \
  | sed -n 's/.*"call_sid":"\(CA[0-9a-f]*\)".*/\1/p')
curl -sf -u "$sid:$token" "$engine/sandbox/Calls/$call?WaitFor=completed&Timeout=20" >/dev/null
kill "$engine_pid"; wait "$engine_pid" 2>/dev/null || true
target/release/console-seed "$work/bench.db" "$count"
start_engine

# Sign in as a browser would: the form's token and cookie, then the form.
form=$(curl -s -D "$work/form.headers" "$engine/console/signin")
csrf=$(echo "$form" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1)
signin_cookie=$(sed -n 's/^set-cookie: \(sb_signin=[0-9a-f]*\).*/\1/ip' "$work/form.headers")
curl -s -D "$work/signin.headers" -o /dev/null -H "Cookie: $signin_cookie" "$engine/console/signin" \
  --data-urlencode "csrf=$csrf" --data-urlencode "AccountSid=$sid" --data-urlencode "AuthToken=$token"
session=$(sed -n 's/^set-cookie: \(sb_session=[0-9a-f]*\).*/\1/ip' "$work/signin.headers")
[ -n "$session" ] || { echo "sign-in failed" >&2; exit 1; }
cat >"$work/cookie.lua" <<LUA
wrk.headers["Cookie"] = "$session"
LUA
# A page halfway down the list, as the console's "next page" links reach it: keyset paging
# continues after a row's seq (`PA<seq>`), whatever the page number.
deep="PageSize=50&Page=1000&PageToken=PA$((count / 2))"
curl -sf -o /dev/null -H "Cookie: $session" "$engine/console/calls?$deep" || { echo "the deep page failed" >&2; exit 1; }

target/release/http-baseline 127.0.0.1:0 >"$work/baseline.out" &
pids+=($!)
baseline="http://$(wait_for_address "$work/baseline.out")"

run() { # label url
  local out rps p99 errors
  out=$(wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$work/cookie.lua" "$2")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx/ {print $4}')
  printf '%-44s %10s req/s   p99 %8s   non-2xx %s\n' "$1" "$rps" "$p99" "${errors:-0}"
}
echo "$count calls stored; wrk -t1 -c$connections -d${seconds}s on $(nproc) cores"
run "baseline (trivial axum handler)" "$baseline/x"
run "GET /console/calls" "$engine/console/calls"
run "GET /console/calls?Status=busy" "$engine/console/calls?Status=busy"
run "GET /console/calls?PageToken=… (halfway)" "$engine/console/calls?$deep"
run "GET /console/calls/{Sid}" "$engine/console/calls/$call"
run "GET /console/alerts" "$engine/console/alerts"
echo
target/release/console-live "$engine" "$sid" "$token" 100
