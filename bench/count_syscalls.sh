# shellcheck shell=bash disable=SC2154 # run_bench.sh sets loadgen, clients, ...
# count_syscalls.sh -- sourced by run_bench.sh (it uses that script's
# start_server, stop_server, applies, record, field and the row_* arrays):
# workload 7, the system calls a server makes per connection (thankyou),
# per echo round trip (redis: PING) and per HTTP request, for every row.
#
# A pass of its own, short and untimed: `strace -c -f` attached to every
# process of the server's group (setsid made the server its leader), so
# threads and children made during the pass are counted too.  Counts are
# exact where the timed figures are noisy; how many epoll_wait (or poll)
# calls a connection costs still depends on how busy the loop was, and
# strace slows the server, so treat that one as "about".  Each row's note
# lists the calls that make up the count, per operation.
#
# Its own file so that workloads added to run_bench.sh and this pass
# change different lines.

SYSCALL_CONNS=${SYSCALL_CONNS:-1000} # connections counted (thankyou)
SYSCALL_SECS=${SYSCALL_SECS:-1}      # seconds of echo and of HTTP

# Run workload $1's client against the started server; prints the number
# of operations it completed, then its result line.
syscall_load() {
    local r ping=""
    case $1 in
    conn) r=$(bounded 60 "$loadgen" conn "$SRV_ADDR" -c "$clients" \
        -n "$SYSCALL_CONNS" -d 30 -e "$thanks_bytes") ;;
    echo)
        [ "$2" = redis ] && ping=-P
        r=$(bounded 60 "$loadgen" rr "$SRV_ADDR" -c "$clients" \
            -d "$SYSCALL_SECS" -s "$msg_bytes" $ping) ;;
    http)
        local path=/small.txt
        [ "$2:$3" = nginx:return ] && path=/return
        r=$(bounded 60 wrk -t1 -c"$clients" -d"${SYSCALL_SECS}s" --timeout 2s \
            -s bench/wrk_report.lua "http://$SRV_ADDR$path" 2>&1 |
            grep '^mode=http') ;;
    esac
    printf '%s\n%s\n' "$(field ok "$r")" "$r"
}

# The calls per operation from strace's table ($1), most frequent first,
# those at 0.05 or more: "accept4 1.00, sendto 1.00, ...".
syscall_breakdown() {
    awk -v ops="$2" '$NF != "total" && $4 ~ /^[0-9]+$/ && $4 / ops >= 0.05 {
            printf "%s%s %.2f", sep, $NF, $4 / ops; sep = ", " }' "$1"
}

# One server, one workload: start it, attach, drive, detach, record.
count_syscalls_one() {
    local w=$1 name=$2 kind=$3 opts=$4 pid args=() st out ops r total
    local status=ok note
    if ! start_server "$kind" "$opts" "$w"; then
        record "sys_$w" "$name" "$kind" na "" "" "" "" "" "" "$SKIP"
        return
    fi
    for pid in $(pgrep -g "$SRV_PID"); do args+=(-p "$pid"); done
    strace -c -f -S calls -o "$work/strace.txt" "${args[@]}" 2>/dev/null &
    st=$!
    sleep 0.5 # strace has attached
    out=$(syscall_load "$w" "$kind" "$opts")
    kill -INT "$st" 2>/dev/null
    wait "$st" 2>/dev/null
    stop_server
    ops=$(head -1 <<<"$out") r=$(tail -1 <<<"$out")
    total=$(awk '$NF == "total" {print $4}' "$work/strace.txt")
    if [ -z "$ops" ] || [ "$ops" = 0 ] || [ -z "$total" ]; then
        record "sys_$w" "$name" "$kind" err "" "" "" "" "" 1 \
            "no count: ${ops:-0} operations, strace total ${total:-none}"
        return
    fi
    note="$ops operations: $(syscall_breakdown "$work/strace.txt" "$ops")"
    [ "$(field errors "$r")" != 0 ] && status=err &&
        note="$(field errors "$r") errors; $note"
    record "sys_$w" "$name" "$kind" $status \
        "$(awk -v t="$total" -v n="$ops" 'BEGIN{printf "%.2f", t / n}')" \
        syscalls/op "" "" "" "$(field errors "$r")" "$note"
    log "  $name: $(awk -v t="$total" -v n="$ops" 'BEGIN{printf "%.2f", t / n}') syscalls per operation ($ops)"
}

# Every runnable row, for each workload that applies to it.
count_syscalls_all() {
    local w i t0=$SECONDS
    if ! have_cmd strace; then
        log "== syscalls: skipped, strace not installed"
        return
    fi
    log "== syscalls (strace -c -f; untimed)"
    for w in conn echo http; do
        [ "$w" = http ] && ! have_cmd wrk && continue
        for i in "${!row_name[@]}"; do
            [ -n "${row_skip[$i]}" ] && continue
            applies "${row_kind[$i]}" "${row_opts[$i]}" "$w" || continue
            count_syscalls_one "$w" "${row_name[$i]}" "${row_kind[$i]}" \
                "${row_opts[$i]}"
        done
    done
    log "   (syscalls: $((SECONDS - t0)) s)"
}
