#!/usr/bin/env bash
# HTTP limits under a flood (issue 20): idle and slowloris connections far beyond the cap while
# /healthz and an authenticated REST fetch are timed and the engine's RSS is sampled
# (crates/switchboard-bench/src/bin/http-flood.rs). Usage:
#   bench/http-flood.sh [IDLE] [SLOWLORIS] [SECONDS] [ENGINE FLAGS…]   (defaults 20000 3000 30)
# Every connection is a descriptor on both sides: the flood runs in two processes, and each
# process here may open as many as the hard limit allows.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
echo "ulimit -n $(ulimit -n)"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p switchboard-cli -p switchboard-bench
target=${CARGO_TARGET_DIR:-target}
exec "$target/release/http-flood" "$@"
