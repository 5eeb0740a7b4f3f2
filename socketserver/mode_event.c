/* mode_event.c -- one thread, one poller, many connections: each request
 * runs its handler, unchanged, in a coroutine (the scheduler is in
 * event_loop.c).  The server loop is the usual one: this mode only
 * supplies its poll_wait, which polls the loop's own descriptors (wake
 * pipe, listener) together with every coroutine's, and runs the
 * coroutines that are ready. */
#include "event.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define SS_DEFAULT_CORO_STACK (64 * 1024)
#define CANCEL_WAIT_MS 1000

/* max_conns: the loop re-asks after every pass, and a pass ends when a
 * coroutine finishes, so no wake-up is needed. */
static int event_has_room(ss_server_t *srv)
{
    event_state_t *st = srv->mode_state;
    return srv->cfg.max_conns <= 0 || st->live < srv->cfg.max_conns;
}

static int event_poll_wait(ss_server_t *srv, struct pollfd *pfd, unsigned n,
                           int timeout_ms)
{
    return ss__event_run_pass(srv->mode_state, pfd, n, timeout_ms);
}

static int event_backlogged(ss_server_t *srv)
{
    return ((event_state_t *)srv->mode_state)->backlogged;
}

/* ---- The mode ---------------------------------------------------------- */

/* Descriptors kept for the listeners, the loop's pipes, logs and files a
 * handler opens, beyond one a connection. */
#define FD_RESERVE 64

/* The most descriptors the system lets one process have (fs.nr_open);
 * 0 when it does not say. */
static rlim_t system_descriptor_max(void)
{
    FILE *f = fopen("/proc/sys/fs/nr_open", "r");
    unsigned long max = 0;
    if (f && fscanf(f, "%lu", &max) != 1)
        max = 0;
    if (f)
        fclose(f);
    return (rlim_t)max;
}

/* A hundred thousand connections need a hundred thousand descriptors:
 * one a connection under --max-conns (and a reserve), else all there
 * are.  The soft limit goes up to the hard one; a privileged process
 * (root) raises the hard limit too, up to fs.nr_open.  A limit lower than
 * --max-conns asked for is a warning that says what to do. */
static void raise_descriptor_limit(const ss_server_t *srv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rlim_t was = rl.rlim_cur, system_max = system_descriptor_max();
    rlim_t want = srv->cfg.max_conns > 0
                      ? (rlim_t)srv->cfg.max_conns + FD_RESERVE
                      : (system_max > rl.rlim_max ? system_max : rl.rlim_max);
    if (system_max && want > system_max)
        want = system_max;
    if (want <= was)
        return;
    struct rlimit more = {want, want > rl.rlim_max ? want : rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &more) == 0)
        rl = more;
    else if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            rl.rlim_cur = was;
    }
    if (rl.rlim_cur > was)
        ss_log(SS_LOG_INFO,
               "event mode: descriptor limit raised from %lu to %lu",
               (unsigned long)was, (unsigned long)rl.rlim_cur);
    if (srv->cfg.max_conns > 0 && rl.rlim_cur < want)
        ss_log(SS_LOG_WARN,
               "event mode: %d connections need %lu descriptors, but the "
               "limit is %lu: raise the hard limit (ulimit -Hn, systemd's "
               "LimitNOFILE=) or run as root",
               srv->cfg.max_conns, (unsigned long)want,
               (unsigned long)rl.rlim_cur);
}

static int event_open(ss_server_t *srv)
{
    const ss_poller_ops_t *poller = ss__poller_for(srv->cfg.poller);
    if (!poller)
        return -ENOENT;
    event_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->poller = poller;
    for (int i = 0; i < SS_LOOP_FDS; i++)
        st->loop_fds[i] = -1;
    st->stack_size = srv->cfg.coro_stack_size ? srv->cfg.coro_stack_size
                                              : SS_DEFAULT_CORO_STACK;
    srv->mode_state = st;
    st->pstate = poller->create();
    if (!st->pstate)
        return errno ? -errno : -ENOMEM;
    raise_descriptor_limit(srv);
    return 0;
}

/* Start a coroutine for req and run it until it first waits; shed it
 * when there is no memory for one. */
static void event_process(ss_server_t *srv, ss_request_t *req)
{
    if (ss__event_spawn(srv->mode_state, req) < 0) {
        ss_log_peer(SS_LOG_ERROR, "no memory for a coroutine; shedding %s",
                    ss_peer(req));
        ss__request_drop(req);
    }
}

/* After serve_forever: the loop must keep running for the requests still
 * in flight, at most the grace period; then they are cancelled. */
static void event_close(ss_server_t *srv)
{
    event_state_t *st = srv->mode_state;
    long long deadline =
        srv->cfg.block_on_close ? ss__grace_deadline_ms(srv) : ss__now_ms();
    ss__event_drive_until(st, deadline);
    if (st->live == 0)
        return;
    ss_log(SS_LOG_INFO,
           "%d connections still open after the grace period; "
           "cancelling",
           st->live);
    ss__event_cancel_all(st);
    ss__event_drive_until(st, ss__now_ms() + CANCEL_WAIT_MS);
    if (st->live > 0)
        ss_log(SS_LOG_ERROR, "%d coroutines ignore cancellation; leaking them",
               st->live);
}

static void event_release(ss_server_t *srv)
{
    ss__event_state_free(srv->mode_state);
    srv->mode_state = NULL;
}

const ss_mode_t ss__mode_event = {
    .open = event_open,
    .has_room = event_has_room,
    .process = event_process,
    .poll_wait = event_poll_wait,
    .backlogged = event_backlogged,
    .close = event_close,
    .release = event_release,
};
