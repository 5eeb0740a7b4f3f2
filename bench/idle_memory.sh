#!/usr/bin/env bash
# Memory (PSS) per idle connection, and a busy client's round trip while
# they are held: `make bench-idle [N="1000 10000 100000"]`.  Each
# connection waits for the bot's 51-byte greeting, so the server has
# really set it up before memory is read; then a probe sends "1" 300
# times, 10 ms apart, and times the 17-byte answer.
#
# Every count runs in event mode; the blocking modes stop at what they
# can hold on one machine (a thread or a process a connection).  One
# event process holds as many as its descriptor limit allows (the server
# raises it as far as it may; as root with CAP_SYS_RESOURCE past the hard
# limit) and about vm.max_map_count / 2 (each coroutine's stack is a
# mapping split by its guard page); past that the event mode runs enough
# workers, each capped with --max-conns, and says so.
set -euo pipefail
build=${BUILD:-build}
counts=${*:-1000 10000 100000}

hard_fd_limit=$(ulimit -Hn)
[ "$hard_fd_limit" = unlimited ] && hard_fd_limit=1048576
map_limit=$(( $(cat /proc/sys/vm/max_map_count 2>/dev/null || echo 65530) / 2 ))
per_process=$(( (hard_fd_limit < map_limit ? hard_fd_limit : map_limit) - 1000 ))

# The most connections a mode is asked to hold: a thread or a process
# each cost megabytes of address space and a task.
mode_cap() {
  case $1 in
    fork) echo 2000 ;;
    thread|prethread) echo 9999 ;; # --threads takes 10,000 at most
    *) echo 1000000 ;;
  esac
}

# The server's flags for n connections in mode, and the probe's one more.
mode_flags() {
  local mode=$1 n=$(( $2 + 1 ))
  case $mode in
    fork) printf -- '--max-children %d' "$n" ;;
    thread) printf -- '--max-threads %d' "$n" ;;
    prethread) printf -- '--threads %d' "$n" ;;
    event)
      if [ "$n" -gt "$per_process" ]; then
        printf -- '--workers %d --max-conns %d' \
          $(( (n + per_process - 1) / per_process + 1 )) "$per_process"
      fi ;;
  esac
}

run_one() {
  local mode=$1 n=$2 out pid address flags
  flags=$(mode_flags "$mode" "$n")
  out=$(mktemp)
  # shellcheck disable=SC2086 # flags is a list of words
  "$build/socketserver" --mode "$mode" --handler menu10086 \
    --listen 127.0.0.1:0 --backlog 4096 $flags --log-level error > "$out" &
  pid=$!
  for _ in $(seq 50); do [ -s "$out" ] && break; sleep 0.1; done
  address=$(awk '{print $3; exit}' "$out")
  printf '%-10s %-34s ' "$mode" "$flags"
  "$build/bench/hold" "$address" "$n" "$pid" 51 1 17 || true
  kill -TERM "$pid"; wait "$pid" || true
  rm -f "$out"
}

echo "one process may hold $per_process connections here (descriptors: hard limit $hard_fd_limit; mappings: vm.max_map_count / 2 = $map_limit)"
for n in $counts; do
  for mode in event prethread thread fork; do
    if [ "$n" -le "$(mode_cap "$mode")" ]; then run_one "$mode" "$n"; fi
  done
done
