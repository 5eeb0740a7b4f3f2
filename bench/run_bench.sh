#!/usr/bin/env bash
# make bench [QUICK=1] -- every server of bench/servers.conf (each mode of
# build/socketserver, and the peers that are installed) under the same
# workloads, one after another, in one run:
#
#   conn    1  connection rate: thankyou, 32 concurrent clients
#   echo    2  request/response: 64 bytes echoed on 32 persistent
#              connections (redis: RESP PING)
#   poetry  3  slow clients: the poem, POETRY_DELAY ms between lines, to
#              200 clients at once; the time until the last one has it
#   idle    4  1,000 and 10,000 idle connections held: memory (PSS) the
#              server's processes gained, per connection
#   http    5  a small file over HTTP/1.1 keep-alive, under wrk
#   cpu     6  server CPU time (user + system, every process, reaped
#              children too) per connection, measured around workload 1;
#              per round trip and per request around workloads 2 and 5
#   sys_*   7  system calls per connection, echo round trip and HTTP
#              request, counted in a separate pass (count_syscalls.sh)
#   attack  8  a probe's latency under a slow-read attack and a 10,000
#              connection arrival burst, beside nginx (bench/attack.sh;
#              full run only, not with QUICK=1 or ONLY=)
#
# Progress goes to standard error; the results to $BUILD/bench/:
# results.md (also printed), results.csv, results.tsv and one SVG chart
# per workload.  ONLY="thread nginx" runs just those rows.  Only
# 127.0.0.1 is ever used.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

build=${BUILD:-build}
out=$build/bench
server=$build/socketserver
loadgen=$out/loadgen
quick=${QUICK:-0}
work=$out/run            # servers' output, configs, files they serve
tsv=$out/results.tsv

# ---- Parameters: QUICK=1 runs under 2 minutes, the full run under 10 ----
# The throughput workloads (connection rate, echo, HTTP) run ROUNDS
# times, each round over every server in turn, and the report keeps each
# server's best round: other load on a shared machine only ever slows a
# run down, and interleaving spreads it over all the servers alike.
if [ "$quick" = 1 ]; then
    secs=1               # each timed run, whole seconds (wrk -d)
    rounds=${ROUNDS:-1}
    idle_counts="1000"
    poetry_cap=4         # slow clients: the run stops here
else
    secs=2
    rounds=${ROUNDS:-2}
    idle_counts="1000 10000"
    poetry_cap=20
fi
clients=32
msg_bytes=64
thanks_bytes=25          # "Thank you for connecting\n", whole, each time
poetry_clients=200
POETRY_DELAY=${POETRY_DELAY:-20}

log() { printf '%s\n' "$*" >&2; }

# ---- Machine and tools -------------------------------------------------

have_cmd() { command -v "$1" >/dev/null 2>&1; }

server_help=$("$server" --help 2>&1)
server_list=$("$server" --list 2>&1)
# A handler (or mode) that --list names.
have_handler() { grep -qE "^ +$1 " <<<"$server_list"; }

# Why a servers.conf row cannot run here ("" when it can).
missing_needs() {
    local need
    [ "$1" = - ] && return
    for need in ${1//,/ }; do
        if [[ $need == --* ]]; then
            grep -q -- "$need" <<<"$server_help" ||
                { echo "needs $need (not in socketserver --help yet)"; return; }
        elif [[ $need == mode:* ]]; then
            have_handler "${need#mode:}" ||
                { echo "needs mode ${need#mode:} (not in socketserver --list yet)"; return; }
        elif ! have_cmd "$need"; then
            echo "$need not installed (make bench-deps)"
            return
        fi
    done
}

# ---- Results -------------------------------------------------------------

# One result row: workload server kind status value unit p50 p99 p999
# errors note round.  status: ok, err (the row had errors: marked), na (did
# not run; the note says why).
ROUND=1
record() {
    local IFS=$'\t'
    printf '%s\n' "$*"$'\t'"$ROUND" >>"$tsv"
}

# The value of KEY in loadgen's (or wrk's) key=value line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# ---- Starting and stopping servers ---------------------------------------

SRV_PID=
SRV_ADDR=
SKIP=

# Wait (at most 10 s) for the "listening on ADDRESS" line.
await_listening() {
    local i
    for i in $(seq 100); do
        SRV_ADDR=$(awk '/^listening on /{print $3; exit}' "$work/srv.out")
        [ -n "$SRV_ADDR" ] && return 0
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
    done
    SKIP="did not start: $(head -c 200 "$work/srv.err" | tr '\n\t' '  ')"
    return 1
}

# Wait (at most 10 s) until something accepts connections on ADDRESS.
await_port() {
    local i
    for i in $(seq 100); do
        [ "$(field held "$("$loadgen" hold "$1" -c 1 -d 0 2>/dev/null)")" = 1 ] &&
            return 0
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
    done
    SKIP="did not start: $(tail -c 200 "$work/srv.err" | tr '\n\t' '  ')"
    return 1
}

# The handler (and its options) of our server for a workload.
ours_handler() {
    case $1 in
    conn) echo "--handler thankyou" ;;
    echo) echo "--handler echo" ;;
    poetry) echo "--handler poetry --delay $POETRY_DELAY --poem $work/poem.txt" ;;
    idle) echo "--handler menu10086" ;;
    http) echo "--handler http --root $work/www" ;;
    esac
}

ours_handler_name() { ours_handler "$1" | awk '{print $2}'; }

# Our server for workload $2, mode flags $1; idle: $3 connections to hold,
# so every cap is raised to let them all in.
start_ours() {
    local flags=$1 workload=$2 n=${3:-0} extra="" level=error
    # Idle: warnings too, to say why a connection was refused (not timed).
    [ "$workload" = idle ] && level=warn
    have_handler "$(ours_handler_name "$workload")" ||
        { SKIP="handler $(ours_handler_name "$workload") not in socketserver --list"; return 1; }
    if [ "$workload" = idle ] && [ "$n" -gt 0 ]; then
        extra="--max-threads $((n + 64)) --max-children $n --backlog 4096"
        [[ $flags == *prethread* ]] && extra+=" --threads $n"
    fi
    # shellcheck disable=SC2086,SC2046 # flags and handler are words
    setsid "$server" $flags $(ours_handler "$workload") $extra \
        --listen 127.0.0.1:0 --log-level "$level" --grace 2 \
        >"$work/srv.out" 2>"$work/srv.err" &
    SRV_PID=$!
    await_listening
}

start_python() {
    local kind=$1 workload=$2 n=${3:-40} handler
    case $workload in
    conn) handler=thankyou ;; echo) handler='echo' ;; poetry) handler=poetry ;;
    idle) handler=menu10086 ;; http) handler=http ;;
    esac
    setsid python3 bench/peers/pyserver.py "$kind" "$handler" \
        --delay "$POETRY_DELAY" --poem "$work/poem.txt" --root "$work/www" \
        --max-children "$((n > 40 ? n : 40))" \
        >"$work/srv.out" 2>"$work/srv.err" &
    SRV_PID=$!
    await_listening
}

# How this nginx gets its stream module: "built-in", a module file to
# load, or nothing.
nginx_stream_module() {
    local m
    nginx -V 2>&1 | tr ' ' '\n' | grep -qx -- '--with-stream' &&
        { echo built-in; return; }
    for m in /usr/lib/nginx/modules/ngx_stream_module.so \
        /usr/share/nginx/modules/ngx_stream_module.so; do
        [ -f "$m" ] && { echo "$m"; return; }
    done
}

# nginx as its own instance: config, pid, logs and temp files in
# $work/nginx; as many workers as cores (worker_processes auto).  The
# /return body is the small file's bytes, \n-escaped for the config.
start_nginx() {
    local workload=$1 prefix=$work/nginx module stream_port http_port
    local load="" user="" body
    module=$(nginx_stream_module)
    if [ -z "$module" ] && [ "$workload" = conn ]; then
        SKIP="nginx's stream module not installed (libnginx-mod-stream)"
        return 1
    fi
    [ -n "$module" ] && [ "$module" != built-in ] && load="load_module $module;"
    [ "$(id -u)" = 0 ] && user="user root;"
    rm -rf "$prefix" && mkdir -p "$prefix"
    stream_port=$("$loadgen" freeport) http_port=$("$loadgen" freeport)
    body=$(awk '{printf "%s\\\\n", $0}' "$work/www/small.txt")
    sed -e "s|@LOAD_STREAM@|$load|" -e "s|@USER@|$user|" \
        -e "s|@WORKERS@|${NGINX_WORKERS:-auto}|" -e "s|@PREFIX@|$PWD/$prefix|g" \
        -e "s|@STREAM_PORT@|$stream_port|" -e "s|@HTTP_PORT@|$http_port|" \
        -e "s|@ROOT@|$PWD/$work/www|" -e "s|@BODY@|$body|" \
        bench/peers/nginx.conf.in >"$prefix/nginx.conf"
    [ -z "$module" ] && sed -i '/^stream {/,/^}/d' "$prefix/nginx.conf"
    setsid nginx -p "$PWD/$prefix" -c "$PWD/$prefix/nginx.conf" \
        -e "$PWD/$prefix/error.log" >"$work/srv.out" 2>"$work/srv.err" &
    SRV_PID=$!
    SRV_ADDR=127.0.0.1:$http_port
    [ "$workload" = conn ] && SRV_ADDR=127.0.0.1:$stream_port
    await_port "$SRV_ADDR"
}

start_redis() {
    local port
    port=$("$loadgen" freeport)
    mkdir -p "$work/redis"
    setsid redis-server --port "$port" --bind 127.0.0.1 --save '' \
        --appendonly no --protected-mode no --daemonize no \
        --dir "$PWD/$work/redis" --logfile "$PWD/$work/redis/redis.log" \
        >"$work/srv.out" 2>"$work/srv.err" &
    SRV_PID=$!
    SRV_ADDR=127.0.0.1:$port
    await_port "$SRV_ADDR"
}

# SIGTERM to the server, then at most 10 s (a peer: 3 s; Python holding
# 10,000 threads takes longer) for it to go; whatever of its
# process group is left after that is killed (and said).  Every server
# was started by setsid, so its group holds it and its children only.
# Python's ForkingMixIn leaves its children to finish on their own, so
# there the whole group gets the SIGTERM.
SRV_KIND=
stop_server() {
    local i left="" target=$SRV_PID patience=100
    [ -z "$SRV_PID" ] && return
    [ "$SRV_KIND" = python ] && target=-$SRV_PID
    [ "$SRV_KIND" = ours ] || patience=30
    kill -TERM -- "$target" 2>/dev/null
    for i in $(seq "$patience"); do
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$SRV_PID" 2>/dev/null &&
        left="server still running $((patience / 10)) s after SIGTERM"
    for i in $(seq 20); do
        kill -0 -- "-$SRV_PID" 2>/dev/null || break
        [ "$i" = 20 ] && left="${left:+$left; }processes of its group left after it"
        sleep 0.1
    done
    kill -KILL -- "-$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    [ -n "$left" ] && log "    warning: $SRV_KIND server: $left (killed)"
    SRV_PID=
}

# Start server NAME of KIND with OPTIONS for WORKLOAD (N to hold).
start_server() {
    local kind=$1 opts=$2 workload=$3 n=${4:-0}
    SKIP='' SRV_ADDR='' SRV_PID='' SRV_KIND=$kind
    : >"$work/srv.out"
    : >"$work/srv.err"
    case $kind in
    ours) start_ours "$opts" "$workload" "$n" ;;
    python) start_python "$opts" "$workload" "$n" ;;
    nginx) start_nginx "$workload" ;;
    redis) start_redis ;;
    esac
    local rc=$?
    [ $rc != 0 ] && stop_server
    return $rc
}

# Does workload $3 apply to server kind $1 with options $2?  The peers
# stand beside ours only where the issue puts them.
applies() {
    case $1:$2:$3 in
    ours:*:* | python:*:*) return 0 ;;
    nginx:return:conn | nginx:return:cpu | nginx:*:http) return 0 ;;
    redis:*:echo) return 0 ;;
    esac
    return 1
}

# The server's first log line (time and pid left out), to say why a row
# had errors.
server_said() {
    local line
    line=$(grep -v '^$' "$work/srv.err" 2>/dev/null | head -1 |
        sed 's/^[0-9-]* [0-9:.]* \[[0-9]*\] //' | cut -c1-160 | tr '\t' ' ')
    [ -n "$line" ] && echo "; server said: $line"
}

# ---- Workloads -----------------------------------------------------------
# Each runs one server (already started) and records its row(s).  A
# client that cannot finish is stopped by timeout(1) as a last resort.

bounded() { timeout -k 5 "$1" "${@:2}"; }

common_fields() { # p50 p99 p999 errors from a result line
    printf '%s\t%s\t%s\t%s' "$(field p50_us "$1")" "$(field p99_us "$1")" \
        "$(field p999_us "$1")" "$(field errors "$1")"
}

# Workload 1 (and 6 from the same run): connections per second.
w_conn() {
    local name=$1 kind=$2 r status note=""
    r=$(bounded $((secs + 30)) "$loadgen" conn "$SRV_ADDR" -c $clients \
        -d "$secs" -e $thanks_bytes -p "$SRV_PID")
    [ -z "$r" ] && r="errors=1"
    status=ok
    [ "$(field errors "$r")" != 0 ] && status=err &&
        note="$(field errors "$r") of $(( $(field ok "$r") + $(field errors "$r") )) connections failed$(server_said)"
    record conn "$name" "$kind" $status "$(field rate "$r")" conn/s \
        "$(common_fields "$r")" "$note"
    record cpu "$name" "$kind" $status "$(field cpu_us_per_op "$r")" us/conn \
        "" "" "" "$(field errors "$r")" "$note"
    log "  $name: $(field rate "$r")/s, errors $(field errors "$r"), server CPU $(field cpu_us_per_op "$r") us/conn"
}

# Workload 2: echo (or PING) round trips per second.
w_echo() {
    local name=$1 kind=$2 ping="" r status=ok note="" stalled
    [ "$kind" = redis ] && ping=-P
    r=$(bounded $((secs + 30)) "$loadgen" rr "$SRV_ADDR" -c $clients \
        -d "$secs" -s $msg_bytes $ping -p "$SRV_PID")
    [ -z "$r" ] && r="errors=1 stalled=$clients"
    stalled=$(field stalled "$r")
    if [ "$(field errors "$r")" != 0 ] || [ "$stalled" != 0 ]; then
        status=err
        note="$stalled of $clients connections never got a reply in ${secs} s (served one at a time?); $(field errors "$r") errors$(server_said)"
    fi
    record echo "$name" "$kind" $status "$(field rate "$r")" req/s \
        "$(common_fields "$r")" "$note"
    record cpu_echo "$name" "$kind" $status "$(field cpu_us_per_op "$r")" \
        us/req "" "" "" "$(field errors "$r")" "$note"
    log "  $name: $(field rate "$r") req/s, errors $(field errors "$r"), stalled $stalled"
}

# Workload 3: the time until 200 slow clients all have the poem, capped.
w_poetry() {
    local name=$1 kind=$2 r status=ok note="" value done_n unfinished
    r=$(bounded $((poetry_cap + 30)) "$loadgen" conn "$SRV_ADDR" \
        -c $poetry_clients -n $poetry_clients -d $poetry_cap -t $poetry_cap \
        -e "$(wc -c <"$work/poem.txt")")
    [ -z "$r" ] && r="ok=0 errors=1 unfinished=0"
    done_n=$(field ok "$r") unfinished=$(field unfinished "$r")
    value=$(field secs "$r")
    if [ "$unfinished" != 0 ] && [ "$done_n" -gt 0 ]; then
        # Capped: a lower bound at the pace it had.
        value=$(awk -v c=$poetry_cap -v d="$done_n" -v n=$poetry_clients \
            'BEGIN{printf "%.3f", c * n / d}')
        status=capped
        note="capped at ${poetry_cap} s: $done_n of $poetry_clients served; at that pace all would take ≥ $value s"
    elif [ "$(field errors "$r")" != 0 ] || [ "$done_n" = 0 ]; then
        status=err
        note="$(field errors "$r") of $poetry_clients clients failed$(server_said)"
    fi
    record poetry "$name" "$kind" $status "$value" s "$(common_fields "$r")" "$note"
    log "  $name: $value s for $done_n of $poetry_clients ($status)"
}

# Workload 4: memory per idle connection, N held.  Skipped when the last
# count failed, or when, at the cost per connection it had, N would take
# over a quarter of the memory available.  A pool made at start for the
# N connections (prethread's --threads N) is part of their cost: then the
# growth is counted from a server with a pool of one (IDLE_BASE_KIB).
declare -A idle_cost
IDLE_BASE_KIB=
w_idle() {
    local name=$1 kind=$2 n=$3 r status=ok note="" held kib bytes
    r=$(bounded 120 "$loadgen" hold "$SRV_ADDR" -c "$n" -g -d 0 -p "$SRV_PID")
    [ -z "$r" ] && r="held=0 errors=1 want=$n"
    held=$(field held "$r")
    bytes=$(field bytes_per_conn "$r")
    if [ -n "$IDLE_BASE_KIB" ] && [ -n "$(field pss_after_kib "$r")" ]; then
        bytes=$(awk -v a="$(field pss_after_kib "$r")" -v b="$IDLE_BASE_KIB" \
            -v n="$n" 'BEGIN{printf "%.0f", (a - b) * 1024 / n}')
        note="with its pool of $n threads made at start; $(awk -v b="$(field bytes_per_conn "$r")" \
            'BEGIN{printf "%.1f", b / 1024}') KiB/conn more once they are made"
    fi
    kib=$(awk -v b="$bytes" 'BEGIN{printf "%.2f", b / 1024}')
    if [ "$held" != "$n" ]; then
        status=err kib=""
        note="held $held of $n: $(field errors "$r") dropped or refused, $(field unfinished "$r") never answered$(server_said)"
    fi
    idle_cost[$name]=$([ $status = ok ] && echo "$bytes" || echo fail)
    record "idle$n" "$name" "$kind" $status "$kib" KiB/conn "$(common_fields "$r")" "$note"
    log "  $name: ${kib:-no} KiB/conn, held $held ($(field procs "$r") processes)"
}

# The PSS of our server with mode flags $1 and a pool of one thread.
idle_baseline() {
    local kib=""
    if start_server ours "$1 --threads 1" idle 0; then
        sleep 0.3
        kib=$("$loadgen" pss "$SRV_PID")
        stop_server
    fi
    echo "$kib"
}

idle_skip_reason() {
    local name=$1 n=$2 cost=${idle_cost[$1]:-} avail
    [ -z "$cost" ] && return
    [ "$cost" = fail ] && { echo "not run: failed with fewer connections"; return; }
    avail=$(awk '/MemAvailable/{print $2 * 1024}' /proc/meminfo)
    awk -v c="$cost" -v n="$n" -v a="$avail" 'BEGIN{
        if (c * n > a / 4)
            printf "not run: at %.0f KiB/conn, %d would need %.1f GiB (over a quarter of the free memory)",
                c / 1024, n, c * n / 2^30 }'
}

# Workload 5: requests per second of a small file under wrk.  wrk does
# not count a connection that never gets an answer (a server serving one
# keep-alive client at a time) as an error, so halfway through, ss(8)
# counts the client sockets that sent a request over 500 ms ago and have
# received nothing yet (a socket just reconnected is not stalled).
w_http() {
    local name=$1 kind=$2 opts=$3 r status=ok note="" path=/small.txt
    local stalled="" wrk_pid cpu0
    [ "$kind:$opts" = nginx:return ] && path=/return
    cpu0=$("$loadgen" cpu "$SRV_PID")
    bounded $((secs + 30)) wrk -t1 -c$clients -d"${secs}s" --timeout 2s \
        -s bench/wrk_report.lua "http://$SRV_ADDR$path" >"$work/wrk.out" 2>&1 &
    wrk_pid=$!
    sleep "$(awk -v s="$secs" 'BEGIN{print s / 2}')"
    have_cmd ss && stalled=$(ss -tinH state established "( dport = :${SRV_ADDR##*:} )" |
        awk '/lastsnd:/ && !/bytes_received:[1-9]/ {
                 match($0, /lastsnd:[0-9]+/)
                 if (substr($0, RSTART + 8, RLENGTH - 8) + 0 >= 500) n++ }
             END { print n + 0 }')
    wait "$wrk_pid"
    cpu0=$(($("$loadgen" cpu "$SRV_PID") - cpu0))
    r=$(grep '^mode=http' "$work/wrk.out")
    [ -z "$r" ] && r="errors=1"
    if [ "$(field errors "$r")" != 0 ]; then
        status=err
        note="wrk: $(field err_connect "$r") connect, $(field err_read "$r") read, $(field err_timeout "$r") timeout, $(field err_status "$r") non-2xx errors$(server_said)"
    fi
    if [ -n "$stalled" ] && [ "$stalled" != 0 ]; then
        status=err
        note="${note:+$note; }$stalled of $clients connections had no answer $(awk -v s="$secs" 'BEGIN{print s / 2}') s in (served one at a time?)"
    fi
    record http "$name" "$kind" $status "$(field rate "$r")" req/s \
        "$(common_fields "$r")" "$note"
    record cpu_http "$name" "$kind" $status "$(awk -v c="$cpu0" \
        -v n="$(field ok "$r")" 'BEGIN{if (n > 0) printf "%.2f", c / n}')" \
        us/req "" "" "" "$(field errors "$r")" "$note"
    log "  $name: $(field rate "$r") req/s, errors $(field errors "$r"), stalled ${stalled:-?}"
}

# ---- The run -------------------------------------------------------------

# The files servers serve: the poem (the built-in one of our poetry
# handler, so Python's serves the same bytes) and a 500-byte file.
make_files() {
    rm -rf "$work" && mkdir -p "$work/www"
    printf '床前明月光，\n疑是地上霜。\n举头望明月，\n低头思故乡。\n' >"$work/poem.txt"
    for _ in $(seq 20); do echo "Thank you for connecting"; done >"$work/www/small.txt"
}

# Run one workload on one server: start, measure, stop.
run_one() {
    local name=$1 kind=$2 opts=$3 workload=$4 n=${5:-0} label=$4 why
    [ "$workload" = idle ] && label=idle$n
    if [ "$workload" = http ] && ! have_cmd wrk; then
        record http "$name" "$kind" na "" req/s "" "" "" "" "wrk not installed"
        return
    fi
    if [ "$workload" = idle ]; then
        why=$(idle_skip_reason "$name" "$n")
        if [ -n "$why" ]; then
            record "$label" "$name" "$kind" na "" KiB/conn "" "" "" "" "$why"
            log "  $name: $why"
            return
        fi
    fi
    IDLE_BASE_KIB=
    [ "$workload:$kind" = idle:ours ] && [[ $opts == *--threads* ]] &&
        IDLE_BASE_KIB=$(idle_baseline "$opts")
    if ! start_server "$kind" "$opts" "$workload" "$n"; then
        record "$label" "$name" "$kind" na "" "" "" "" "" "" "$SKIP"
        [ "$workload" = conn ] && record cpu "$name" "$kind" na "" "" "" "" "" "" "$SKIP"
        log "  $name: skipped: $SKIP"
        return
    fi
    case $workload in
    conn) w_conn "$name" "$kind" ;;
    echo) w_echo "$name" "$kind" ;;
    poetry) w_poetry "$name" "$kind" ;;
    idle) w_idle "$name" "$kind" "$n" ;;
    http) w_http "$name" "$kind" "$opts" ;;
    esac
    stop_server
}

# Workload $1 (idle: idle:N) on every server that runs it, in table
# order: a workload's rows are measured close together in time, so the
# machine's drift in a long run shifts them alike.
run_workload() {
    local w=${1%%:*} n=0 i t0=$SECONDS
    [[ $1 == *:* ]] && n=${1#*:}
    local tag=""
    [ "$rounds" -gt 1 ] && [[ $w == conn || $w == echo || $w == http ]] &&
        tag=" (round $ROUND of $rounds)"
    log "== $1$tag"
    for i in "${!row_name[@]}"; do
        [ -n "${row_skip[$i]}" ] && continue
        applies "${row_kind[$i]}" "${row_opts[$i]}" "$w" || continue
        run_one "${row_name[$i]}" "${row_kind[$i]}" "${row_opts[$i]}" "$w" "$n"
    done
    log "   ($1$tag: $((SECONDS - t0)) s)"
}

# bench/servers.conf into the row_* arrays (ONLY= keeps the rows named);
# each row is recorded first, in order, as runnable or skipped with why.
row_name=() row_kind=() row_opts=() row_skip=()
read_servers() {
    local name kind needs opts why
    while read -r name kind needs opts; do
        [[ -z $name || $name == \#* ]] && continue
        [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && continue
        why=$(missing_needs "$needs")
        row_name+=("$name") row_kind+=("$kind") row_opts+=("$opts")
        row_skip+=("$why")
        record order "$name" "$kind" "$([ -n "$why" ] && echo na || echo ok)" \
            "" "" "" "" "" "" "$why"
        log "$name ($kind${opts:+: $opts})${why:+: skipped: $why}"
    done <bench/servers.conf
}

machine() {
    local cc_version
    cc_version=$(${CC:-cc} --version 2>/dev/null | head -1)
    printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'cores\t%s\n' "$(nproc)"
    printf 'cpu\t%s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    printf 'kernel\t%s\n' "$(uname -sr)"
    printf 'compiler\t%s\n' "$cc_version"
    printf 'python\t%s\n' "$(python3 --version 2>&1 | head -1)"
    printf 'nginx\t%s\n' "$(nginx -v 2>&1 | head -1)"
    printf 'redis\t%s\n' "$(redis-server --version 2>/dev/null | awk '{print $3}')"
    printf 'wrk\t%s\n' "$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
    printf 'quick\t%s\n' "$quick"
    printf 'secs\t%s\n' "$secs"
    printf 'rounds\t%s\n' "$rounds"
    printf 'poetry_delay\t%s\n' "$POETRY_DELAY"
    printf 'poetry_cap\t%s\n' "$poetry_cap"
}

main() {
    local start=$SECONDS w n
    ulimit -n "$(ulimit -Hn)"
    make_files
    : >"$tsv"
    machine >"$out/machine.tsv"
    read_servers
    for w in conn echo poetry idle http; do
        case $w in
        idle) for n in $idle_counts; do run_workload "idle:$n"; done ;;
        poetry) run_workload $w ;;
        *) for ((ROUND = 1; ROUND <= rounds; ROUND++)); do run_workload $w; done
           ROUND=1 ;;
        esac
    done
    count_syscalls_all # bench/count_syscalls.sh
    # The attack workloads (their own script and table): full run only.
    [ "$quick" = 1 ] || [ -n "${ONLY:-}" ] || BUILD=$build bench/attack.sh >/dev/null
    log "== done in $((SECONDS - start)) s"
    awk -F'\t' -v out="$out" -v elapsed=$((SECONDS - start)) \
        -f bench/report.awk "$out/machine.tsv" "$tsv" >"$out/results.md"
    [ -s "$out/attack.md" ] && [ "$quick" != 1 ] && [ -z "${ONLY:-}" ] &&
        { echo; cat "$out/attack.md"; } >>"$out/results.md"
    cat "$out/results.md"
}

# shellcheck source=bench/count_syscalls.sh
. bench/count_syscalls.sh
trap 'stop_server; exit 130' INT TERM
main
