# bench/server_group.sh -- sourced by attack.sh and handler_bench.sh, which
# start each server with setsid: its workers and children share its
# process group.
#
# stop_server_group PID TENTHS: SIGTERM the group, wait up to TENTHS
# tenths of a second for it to be gone, then SIGKILL what is left and reap
# the leader.
stop_server_group() {
    local pid=$1 tenths=$2 _
    kill -TERM -- "-$pid" 2>/dev/null
    for _ in $(seq "$tenths"); do
        kill -0 -- "-$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
