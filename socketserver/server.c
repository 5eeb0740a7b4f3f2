/* server.c -- a server's life once created: the serve loop, shutdown,
 * close, and its accessors.  How each request runs is the mode's
 * business; a process layer (workers, a master) plugs in through
 * srv->hooks, which this file calls without naming who set them. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The last steps before serving, in this process or in each worker: the
 * configured user from now on, then the mode's state (its threads are
 * that user's too).  0, or -errno with the reason in err. */
int ss__server_start_mode(ss_server_t *srv, char *err, size_t errlen)
{
    int rc = ss__drop_privileges(srv, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = srv->mode->open(srv)) < 0)
        return ss__fail(err, errlen, rc, "%s mode: %s",
                        ss_choice_name(SS_CHOICE_MODE, srv->cfg.mode),
                        strerror(-rc));
    return 0;
}

/* ---- The loop ---------------------------------------------------------- */

static int min_timeout(int a, long long b)
{
    if (b < 0)
        return a;
    if (b > 60000)
        b = 60000;
    return a < 0 || b < a ? (int)b : a;
}

/* How long a pass may wait: the caller's limit, cut short for a paused
 * accept, the mode's housekeeping, the service hook, a report of dropped
 * log lines and the process layer's own reasons (a heartbeat). */
static int pass_timeout(ss_server_t *srv, int timeout_ms, int accepting,
                        long long now)
{
    int timeout = timeout_ms;
    if (!accepting)
        timeout = min_timeout(timeout,
                              atomic_load(&srv->accept_paused_until_ms) - now);
    if (srv->mode->service_due_ms)
        timeout = min_timeout(timeout, srv->mode->service_due_ms(srv));
    if (srv->cfg.service_actions)
        timeout = min_timeout(timeout, srv->cfg.service_interval_ms);
    timeout = min_timeout(timeout, ss__log_peer_due_ms(now));
    if (srv->hooks.before_pass)
        srv->hooks.before_pass(srv, &timeout);
    return timeout;
}

/* Whether accepting is paused (after EMFILE) or the mode has no room. */
static int accept_blocked(ss_server_t *srv, long long now)
{
    return now < atomic_load(&srv->accept_paused_until_ms) ||
           (srv->mode->has_room && !srv->mode->has_room(srv));
}

/* The pass's descriptors, in this order. */
enum { PFD_WAKE, PFD_MODE, PFD_WATCH, PFD_LISTENERS };

/* Wait for the pass's descriptors: the wake pipe, the mode's, the process
 * layer's and the listeners (when accepting).  The event mode's
 * poll_wait runs its coroutines meanwhile.  poll(2)'s return. */
static int wait_pass(ss_server_t *srv, struct pollfd pfd[SS_LOOP_FDS],
                     int accepting, int timeout)
{
    int mode_fd = srv->mode->wake_fd ? srv->mode->wake_fd(srv) : -1;
    pfd[PFD_WAKE] = (struct pollfd){srv->wake_r, POLLIN, 0};
    pfd[PFD_MODE] = (struct pollfd){mode_fd, POLLIN, 0};
    pfd[PFD_WATCH] = (struct pollfd){srv->hooks.watch_fd, POLLIN, 0};
    for (int i = 0; i < srv->nlisteners; i++)
        pfd[PFD_LISTENERS + i] =
            (struct pollfd){accepting ? srv->listeners[i].fd : -1, POLLIN, 0};
    unsigned n = PFD_LISTENERS + (unsigned)srv->nlisteners;
    return srv->mode->poll_wait ? srv->mode->poll_wait(srv, pfd, n, timeout)
                                : poll(pfd, n, timeout);
}

/* After a pass's first request, up to batch - 1 more from the listeners
 * the pass found ready, each processed as it is taken (so a mode's cap is
 * asked before every one), while accepting stays allowed.  Why: a pass
 * also runs every connection that is ready (the event mode's coroutines),
 * so taking one connection a pass makes a newcomer at the back of an
 * arrival burst wait one pass per connection ahead of it, each as long
 * as the busy connections make it.  Bounded, so the ready connections get
 * their turn between batches (redis caps a call at 1000 accepts, nginx's
 * multi_accept takes all); ss_server_handle_request still takes one. */
static void take_batch(ss_server_t *srv, const struct pollfd *ready, int batch)
{
    for (int k = 1; k < batch; k++) {
        if (atomic_load(&srv->shutdown_requested) ||
            accept_blocked(srv, ss__now_ms()))
            return;
        ss_request_t *req = ss__take_ready(srv, ready);
        if (!req)
            return; /* drained (or one refused: the next pass goes on) */
        srv->mode->process(srv, req);
    }
}

/* The event mode's poller hands out ready descriptors oldest first, a
 * batch a wait: with thousands ready at once (clients closing together)
 * a listener's turn may be many passes away, and a newcomer would wait
 * for all of them.  When the mode's wait left ready descriptors untaken,
 * poll(2) asks the listeners directly, without waiting.  Its count. */
static int ask_listeners(ss_server_t *srv, struct pollfd *listeners)
{
    for (int i = 0; i < srv->nlisteners; i++)
        listeners[i] = (struct pollfd){srv->listeners[i].fd, POLLIN, 0};
    int n = poll(listeners, (nfds_t)srv->nlisteners, 0);
    return n > 0 ? n : 0;
}

/* One pass: wait up to timeout_ms (-1: no limit of our own) for a request,
 * the mode's wake descriptor or a shutdown; do the housekeeping; process at
 * least one request when there is one, and at most batch (even during a
 * shutdown: it was accepted, it is served).  Under an accept lock, one:
 * the lock is held for one accept only.  1: processed some; 0: none;
 * -ECANCELED: shut down. */
static int serve_once(ss_server_t *srv, int timeout_ms, int batch)
{
    long long now = ss__now_ms();
    int accepting = !accept_blocked(srv, now);
    int timeout = pass_timeout(srv, timeout_ms, accepting, now);
    int gated = accepting && srv->hooks.try_accept;
    if (gated) /* an accept lock: this pass accepts only if it holds it */
        accepting = gated = srv->hooks.try_accept(srv, &timeout);
    struct pollfd pfd[SS_LOOP_FDS];
    int n = wait_pass(srv, pfd, accepting, timeout);
    int poll_err = n < 0 && errno != EINTR ? -errno : 0;
    if (n >= 0 && accepting && srv->mode->backlogged &&
        srv->mode->backlogged(srv))
        n += ask_listeners(srv, pfd + PFD_LISTENERS);
    ss_request_t *req =
        n > 0 && accepting ? ss__take_ready(srv, pfd + PFD_LISTENERS) : NULL;
    if (gated && srv->hooks.accept_done)
        srv->hooks.accept_done(srv); /* before serving: others may accept */
    if (n > 0 && pfd[PFD_WATCH].revents && srv->hooks.watch_ready)
        srv->hooks.watch_ready(srv);
    if (srv->mode->service)
        srv->mode->service(srv);
    ss__log_peer_flush();
    if (req)
        srv->mode->process(srv, req);
    if (req && !gated)
        take_batch(srv, pfd + PFD_LISTENERS, batch);
    if (poll_err)
        return poll_err;
    if (atomic_load(&srv->shutdown_requested))
        return -ECANCELED;
    if (srv->cfg.service_actions)
        srv->cfg.service_actions(srv);
    return req != NULL;
}

int ss_server_serve_forever(ss_server_t *srv)
{
    if (srv->hooks.serve) /* a master supervises its workers instead */
        return srv->hooks.serve(srv);
    if (srv->cfg.on_ready)
        srv->cfg.on_ready(srv);
    while (!atomic_load(&srv->shutdown_requested)) {
        int rc = serve_once(srv, -1, SS_ACCEPT_BATCH);
        if (rc < 0 && rc != -ECANCELED)
            return rc;
    }
    return 0;
}

int ss_server_handle_request(ss_server_t *srv, int timeout_ms)
{
    if (srv->supervises)
        return -ENOTSUP; /* workers serve; the master only supervises */
    long long deadline = timeout_ms >= 0 ? ss__now_ms() + timeout_ms : -1;
    long long left = timeout_ms;
    for (;;) { /* at least one pass: a timeout of 0 serves what is queued */
        int rc = serve_once(srv, (int)left, 1);
        if (rc != 0)
            return rc > 0 ? 0 : rc;
        left = deadline < 0 ? -1 : deadline - ss__now_ms();
        if (deadline >= 0 && left <= 0) {
            if (srv->cfg.handle_timeout)
                srv->cfg.handle_timeout(srv);
            return -ETIMEDOUT;
        }
    }
}

/* Async-signal-safe: two lock-free atomics and a write(2).  The hard stop
 * time is when in-flight requests' waits start to fail with -ECANCELED; it
 * is set before anything can wake, so whoever wakes sees it. */
void ss_server_shutdown(ss_server_t *srv)
{
    int saved_errno = errno;
    long long none = 0;
    atomic_compare_exchange_strong(&srv->hard_stop_at_ms, &none,
                                   ss__now_ms() + srv->cfg.grace_ms);
    atomic_store(&srv->shutdown_requested, 1);
    ssize_t w = write(srv->wake_w, "x", 1);
    (void)w; /* a full pipe already holds a wake-up */
    errno = saved_errno;
}

/* A fast stop: no grace at all for requests in flight, even when a
 * graceful stop was under way.  A master passes it on to its workers
 * (SIGQUIT), which do the same. */
void ss_server_stop_now(ss_server_t *srv)
{
    atomic_store(&srv->stop_now, 1);
    if (!srv->supervises)
        atomic_store(&srv->hard_stop_at_ms, ss__now_ms());
    ss_server_shutdown(srv);
}

/* The grace period ends grace_ms after shutdown was asked, or from now if
 * the server is closed without a shutdown. */
long long ss__grace_deadline_ms(const ss_server_t *srv)
{
    long long stop = atomic_load(&srv->hard_stop_at_ms);
    return stop ? stop : ss__now_ms() + srv->cfg.grace_ms;
}

/* Make every request's wait fail with -ECANCELED, in this process and in
 * forked children: the abort pipe is never drained, so it stays readable. */
void ss__server_cancel_requests(ss_server_t *srv)
{
    ssize_t w = write(srv->abort_w, "x", 1);
    (void)w;
}

/* Whether a listener has a connection (or datagram) waiting. */
static int has_queued(const ss_listener_t *l)
{
    struct pollfd p = {l->fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Wait up to 10 ms for the mode to make room: its wake descriptor (a
 * child exited, a thread finished) and housekeeping, and in the event
 * mode a pass of its loop, where coroutines finish. */
static void wait_for_room(ss_server_t *srv)
{
    int fd = srv->mode->wake_fd ? srv->mode->wake_fd(srv) : -1;
    struct pollfd p = {fd, POLLIN, 0};
    if (srv->mode->poll_wait)
        srv->mode->poll_wait(srv, &p, 1, 10);
    else
        poll(&p, 1, 10);
    if (srv->mode->service)
        srv->mode->service(srv);
}

/* Connections the kernel has already queued are taken and served before
 * the listeners go: closing them would reset those connections, and a
 * balancer that has sent its client's bytes on one cannot retry it
 * elsewhere.  Within the grace period (waiting for the mode to have room)
 * and SS_DRAIN_MAX a listener; what arrives after the last look is
 * refused, which a balancer does retry. */
static void serve_queued(ss_server_t *srv)
{
    long long until = ss__grace_deadline_ms(srv);
    for (int i = 0; i < srv->nlisteners; i++) {
        ss_listener_t *l = &srv->listeners[i];
        for (int n = 0; n < SS_DRAIN_MAX && has_queued(l); n++) {
            while (accept_blocked(srv, ss__now_ms()) && ss__now_ms() < until)
                wait_for_room(srv);
            ss_request_t *req = accept_blocked(srv, ss__now_ms())
                                    ? NULL
                                    : ss__server_take_request(srv, l);
            if (!req)
                break;
            srv->mode->process(srv, req);
        }
    }
}

void ss_server_close(ss_server_t *srv)
{
    if (!srv)
        return;
    /* Stop accepting first (threads that accept for themselves are told
     * before the listener goes), then serve what is queued.  A datagram
     * socket stays open until the last request is freed: requests still
     * running reply on it. */
    if (srv->mode->stop_accepting && srv->mode_state)
        srv->mode->stop_accepting(srv);
    if (!srv->cfg.datagram && !srv->supervises) /* a master has no mode */
        serve_queued(srv);
    if (srv->cfg.datagram)
        ss__remove_socket_files(srv);
    else
        ss__close_listeners(srv);
    if (srv->mode->close && srv->mode_state) /* a master has no mode */
        srv->mode->close(srv);
    ss__server_unref(srv);
}

const char *ss_server_address(const ss_server_t *srv)
{
    return srv->listeners[0].address;
}

int ss_server_fd(const ss_server_t *srv)
{
    return srv->listeners[0].fd;
}

int ss_server_listener_count(const ss_server_t *srv)
{
    return srv->nlisteners;
}

const char *ss_server_listener_address(const ss_server_t *srv, int i)
{
    return i >= 0 && i < srv->nlisteners ? srv->listeners[i].address : NULL;
}

int ss_server_listener_fd(const ss_server_t *srv, int i)
{
    return i >= 0 && i < srv->nlisteners ? srv->listeners[i].fd : -1;
}
void *ss_server_context(const ss_server_t *srv)
{
    return srv->cfg.context;
}
const ss_config_t *ss_server_config(const ss_server_t *srv)
{
    return &srv->cfg;
}

void ss_server_set_handler_data(ss_server_t *srv, void *data)
{
    srv->handler_data = data;
}

void *ss_server_handler_data(const ss_server_t *srv)
{
    return srv->handler_data;
}

int ss_server_handed_over(const ss_server_t *srv)
{
    return srv->handed_over;
}

int ss_server_is_multiprocess(const ss_server_t *srv)
{
    return srv->cfg.mode == SS_MODE_FORK || srv->cfg.workers > 1;
}
