#!/usr/bin/env bash
# REST throughput (issue 2): GET …/IncomingPhoneNumbers/{Sid}.json and create, on SQLite, with wrk
# against the release binary, next to wrk against a trivial axum handler (the HTTP baseline) in
# the same run. Usage: bench/rest.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-16}
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
SWITCHBOARD_ACCOUNT_SID=$sid SWITCHBOARD_AUTH_TOKEN=$token target/release/switchboard serve \
  --http 127.0.0.1:0 --sip off --database "sqlite://$work/bench.db" >"$work/engine.out" 2>"$work/engine.err" &
pids+=($!)
engine="http://$(wait_for_address "$work/engine.out")"
target/release/http-baseline 127.0.0.1:0 >"$work/baseline.out" &
pids+=($!)
baseline="http://$(wait_for_address "$work/baseline.out")"

numbers="$engine/2010-04-01/Accounts/$sid/IncomingPhoneNumbers.json"
number_sid=$(curl -sf -u "$sid:$token" "$numbers" -d PhoneNumber=%2B14155550000 -d VoiceUrl=https://app.example/v | sed -n 's/.*"sid":"\(PN[0-9a-f]*\)".*/\1/p')
auth=$(printf '%s:%s' "$sid" "$token" | base64 -w0)
cat >"$work/auth.lua" <<LUA
wrk.headers["Authorization"] = "Basic $auth"
LUA
cat >"$work/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Basic $auth"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format("PhoneNumber=%%2B1628%07d&VoiceUrl=https://app.example/v", counter))
end
LUA

run() { # label url script
  local out
  out=$(wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$3" "$2")
  local rps p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx/ {print $4}')
  printf '%-34s %10s req/s   p99 %8s   non-2xx %s\n' "$1" "$rps" "$p99" "${errors:-0}"
  echo "$rps" >"$work/$4"
}
echo "wrk -t1 -c$connections -d${seconds}s on $(nproc) cores"
run "baseline (trivial axum handler)" "$baseline/x" "$work/auth.lua" baseline
run "GET IncomingPhoneNumbers/{Sid}" "$engine/2010-04-01/Accounts/$sid/IncomingPhoneNumbers/$number_sid.json" "$work/auth.lua" fetch
run "POST IncomingPhoneNumbers (create)" "$numbers" "$work/create.lua" create
awk -v b="$(cat "$work/baseline")" -v f="$(cat "$work/fetch")" -v c="$(cat "$work/create")" \
  'BEGIN { printf "fetch / baseline = %.2f   create / baseline = %.3f\n", f / b, c / b }'
