#!/usr/bin/env bash
# Memory (PSS) per idle connection, for each concurrent mode, with N
# connections held (default 10000): `make bench-idle [N=...]`.  Each
# connection waits for the bot's 51-byte greeting, so the server has
# really set it up before memory is read.
set -euo pipefail
build=${BUILD:-build}
n=${1:-10000}
ulimit -n "$(ulimit -Hn)"
for mode in event prethread thread fork; do
  [ "$mode" = fork ] && [ "$n" -gt 2000 ] && n_mode=2000 || n_mode=$n
  out=$(mktemp)
  "$build/socketserver" --mode "$mode" --handler menu10086 --listen 127.0.0.1:0 \
    --backlog 4096 --max-threads 20000 --max-children "$n_mode" \
    --threads "$n_mode" --log-level error > "$out" &
  pid=$!
  for _ in $(seq 50); do [ -s "$out" ] && break; sleep 0.1; done
  address=$(awk '{print $3; exit}' "$out")
  printf '%-10s ' "$mode"
  "$build/bench/hold" "$address" "$n_mode" "$pid" 51 || true
  kill -TERM "$pid"; wait "$pid" || true
  rm -f "$out"
done
