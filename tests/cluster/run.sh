#!/usr/bin/env bash
# make test-cluster: socketserver behind a real balancer, on a network of
# its own.  Linux network namespaces make the hosts -- a switch (a bridge),
# the balancer lb (Debian's HAProxy), backends b1 b2 b3 (build/socketserver
# --handler whoami behind the PROXY protocol v2) and clients c1 c2
# (build/cluster_client) -- on 10.213.0.0/24, an address range that exists
# only inside these namespaces: nothing is added to the root namespace, and
# no packet goes anywhere but these addresses and loopback.
#
# The checks (each prints its figures; any failure fails the run):
#   a  the backends see the clients' real addresses (v2: whoami, http;
#      v1: logger), never the balancer's
#   e  a forged PROXY header (v1, v2) from a client straight to a backend
#      is refused with a clean close, logged, and believed nowhere
#   f  latency through HAProxy against straight to a backend
#   b  under load: a graceful stop and restart, a rolling restart of all
#      three, a binary upgrade (USR2) of each -- no conversation fails
#   c  kill -9 of a backend: out within HAProxy's check window, only the
#      conversations in flight on it fail
#   d  SIGSTOP of a backend: out within the window, nothing started after
#      it (plus a margin) goes to it
#
# Needs root, ip netns and haproxy; without them it says SKIPPED and exits
# 0 (CI installs them).  Everything it starts, it stops, and every
# namespace and file it makes, it removes -- in an EXIT trap, so after a
# failure or a timeout too.  The whole run is bounded (CLUSTER_TIMEOUT).
set -euo pipefail

# Bound the whole run, however it is started: a hang fails it instead of
# stalling CI.  timeout's TERM runs the EXIT trap below.
if [ -z "${SSC_BOUNDED:-}" ]; then
    SSC_BOUNDED=1 exec timeout -k 15 "${CLUSTER_TIMEOUT:-600}" "$0" "$@"
fi

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SRV=$(realpath "$BUILD/socketserver")
CLIENT=$(realpath "$BUILD/cluster_client")

skip() {
    echo "test-cluster: SKIPPED: $*"
    exit 0
}
# The probe namespace tells us both that we are root and that this kernel
# and this container let us make namespaces (a rootless container may not).
P=ssc$$ # every namespace's prefix: parallel runs do not collide
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null ||
    ! ip netns add "$P-probe" 2>/dev/null; then
    skip "needs root and network namespaces (ip netns)"
fi
ip netns del "$P-probe"
command -v haproxy >/dev/null ||
    skip "needs haproxy (apt-get install haproxy; CI installs it)"
command -v timeout >/dev/null || skip "needs timeout (coreutils)"

HOSTS=(lb b1 b2 b3 c1 c2)
declare -A IP=([lb]=10.213.0.2 [b1]=10.213.0.11 [b2]=10.213.0.12
    [b3]=10.213.0.13 [c1]=10.213.0.21 [c2]=10.213.0.22)
LB=${IP[lb]}
T=$(mktemp -d "/tmp/$P.XXXXXX")
made_ns=()
status=1 # what the trap reports, unless the end is reached

# ---- Teardown ---------------------------------------------------------------

# Every process in each namespace we made: CONT (a stopped one cannot act
# on TERM), TERM, a bounded wait, then KILL; then the namespaces (which
# takes the bridge and the veth pairs with them) and the files.
cleanup() {
    local rc=$?
    trap - EXIT TERM INT
    set +e
    if [ "$status" != 0 ] || [ "$rc" != 0 ]; then
        echo "test-cluster: logs (last lines of each):"
        for f in "$T"/*.log "$T"/*.out; do
            [ -s "$f" ] || continue
            echo "--- ${f##*/}"
            tail -n 15 "$f"
        done
    fi
    local ns pids
    # shellcheck disable=SC2086 # $pids: one pid a word
    for ns in "${made_ns[@]}"; do
        pids=$(ip netns pids "$ns" 2>/dev/null)
        [ -n "$pids" ] && kill -CONT $pids 2>/dev/null && kill -TERM $pids 2>/dev/null
    done
    for _ in $(seq 30); do
        pids=
        for ns in "${made_ns[@]}"; do
            pids+=$(ip netns pids "$ns" 2>/dev/null)
        done
        [ -z "$pids" ] && break
        sleep 0.1
    done
    for ns in "${made_ns[@]}"; do
        pids=$(ip netns pids "$ns" 2>/dev/null)
        # shellcheck disable=SC2086
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    done
    wait 2>/dev/null
    for ns in "${made_ns[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$T"
    [ "$rc" != 0 ] && exit "$rc"
    exit "$status"
}
trap cleanup EXIT
trap 'echo "test-cluster: interrupted (or timed out)"; exit 124' TERM INT

die() {
    echo "test-cluster: FAILED: $*"
    exit 1
}

# ---- Helpers ----------------------------------------------------------------

now_ms() { date +%s%3N; }

# wait_until SECONDS WHAT CMD...: poll CMD every 0.1 s; die after SECONDS.
wait_until() {
    local secs=$1 what=$2 deadline
    shift 2
    deadline=$(($(now_ms) + secs * 1000))
    until "$@"; do
        [ "$(now_ms)" -lt "$deadline" ] || die "$what: not within $secs s"
        sleep 0.1
    done
}

# (Not for what runs in the background: there "ip netns exec" is written
# out, so that $! is the program's pid -- ip execs it -- not a subshell's.)
in_ns() {
    local host=$1
    shift
    ip netns exec "$P-$host" "$@"
}

passed=0
failed=0
# check NAME OK? DETAIL: one line per check, counted.
check() {
    local name=$1 ok=$2 detail=$3
    if [ "$ok" = 1 ]; then
        passed=$((passed + 1))
        echo "  PASS $name: $detail"
    else
        failed=$((failed + 1))
        echo "  FAIL $name: $detail"
    fi
}

# field NAME SUMMARY_LINE: a value from the client's "ok=N failed=M ..."
field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

# A process that is gone, or a zombie not yet reaped (it has exited).
gone() {
    ! kill -0 "$1" 2>/dev/null ||
        [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

pid_of() { cat "$T/$1.pid" 2>/dev/null || true; }

# ---- The network ------------------------------------------------------------

echo "test-cluster: namespaces $P-*, files in $T"
phase_start=$(now_ms)
ip netns add "$P-sw"
made_ns+=("$P-sw")
ip -n "$P-sw" link set lo up
ip -n "$P-sw" link add br0 type bridge
ip -n "$P-sw" link set br0 up
for h in "${HOSTS[@]}"; do
    ip netns add "$P-$h"
    made_ns+=("$P-$h")
    # Both ends are made inside namespaces: the veth never exists in the
    # root namespace, even for a moment.
    ip -n "$P-sw" link add "v-$h" type veth peer name eth0 netns "$P-$h"
    ip -n "$P-sw" link set "v-$h" master br0 up
    ip -n "$P-$h" link set lo up
    ip -n "$P-$h" addr add "${IP[$h]}/24" dev eth0
    ip -n "$P-$h" link set eth0 up
done

# ---- Backends ---------------------------------------------------------------

# Workers for each: USR2 (the binary upgrade) is a master's control, and a
# server without workers has no master to upgrade.
declare -A MODE_ARGS=([b1]="--workers 2 --mode event"
    [b2]="--workers 1 --mode thread"
    [b3]="--workers 1 --mode prethread --threads 4")

# announced FILE N: FILE has more than N "listening on" lines.
announced() {
    [ "$(grep -c '^listening on' "$1" 2>/dev/null)" -gt "$2" ]
}

# start_backend NAME: start it, and wait for its "listening on" line.
start_backend() {
    local b=$1 before
    before=$(grep -c '^listening on' "$T/$b.out" 2>/dev/null || true)
    # shellcheck disable=SC2086 # MODE_ARGS is a list of words
    ip netns exec "$P-$b" "$SRV" --listen "${IP[$b]}:8000" --handler whoami \
        ${MODE_ARGS[$b]} --proxy-protocol v2 --proxy-from "$LB" \
        --pidfile "$T/$b.pid" --grace 5 >>"$T/$b.out" 2>>"$T/$b.log" &
    wait_until 10 "$b starting" announced "$T/$b.out" "${before:-0}"
    wait_until 5 "$b's pidfile" test -s "$T/$b.pid"
}

for b in b1 b2 b3; do
    start_backend "$b"
done

# ---- The balancer -----------------------------------------------------------

# :8000 -- whoami on b1 b2 b3, PROXY v2, health-checked: a check is a
# conversation with whoami (its header, then "you are ..."), so a backend
# that is frozen (SIGSTOP) -- whose kernel still completes handshakes --
# fails it too.  Out after 2 failed checks 300 ms apart (each at most
# 500 ms), in after 2 good ones.
# :8001 -- a logger on b1, PROXY v1; :8002 -- http on b2, PROXY v2: the
# handlers that log their client, for check a.  :8404 -- the stats page
# (CSV), which says when HAProxy sees a backend up or down; :9999 -- its
# command socket, to drain a backend before it is stopped.  Only
# sessions that went wrong are logged (dontlog-normal): a failed
# conversation's line names its server and how it ended.
cat >"$T/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 2000
    log stdout format raw local0 info
    stats socket ipv4@$LB:9999 level admin
defaults
    mode tcp
    log global
    option tcplog
    option dontlog-normal
    timeout connect 1s
    timeout client 3s
    timeout server 3s
    timeout check 500ms
    retries 3
    option redispatch
frontend whoami
    bind $LB:8000
    default_backend whoami
backend whoami
    balance roundrobin
    option tcp-check
    tcp-check expect rstring ^you
    default-server send-proxy-v2 check check-send-proxy inter 300ms fall 2 rise 2
    server b1 ${IP[b1]}:8000
    server b2 ${IP[b2]}:8000
    server b3 ${IP[b3]}:8000
frontend logger
    bind $LB:8001
    default_backend logger
backend logger
    server b1 ${IP[b1]}:8001 send-proxy
frontend http
    bind $LB:8002
    default_backend http
backend http
    server b2 ${IP[b2]}:8002 send-proxy-v2
listen stats
    mode http
    bind $LB:8404
    stats enable
    stats uri /stats
EOF
haproxy -c -q -f "$T/haproxy.cfg" || die "haproxy rejects its configuration"
ip netns exec "$P-lb" haproxy -db -f "$T/haproxy.cfg" >>"$T/haproxy.log" 2>&1 &

# state NAME: HAProxy's view of a whoami backend: UP, "UP 1/2" (one check
# failed), DOWN, "DOWN 1/2" (one check passed)...; the 18th CSV field.
state() {
    in_ns lb "$CLIENT" -c "$LB:8404" -n 1 -t 1000 -q -o \
        -s 'GET /stats;csv HTTP/1.0\r\n\r\n' 2>/dev/null |
        awk -F, -v s="$1" '$1 == "whoami" && $2 == s { print $18 }'
}
is_up() { [ "$(state "$1")" = UP ]; }
# sessions NAME: the connections HAProxy has open to it (scur).
sessions() {
    in_ns lb "$CLIENT" -c "$LB:8404" -n 1 -t 1000 -q -o \
        -s 'GET /stats;csv HTTP/1.0\r\n\r\n' 2>/dev/null |
        awk -F, -v s="$1" '$1 == "whoami" && $2 == s { print $5 }'
}
idle() { [ "$(sessions "$1")" = 0 ]; }
# haproxy_cmd COMMAND: one command on HAProxy's command socket.
haproxy_cmd() {
    in_ns lb "$CLIENT" -c "$LB:9999" -n 1 -t 1000 -q -o -s "$1\n"
}
is_down() { [[ "$(state "$1")" == DOWN* ]]; }

for b in b1 b2 b3; do
    wait_until 15 "HAProxy seeing $b up" is_up "$b"
done
echo "test-cluster: network, 3 backends and HAProxy up in $(($(now_ms) - phase_start)) ms"

# ---- Load -------------------------------------------------------------------

# Steady load from c1 and c2 through HAProxy: 8 threads each, 2 ms apart
# (modest: the machine is shared), every reply checked for the client's
# own address and the balancer's.  Failed and slow (>= 1 s) conversations
# go to HOST.NAME.log with their start times.
K=8
load_start() {
    local name=$1 c
    for c in c1 c2; do
        ip netns exec "$P-$c" "$CLIENT" -c "$LB:8000" -k "$K" -d 300 -i 2 \
            -e "you are ${IP[$c]}:" -m " via $LB:" -l "$T/$c.$name.log" \
            >"$T/$c.$name.out" 2>&1 &
        echo $! >"$T/$c.$name.cpid"
    done
    wc -l <"$T/haproxy.log" >"$T/$name.hapos"
    sleep 1 # let it reach steady state before the event under test
}

# load_stop NAME: stop both clients; sets ok, fails and sum (the line).
load_stop() {
    local name=$1 c pid
    for c in c1 c2; do
        kill -TERM "$(cat "$T/$c.$name.cpid")" 2>/dev/null || true
    done
    for c in c1 c2; do
        pid=$(cat "$T/$c.$name.cpid")
        # A thread ends its conversation first: at most -t (5 s).
        wait_until 10 "client $c stopping" gone "$pid"
        wait "$pid" 2>/dev/null || true
    done
    ok=0 fails=0 sum=
    for c in c1 c2; do
        local line
        line=$(grep '^ok=' "$T/$c.$name.out" || true)
        [ -n "$line" ] || die "client $c ($name) printed no summary: $(cat "$T/$c.$name.out")"
        ok=$((ok + $(field ok "$line")))
        fails=$((fails + $(field failed "$line")))
        sum+="$c: $line; "
    done
    # HAProxy's lines for the sessions that went wrong in this phase.
    if [ "$fails" != 0 ]; then
        echo "    HAProxy's log of the phase's failed sessions (at most 20):"
        tail -n +"$(($(cat "$T/$name.hapos") + 1))" "$T/haproxy.log" |
            grep -v 'Server whoami' | # awk reads it all: no SIGPIPE
            awk 'NR <= 20 { print "      " $0 }'
    fi
}

# failures_after NAME MS: failed conversations that started at MS or later.
failures_after() {
    cat "$T/c1.$1.log" "$T/c2.$1.log" |
        awk -v t="$2" '$1 >= t && $3 != "ok"' | wc -l
}
# slow_after NAME MS SLOW_MS: any conversation started at MS or later and
# taking SLOW_MS or more (failed or not).
slow_after() {
    cat "$T/c1.$1.log" "$T/c2.$1.log" |
        awk -v t="$2" -v s="$3" '$1 >= t && $2 >= s' | wc -l
}

echo "test-cluster: checks"

# ---- a: real addresses ------------------------------------------------------

phase_start=$(now_ms)
for c in c1 c2; do
    line=$(in_ns "$c" "$CLIENT" -c "$LB:8000" -k 4 -n 300 \
        -e "you are ${IP[$c]}:" -m " via $LB:" -x 203.0.113.9)
    check "a whoami (v2) from $c" \
        "$([ "$(field ok "$line")" = 300 ] && echo 1)" "$line"
done

# The handlers that log their client, each on a backend host beside its
# whoami: logger behind PROXY v1, http behind v2.  Single processes (no
# workers), so that path is covered too.
mkdir -p "$T/www"
echo "hello" >"$T/www/index.html"
ip netns exec "$P-b1" "$SRV" --listen "${IP[b1]}:8001" --handler logger --mode thread \
    --proxy-protocol v1 --proxy-from "$LB" >"$T/b1-logger.out" \
    2>"$T/b1-logger.log" &
logger_pid=$!
ip netns exec "$P-b2" "$SRV" --listen "${IP[b2]}:8002" --handler http --mode event \
    --root "$T/www" --proxy-protocol v2 --proxy-from "$LB" \
    >"$T/b2-http.out" 2>"$T/b2-http.log" &
http_pid=$!
wait_until 10 "the logger starting" grep -q '^listening on' "$T/b1-logger.out"
wait_until 10 "http starting" grep -q '^listening on' "$T/b2-http.out"
for c in c1 c2; do
    lg=$(in_ns "$c" "$CLIENT" -c "$LB:8001" -k 2 -n 20 -Z \
        -s "hello from $c\\n")
    ht=$(in_ns "$c" "$CLIENT" -c "$LB:8002" -k 2 -n 20 \
        -s 'GET / HTTP/1.0\r\n\r\n' -e 'HTTP/1.' -m ' 200 ')
    echo "    logger via v1 from $c: $lg"
    echo "    http via v2 from $c: $ht"
done
kill -TERM "$logger_pid" "$http_pid"
both_gone() { gone "$logger_pid" && gone "$http_pid"; }
wait_until 15 "the logger and http stopping" both_gone
wait "$logger_pid" "$http_pid" 2>/dev/null || true
for c in c1 c2; do
    n_conn=$(grep -Ec "^${IP[$c]//./\\.}:[0-9]+ connected$" "$T/b1-logger.out" || true)
    n_line=$(grep -Ec "^${IP[$c]//./\\.}:[0-9]+: hello from $c$" "$T/b1-logger.out" || true)
    n_http=$(grep -Ec "http: ${IP[$c]//./\\.}:[0-9]+ \"GET /\" 200$" "$T/b2-http.log" || true)
    check "a logger (v1) names $c" \
        "$([ "$n_conn" = 20 ] && [ "$n_line" = 20 ] && echo 1)" \
        "$n_conn 'connected' and $n_line 'hello' lines of 20 name ${IP[$c]}"
    check "a http access log (v2) names $c" \
        "$([ "$n_http" = 20 ] && echo 1)" \
        "$n_http access lines of 20 name ${IP[$c]}"
done
# The balancer's own address as the client would mean a header not read.
lb_named=$(cat "$T/b1-logger.out" "$T/b2-http.log" |
    grep -Ec "(^|http: )${LB//./\\.}:" || true)
check "a the balancer never taken for the client" \
    "$([ "$lb_named" = 0 ] && echo 1)" "$lb_named lines name $LB as a client"
echo "  (a: $(($(now_ms) - phase_start)) ms)"

# ---- e: forged headers ------------------------------------------------------

# c1 is not a trusted source: straight to b1 with a header claiming
# 203.0.113.9, it must get a clean close (-Z: no byte of reply; a reset
# would count as failed), and b1 must log the refusal naming c1.
phase_start=$(now_ms)
for v in v2 v1; do
    line=$(in_ns c1 "$CLIENT" -c "${IP[b1]}:8000" -k 1 -n 5 -Z \
        -P "$v" -S 203.0.113.9:4444 -D "${IP[b1]}:8000")
    check "e forged $v header from c1 to b1 refused, no reply" \
        "$([ "$(field ok "$line")" = 5 ] && echo 1)" "$line"
done
sleep 0.2 # the log line is written after the close
refusals=$(grep -Ec "${IP[c1]//./\\.}:[0-9]+: PROXY header refused: not a trusted source" \
    "$T/b1.log" || true)
believed=$(cat "$T"/b*.log "$T"/b*.out | grep -c '203\.0\.113\.9' || true)
check "e refusal logged naming c1, forged address nowhere" \
    "$([ "$refusals" -ge 1 ] && [ "$believed" = 0 ] && echo 1)" \
    "$refusals 'PROXY header refused' lines name ${IP[c1]} (rate-limited); 203.0.113.9 in $believed lines"
echo "  (e: $(($(now_ms) - phase_start)) ms)"

# ---- f: latency -------------------------------------------------------------

# The same load, 4 threads for 3 s: c1 through HAProxy (spread over the
# three backends), then lb straight to b1 -- lb is trusted, so it sends
# the header itself, naming c1.
phase_start=$(now_ms)
via=$(in_ns c1 "$CLIENT" -c "$LB:8000" -k 4 -d 3 \
    -e "you are ${IP[c1]}:" -m " via $LB:")
direct=$(in_ns lb "$CLIENT" -c "${IP[b1]}:8000" -k 4 -d 3 \
    -P v2 -S "${IP[c1]}:40000" -D "${IP[b1]}:8000" \
    -e "you are ${IP[c1]}:40000 via $LB:")
echo "    through HAProxy: $via"
echo "    straight to b1:  $direct"
check "f latency: HAProxy p50 $(field p50_ms "$via") ms p99 $(field p99_ms "$via") ms; direct p50 $(field p50_ms "$direct") ms p99 $(field p99_ms "$direct") ms" \
    "$([ "$(field failed "$via")" = 0 ] && [ "$(field failed "$direct")" = 0 ] && echo 1)" \
    "failed: $(field failed "$via") through HAProxy, $(field failed "$direct") direct"
echo "  (f: $(($(now_ms) - phase_start)) ms)"

# ---- b: graceful stop, rolling restart, binary upgrade under load ----------

# stop_backend NAME: TERM its master (listeners first, in-flight finish),
# and wait until it has exited.
stop_backend() {
    local pid
    pid=$(pid_of "$1")
    [ -n "$pid" ] || die "$1 has no pid"
    kill -TERM "$pid"
    wait_until 15 "$1 stopping (TERM)" gone "$pid"
    wait "$pid" 2>/dev/null || true
}

# How a backend leaves a balancer's pool for good (what an operator or
# an orchestrator does): drained in HAProxy first -- no new conversation
# goes to it -- until HAProxy holds no session on it, then TERM, which
# lets the ones it has finish; then started again and made ready.
drain_stop() {
    haproxy_cmd "set server whoami/$1 state drain" >/dev/null
    wait_until 10 "HAProxy draining $1" idle "$1"
    stop_backend "$1"
}
restart_ready() {
    start_backend "$1"
    haproxy_cmd "set server whoami/$1 state ready" >/dev/null
    wait_until 15 "HAProxy seeing $1 up again" is_up "$1"
}

phase_start=$(now_ms)
load_start graceful
t0=$(now_ms)
drain_stop b1
t_stop=$(($(now_ms) - t0))
sleep 0.5 # serve without it a while
t0=$(now_ms)
restart_ready b1
t_up=$(($(now_ms) - t0))
sleep 1
load_stop graceful
check "b graceful stop (drain, TERM) of b1 and restart, under load" \
    "$([ "$fails" = 0 ] && echo 1)" \
    "ok=$ok failed=$fails; drained and stopped in $t_stop ms, up again in $t_up ms [$sum]"

# The same without the drain: TERM while HAProxy still sends to it.  The
# server serves what the kernel had already queued (HAProxy connected,
# header sent: it could not retry those) before its listeners close, and
# a connect after that is refused, which HAProxy retries elsewhere
# (option redispatch): nothing is lost.
load_start bareterm
stop_backend b2
sleep 0.5
start_backend b2
wait_until 15 "HAProxy seeing b2 up again" is_up b2
sleep 1
load_stop bareterm
check "b bare TERM of b2 (no drain) and restart, under load" \
    "$([ "$fails" = 0 ] && echo 1)" "ok=$ok failed=$fails [$sum]"
echo "  (b graceful: $(($(now_ms) - phase_start)) ms)"

phase_start=$(now_ms)
load_start rolling
times=
for b in b1 b2 b3; do # a plain TERM each: what the server itself guarantees
    t0=$(now_ms)
    stop_backend "$b"
    restart_ready "$b"
    times+="$b $(($(now_ms) - t0)) ms, "
done
sleep 1
load_stop rolling
check "b rolling restart (TERM, start) of b1 b2 b3, under load" \
    "$([ "$fails" = 0 ] && echo 1)" "ok=$ok failed=$fails; ${times%, } [$sum]"
echo "  (b rolling: $(($(now_ms) - phase_start)) ms)"

# USR2: the master starts this binary again with the listening sockets;
# once the new master serves, the old one steps down and the pidfile
# names the new one.
pidfile_moved() {
    local p
    p=$(pid_of "$1")
    [ -n "$p" ] && [ "$p" != "$2" ]
}
phase_start=$(now_ms)
load_start upgrade
times=
for b in b1 b2 b3; do
    t0=$(now_ms)
    old=$(pid_of "$b")
    kill -USR2 "$old"
    wait_until 30 "$b's pidfile naming a new master" pidfile_moved "$b" "$old"
    wait_until 30 "$b's old master stepping down" gone "$old"
    wait "$old" 2>/dev/null || true
    new=$(pid_of "$b")
    kill -0 "$new" || die "$b's new master $new is not running"
    times+="$b $old->$new $(($(now_ms) - t0)) ms, "
done
sleep 1
up=0
for b in b1 b2 b3; do is_up "$b" && up=$((up + 1)); done
load_stop upgrade
check "b binary upgrade (USR2) of b1 b2 b3, under load" \
    "$([ "$fails" = 0 ] && [ "$up" = 3 ] && echo 1)" \
    "ok=$ok failed=$fails, $up of 3 up after; ${times%, } [$sum]"
echo "  (b upgrade: $(($(now_ms) - phase_start)) ms)"

# ---- c: kill -9 -------------------------------------------------------------

# HAProxy's window for a dead backend: 2 failed checks 300 ms apart (a
# refused connect fails at once), plus up to 300 ms until the first.
KILL_WINDOW=2000
phase_start=$(now_ms)
load_start kill9
t0=$(now_ms)
# shellcheck disable=SC2046 # one pid a word: the master and its workers
kill -KILL $(ip netns pids "$P-b2")
wait_until 10 "HAProxy taking b2 out" is_down b2
detect=$(($(now_ms) - t0))
sleep 3 # load after the window: it must all succeed
load_stop kill9
late=$(failures_after kill9 $((t0 + KILL_WINDOW)))
check "c kill -9 of b2 (master and worker), under load" \
    "$([ "$detect" -le "$KILL_WINDOW" ] && [ "$fails" -le $((2 * K)) ] &&
        [ "$late" = 0 ] && echo 1)" \
    "out in $detect ms (window $KILL_WINDOW); failed=$fails (bound $((2 * K)), the concurrent clients), $late of them after the window; ok=$ok [$sum]"
rm -f "$T/b2.pid"
start_backend b2
wait_until 15 "HAProxy seeing b2 up again" is_up b2
echo "  (c: $(($(now_ms) - phase_start)) ms)"

# ---- d: SIGSTOP -------------------------------------------------------------

# A frozen backend still completes handshakes (the kernel does), so only
# the check's conversation finds it out: 2 checks, each timing out after
# 500 ms, 300 ms apart, plus up to 300 ms until the first.  A conversation
# HAProxy sends it meanwhile waits for 'timeout server' (3 s) and fails;
# one started after the window and a margin must not go to it at all.
STOP_WINDOW=2500
MARGIN=500
phase_start=$(now_ms)
load_start sigstop
t0=$(now_ms)
stopped=$(ip netns pids "$P-b3")
# shellcheck disable=SC2086 # one pid a word
kill -STOP $stopped
wait_until 10 "HAProxy taking b3 out" is_down b3
detect=$(($(now_ms) - t0))
cutoff=$((t0 + STOP_WINDOW + MARGIN))
sleep $(((STOP_WINDOW + MARGIN) / 1000 + 4)) # well past the cutoff
load_stop sigstop
# shellcheck disable=SC2086
kill -CONT $stopped
late_failed=$(failures_after sigstop "$cutoff")
late_slow=$(slow_after sigstop "$cutoff" 1000)
waited=$(cat "$T/c1.sigstop.log" "$T/c2.sigstop.log" |
    awk -v w="$STOP_WINDOW" '$2 >= w' | wc -l)
check "d SIGSTOP of b3 (master and worker), under load" \
    "$([ "$detect" -le "$STOP_WINDOW" ] && [ "$late_failed" = 0 ] &&
        [ "$late_slow" = 0 ] && echo 1)" \
    "out in $detect ms (window $STOP_WINDOW); $waited conversations waited past the window, failed=$fails; started after window+${MARGIN} ms: $late_failed failed, $late_slow slow (>= 1 s); ok=$ok [$sum]"
wait_until 15 "HAProxy seeing b3 up again after SIGCONT" is_up b3
echo "  (d: $(($(now_ms) - phase_start)) ms)"

# ---- After ------------------------------------------------------------------

for c in c1 c2; do
    line=$(in_ns "$c" "$CLIENT" -c "$LB:8000" -k 4 -n 300 \
        -e "you are ${IP[$c]}:" -m " via $LB:")
    check "all three serve after it all, from $c" \
        "$([ "$(field ok "$line")" = 300 ] && echo 1)" "$line"
done

echo "test-cluster: $passed checks passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && status=0
