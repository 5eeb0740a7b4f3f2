#!/usr/bin/env bash
# bench/attack.sh -- a normal client's latency while the server is under
# attack, ours beside nginx with the same number of processes (issue 16):
#
#   slowread  slowhttptest slow-reads a 1 MiB file over 400 connections
#             opened at 200 a second (-X -k 3 -n 1 -w 10 -y 20 -z 32
#             -c 400 -r 200 -l 30 -p 3)
#   burst     10,000 idle connections arrive (loadgen hold) and are held
#
# Meanwhile bench/probe.c opens a new connection every 200 ms and fetches
# a small page over HTTP; its p50/p99/max (ms) is the row.  Servers, one
# and two processes each: ours `--mode event` and `--workers 2 --mode
# event` (the http handler), nginx `worker_processes 1` and `2` (static
# files).  The target: ours' p99 at or under nginx's with as many
# processes, in the same run.
#
# Run by `make bench` (full run only: these take about 3 minutes) after
# the other workloads, or alone: `make bench-attack`.  Writes
# $BUILD/bench/attack.md (also printed) and attack.tsv.  Only 127.0.0.1.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/server_group.sh
. bench/server_group.sh

build=${BUILD:-build}
out=$build/bench
server=$build/socketserver
loadgen=$out/loadgen
probe=$out/probe
work=$out/attack
tsv=$out/attack.tsv
slow_secs=${SLOW_SECS:-30}  # slowhttptest -l
burst_conns=${BURST_CONNS:-10000}
burst_hold=${BURST_HOLD:-6} # seconds the burst's connections are held

log() { printf '%s\n' "$*" >&2; }
have_cmd() { command -v "$1" >/dev/null 2>&1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

make_files() {
    rm -rf "$work" && mkdir -p "$work/www"
    for _ in $(seq 20); do echo "Thank you for connecting"; done >"$work/www/small.txt"
    head -c $((1 << 20)) /dev/zero | tr '\0' 'x' >"$work/www/big.bin"
}

SRV_PID='' SRV_ADDR=''

# Wait (at most 10 s) until the probe's page is served on SRV_ADDR.
await_http() {
    local _
    for _ in $(seq 100); do
        [ "$(field errors "$("$probe" -d 0.01 -t 1 "$SRV_ADDR")")" = 0 ] && return 0
        kill -0 "$SRV_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

start_ours() { # flags...
    : >"$work/srv.out"
    setsid "$server" "$@" --handler http --root "$work/www" --backlog 4096 \
        --listen 127.0.0.1:0 --log-level error --grace 1 \
        >"$work/srv.out" 2>"$work/srv.err" &
    SRV_PID=$!
    local _
    for _ in $(seq 100); do
        SRV_ADDR=$(awk '/^listening on /{print $3; exit}' "$work/srv.out")
        [ -n "$SRV_ADDR" ] && break
        sleep 0.1
    done
    [ -n "$SRV_ADDR" ] && await_http
}

# nginx as its own instance, http only, nginx's defaults otherwise
# (multi_accept off, sendfile off): N worker processes.
start_nginx() { # workers
    local prefix=$work/nginx port user=""
    rm -rf "$prefix" && mkdir -p "$prefix"
    port=$("$loadgen" freeport)
    [ "$(id -u)" = 0 ] && user="user root;"
    cat >"$prefix/nginx.conf" <<EOF
$user
worker_processes $1;
daemon off;
master_process on;
pid $PWD/$prefix/nginx.pid;
error_log $PWD/$prefix/error.log error;
worker_rlimit_nofile 20000;
events { worker_connections 10240; }
http {
    access_log off;
    client_body_temp_path $PWD/$prefix/body;
    proxy_temp_path $PWD/$prefix/proxy;
    fastcgi_temp_path $PWD/$prefix/fastcgi;
    uwsgi_temp_path $PWD/$prefix/uwsgi;
    scgi_temp_path $PWD/$prefix/scgi;
    default_type text/plain;
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $PWD/$work/www;
    }
}
EOF
    setsid nginx -p "$PWD/$prefix" -c "$PWD/$prefix/nginx.conf" \
        -e "$PWD/$prefix/error.log" >"$work/srv.out" 2>"$work/srv.err" &
    SRV_PID=$!
    SRV_ADDR=127.0.0.1:$port
    await_http
}

# SIGTERM to the server's group, then SIGKILL to what is left after 5 s.
stop_server() {
    [ -z "$SRV_PID" ] && return
    stop_server_group "$SRV_PID" 50
    SRV_PID=
}

# The attack, with the probe running from its start to its end.
attack_slowread() {
    "$probe" -d "$slow_secs" "$SRV_ADDR" >"$work/probe.out" &
    local probe_pid=$!
    timeout $((slow_secs + 30)) slowhttptest -X -k 3 -n 1 -w 10 -y 20 -z 32 \
        -c 400 -r 200 -l "$slow_secs" -p 3 \
        -u "http://$SRV_ADDR/big.bin" >"$work/attack.out" 2>&1
    wait "$probe_pid"
}

attack_burst() {
    "$probe" -d $((burst_hold + 3)) "$SRV_ADDR" >"$work/probe.out" &
    local probe_pid=$!
    sleep 1
    timeout $((burst_hold + 30)) "$loadgen" hold "$SRV_ADDR" -c "$burst_conns" \
        -d "$burst_hold" >"$work/attack.out" 2>&1
    wait "$probe_pid"
}

# What the attack achieved, for the row's note.
attack_note() {
    local res
    if [ "$1" = burst ]; then
        res=$(cat "$work/attack.out")
        echo "held $(field held "$res") of $burst_conns"
    else
        res=$(sed "s/\x1b\[[0-9;]*m//g" "$work/attack.out" |
            grep -E "^(connected|error|closed):" | tail -3 |
            awk '{printf "%s%s %s", sep, $1, $2; sep = ", "}')
        echo "slowhttptest at the end: ${res:-no report}"
    fi
}

# One row: workload, server label, processes, how to start it.
run_row() {
    local workload=$1 name=$2 procs=$3 res
    shift 3
    SRV_PID='' SRV_ADDR=''
    if ! "$@"; then
        log "  $name: did not start: $(head -c 200 "$work/srv.err")"
        printf '%s\t%s\t%s\tna\t\t\t\t\t\tdid not start\n' "$workload" "$name" \
            "$procs" >>"$tsv"
        stop_server
        return
    fi
    "attack_$workload"
    res=$(cat "$work/probe.out")
    stop_server
    log "  $name: probe $res; $(attack_note "$workload")"
    printf '%s\t%s\t%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\n' "$workload" "$name" \
        "$procs" "$(field n "$res")" "$(field errors "$res")" \
        "$(field p50_ms "$res")" "$(field p99_ms "$res")" \
        "$(field max_ms "$res")" "$(attack_note "$workload")" >>"$tsv"
}

# The table, with each of ours' p99 set against nginx's of as many
# processes.
report() {
    awk -F'\t' '
    { key = $1 ":" $3; row[NR] = $0
      if ($2 ~ /^nginx/ && $4 == "ok") nginx[key] = $8 }
    END {
      print "## Under attack: a probe fetching a small page every 200 ms"
      print ""
      print "| workload | server | processes | fetches | errors | p50 ms | p99 ms | max ms | p99 <= nginx'"'"'s | attack |"
      print "|---|---|---|---|---|---|---|---|---|---|"
      for (i = 1; i <= NR; i++) {
        split(row[i], f, "\t"); key = f[1] ":" f[3]; verdict = ""
        if (f[2] !~ /^nginx/ && f[4] == "ok" && key in nginx)
          verdict = (f[8] + 0 <= nginx[key] + 0 ? "yes" : "**no**") \
                    " (" nginx[key] ")"
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
          f[1], f[2], f[3], f[5], f[6], f[7], f[8], f[9], verdict, f[10]
      }
    }' "$tsv"
}

main() {
    local w
    ulimit -n "$(ulimit -Hn)"
    make_files
    : >"$tsv"
    for w in slowread burst; do
        if [ "$w" = slowread ] && ! have_cmd slowhttptest; then
            log "== $w: skipped: slowhttptest not installed (make bench-deps)"
            continue
        fi
        log "== attack: $w"
        run_row "$w" event 1 start_ours --mode event
        have_cmd nginx && run_row "$w" nginx-1 1 start_nginx 1
        run_row "$w" workers-event 2 start_ours --workers 2 --mode event
        have_cmd nginx && run_row "$w" nginx-2 2 start_nginx 2
    done
    report >"$out/attack.md"
    cat "$out/attack.md"
}

trap 'stop_server; exit 130' INT TERM
main
