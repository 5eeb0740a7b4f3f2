/* mode_event.c -- one thread, one poller, many connections: each request
 * runs its handler, unchanged, in a coroutine (the scheduler is in
 * event_loop.c).  The server loop is the usual one: this mode only
 * supplies its poll_wait, which polls the loop's own descriptors (wake
 * pipe, listener) together with every coroutine's, and runs the
 * coroutines that are ready. */
#include "event.h"

#include <errno.h>
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

/* ---- The mode ---------------------------------------------------------- */

/* Ten thousand connections need ten thousand descriptors: take the hard
 * limit, and say so when the soft one was lower. */
static void raise_descriptor_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        ss_log(SS_LOG_INFO,
               "event mode: descriptor limit raised from %lu to "
               "%lu",
               (unsigned long)was, (unsigned long)rl.rlim_max);
    else
        ss_log(SS_LOG_WARN,
               "event mode: descriptor limit stays at %lu "
               "(setrlimit: %s)",
               (unsigned long)was, strerror(errno));
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
    raise_descriptor_limit();
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
    .close = event_close,
    .release = event_release,
};
