#!/usr/bin/env bash
# handler_bench.sh -- the benchmark for any handler: one server command
# (any program built on ss_main, or build/socketserver with HANDLERS=),
# one handler, one workload described by its bytes, run in every mode and
# under --workers 2, side by side, with make bench's load generator
# (loadgen) and report (report.awk: table with ratios to the best mode,
# CSV, SVG charts).
#
#   bench/handler_bench.sh --server 'CMD [ARGS]' --handler NAME WORKLOAD
#       [--greet] [--quick] [--secs S] [--conns N] [--idle N]
#       [--modes 'sync fork ...'] [--out DIR]
#
# WORKLOAD, one of:
#   --greeting LINES     connect, read LINES lines, hang up (a greeting)
#   --eof                connect, read to end of file (the server closes)
#   --request BYTES --reply BYTES | --reply-lines N | --reply-bytes N
#                        on persistent connections: send BYTES (C escapes:
#                        \n \r \t \\ \xHH), expect that reply, again
#   --script 'LINE\nLINE\n'
#                        on persistent connections: each line, then its
#                        one reply line, in turn; the operation is the
#                        whole script
# --greet: the handler sends one line when a client connects (read before
# the first request, and what an idle connection waits for).
#
# Per mode: operations/s with p50/p99/p99.9, the server's CPU time per
# operation, and its memory (PSS) per idle connection.  Every run is
# bounded: a server that does not print 'listening on' within 5 s, or a
# workload whose replies never come (each operation: 2 s at most), is a
# row marked failed with why, never a hang.
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/server_group.sh
. bench/server_group.sh

build=${BUILD:-build}
loadgen=$build/bench/loadgen
server= handler= kind= greet=0 quick=${QUICK:-0} out=
request= reply= reply_lines= reply_bytes= lines=
secs= conns=32 idle=
modes='sync fork thread prethread event workers-sync workers-thread workers-event'

usage() { sed -n '2,31s/^# \{0,1\}//p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --server) server=$2; shift ;;
    --handler) handler=$2; shift ;;
    --greeting) kind=greeting; lines=$2; shift ;;
    --eof) kind=eof ;;
    --request) kind=rr; request=$2; shift ;;
    --reply) reply=$2; shift ;;
    --reply-lines) reply_lines=$2; shift ;;
    --reply-bytes) reply_bytes=$2; shift ;;
    --script) kind=script; request=$2; shift ;;
    --greet) greet=1 ;;
    --quick) quick=1 ;;
    --secs) secs=$2; shift ;;
    --conns) conns=$2; shift ;;
    --idle) idle=$2; shift ;;
    --modes) modes=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "handler_bench: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done
[ -n "$server" ] && [ -n "$handler" ] && [ -n "$kind" ] || usage
if [ "$kind" = rr ] && [ -z "$reply$reply_lines$reply_bytes" ]; then
    echo "handler_bench: --request needs --reply, --reply-lines or --reply-bytes" >&2
    exit 2
fi
[ -x "$loadgen" ] || { echo "handler_bench: $loadgen is missing: make $loadgen" >&2; exit 2; }
[ "$quick" = 1 ] && secs=${secs:-0.5} idle=${idle:-200} || secs=${secs:-3} idle=${idle:-1000}
out=${out:-$build/bench/handler-$handler}
mkdir -p "$out"
work=$(mktemp -d)
tsv=$out/results.tsv
: >"$tsv"

log() { printf '%s\n' "$*" >&2; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
record() { local IFS=$'\t'; printf '%s\t1\n' "$*" >>"$tsv"; }

# The flags of each row.
mode_flags() {
    case $1 in
    sync | fork | thread | event) echo "--mode $1" ;;
    prethread) echo "--mode prethread --threads 64" ;;
    workers-*) echo "--workers 2 --mode ${1#workers-}" ;;
    *) return 1 ;;
    esac
}

SRV_PID= SRV_ADDR= WHY=
# Start the server in its own process group; wait (5 s at most) for its
# 'listening on' line.
start_server() {
    : >"$work/srv.out"; : >"$work/srv.err"
    # shellcheck disable=SC2086 # the command line is words
    setsid $server --handler "$handler" --listen 127.0.0.1:0 --grace 1 \
        --log-level warn $(mode_flags "$1") >"$work/srv.out" 2>"$work/srv.err" &
    SRV_PID=$!
    for _ in $(seq 50); do
        SRV_ADDR=$(awk '/^listening on /{print $3; exit}' "$work/srv.out")
        [ -n "$SRV_ADDR" ] && return 0
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
    done
    WHY="did not print 'listening on' within 5 s: $(head -c 160 "$work/srv.err" | tr '\n\t' '  ')"
    stop_server
    return 1
}

# TERM to the group, KILL after 3 s.
stop_server() {
    [ -n "$SRV_PID" ] || return 0
    stop_server_group "$SRV_PID" 30
    SRV_PID=
}

# loadgen's arguments for the workload.
load_args() {
    local g=
    [ "$greet" = 1 ] && g=-g
    case $kind in
    greeting) echo "conn -l $lines" ;;
    eof) echo "conn" ;;
    rr) echo "rr $g" ;;
    script) echo "rr $g -S" ;;
    esac
}

# The note and status of a loadgen line: errors by kind, stalled ones.
judge() {
    local line=$1 note= k v
    for k in err_connect err_reset err_short err_long err_bad err_timeout stalled; do
        v=$(field $k "$line")
        [ -n "$v" ] && [ "$v" != 0 ] && note="$note${note:+, }$v $k"
    done
    echo "${note:-}"
}

run_mode() {
    local row=$1 line note status rate p args
    if ! start_server "$row"; then
        record order "$row" ours na "" "" "" "" "" "" "$WHY"
        log "   $row: $WHY"
        return
    fi
    record order "$row" ours ok "" "" "" "" "" "" ""
    # shellcheck disable=SC2046
    args=($(load_args))
    p=()
    [ -n "$request" ] && p+=(-q "$request")
    [ -n "$reply" ] && p+=(-r "$reply")
    [ -n "$reply_lines" ] && p+=(-l "$reply_lines")
    [ -n "$reply_bytes" ] && p+=(-b "$reply_bytes")
    line=$(timeout -k 2 30 "$loadgen" "${args[0]}" "$SRV_ADDR" "${args[@]:1}" \
        "${p[@]}" -c "$conns" -d "$secs" -t 2 -p "$SRV_PID" 2>&1 | tail -1)
    note=$(judge "$line")
    status=ok; [ -n "$note" ] && status=err
    rate=$(field rate "$line")
    [ "$(field ok "$line")" = 0 ] && rate=
    [ -z "$line" ] && note="loadgen failed"
    record rate "$row" ours "$status" "$rate" ops/s "$(field p50_us "$line")" \
        "$(field p99_us "$line")" "$(field p999_us "$line")" "$(field errors "$line")" \
        "${note:+$note }(${conns} connections, ${secs} s)"
    record cpu "$row" ours "$status" "$(field cpu_us_per_op "$line")" us/op \
        "" "" "" "$(field errors "$line")" "$note"
    log "   $row: ${rate:-failed} ops/s${note:+ ($note)}"
    local hold_g=
    [ "$greet" = 1 ] && hold_g=-g
    line=$(timeout -k 2 30 "$loadgen" hold "$SRV_ADDR" -c "$idle" $hold_g -d 0 \
        -p "$SRV_PID" 2>&1 | tail -1)
    note=$(judge "$line")
    [ "$(field held "$line")" != "$idle" ] &&
        note="${note:+$note, }held $(field held "$line") of $idle"
    status=ok; [ -n "$note" ] && status=err
    local kib
    kib=$(awk -v b="$(field bytes_per_conn "$line")" 'BEGIN { if (b != "") printf "%.2f", b / 1024 }')
    record idle "$row" ours "$status" "$kib" KiB/conn "$(field p50_us "$line")" \
        "$(field p99_us "$line")" "$(field p999_us "$line")" "$(field errors "$line")" "$note"
    stop_server
}

machine() {
    local what
    case $kind in
    greeting) what="connect, read $lines line(s), hang up" ;;
    eof) what="connect, read to end of file" ;;
    rr) what="send '$request', expect ${reply:+'$reply'}${reply_lines:+$reply_lines line(s)}${reply_bytes:+$reply_bytes bytes}" ;;
    script) what="the script '$request', a reply line per line" ;;
    esac
    [ "$greet" = 1 ] && what="$what (after the greeting line)"
    printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'cores\t%s\n' "$(nproc)"
    printf 'cpu\t%s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    printf 'kernel\t%s\n' "$(uname -sr)"
    printf 'handler\t%s\n' "$handler"
    printf 'server\t%s\n' "$server"
    printf 'secs\t%s\n' "$secs"
    printf 'quick\t%s\n' "$quick"
    printf 'compare\tbest\n'
    printf 'workloads\trate cpu idle\n'
    printf 'title_rate\t1. %s: %s, %s connections\n' "$handler" "$what" "$conns"
    printf 'short_rate\tops/s\nunit_rate\tops/s\nhigher_rate\t1\n'
    printf 'title_cpu\t2. Server CPU time (user + system, every process) per operation, workload 1\n'
    printf 'short_cpu\tCPU us/op\nunit_cpu\tus/op\nhigher_cpu\t0\n'
    printf 'title_idle\t3. Idle connections, %s held%s: server memory (PSS) per connection\n' \
        "$idle" "$([ "$greet" = 1 ] && echo ", each past the greeting")"
    printf 'short_idle\tidle KiB/conn\nunit_idle\tKiB/conn\nhigher_idle\t0\n'
}

main() {
    local start=$SECONDS row
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
    machine >"$out/machine.tsv"
    log "== $handler: $server, modes: $modes"
    for row in $modes; do
        mode_flags "$row" >/dev/null || { log "   $row: not a mode row, skipped"; continue; }
        run_mode "$row"
    done
    awk -F'\t' -v out="$out" -v elapsed=$((SECONDS - start)) \
        -f bench/report.awk "$out/machine.tsv" "$tsv" >"$out/results.md"
    cat "$out/results.md"
    rm -rf "$work"
}

trap 'stop_server; rm -rf "$work"; exit 130' INT TERM
main
