/* mode_prethread.c -- a fixed pool of threads made at start (Stevens, UNP
 * ch. 30, designs 7 and 8; Apache's worker MPM inside one process).
 *
 * pool_accept "queue" (design 8): the server loop accepts and hands each
 * connection to the pool through a bounded queue.  When every thread is
 * busy and the queue is full the loop stops accepting, and clients wait in
 * the listen backlog: back-pressure instead of dropping.
 *
 * pool_accept "lock" (design 7): each pool thread accepts for itself, one
 * at a time under a mutex (no thundering herd); the loop only watches for
 * a shutdown.  Once the listener is closing, its threads serve the queue
 * too: what close takes from the listener's backlog.  Datagrams work the
 * same way in both designs. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CANCEL_WAIT_MS 1000

typedef struct pool_state {
    pthread_mutex_t lock;
    pthread_cond_t queued;   /* a request was queued, or stopping */
    pthread_cond_t finished; /* a thread finished a request */
    ss_request_t **queue;    /* ring of cap slots */
    int head, count, cap;
    int busy; /* threads running a request */
    int nthreads, started;
    pthread_t *threads;
    int stopping; /* threads leave once the queue is empty */
    int lock_design;
    pthread_mutex_t accept_lock; /* lock design: who may accept */
    int accept_closed;           /* lock design: the listener is going */
    atomic_int queue_open;       /* lock design: the loop queues now */
    int notify_r, notify_w;      /* queue design: room again */
} pool_state_t;

static void run_and_free(ss_request_t *req)
{
    ss__request_run(req);
    ss__request_free(req);
}

/* A thread took (+1) or finished (-1) a request.  Finishing one at the
 * max_conns cap wakes the loop: it may accept again. */
static void mark_busy(ss_server_t *srv, pool_state_t *st, int delta)
{
    pthread_mutex_lock(&st->lock);
    int was_full =
        srv->cfg.max_conns > 0 && st->busy + st->count >= srv->cfg.max_conns;
    st->busy += delta;
    if (delta < 0)
        pthread_cond_broadcast(&st->finished);
    pthread_mutex_unlock(&st->lock);
    if (delta < 0 && was_full) {
        ssize_t w = write(st->notify_w, "x", 1);
        (void)w;
    }
}

/* ---- Design 8: a queue fed by the server loop -------------------------- */

/* The next queued request, or NULL when the pool is stopping and the queue
 * is empty.  Taking from a full queue wakes the loop: it may accept again. */
static ss_request_t *dequeue(pool_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    while (st->count == 0 && !st->stopping)
        pthread_cond_wait(&st->queued, &st->lock);
    ss_request_t *req = NULL;
    if (st->count > 0) {
        req = st->queue[st->head];
        st->head = (st->head + 1) % st->cap;
        if (st->count-- == st->cap) {
            ssize_t w = write(st->notify_w, "x", 1);
            (void)w;
        }
        st->busy++;
    }
    pthread_mutex_unlock(&st->lock);
    return req;
}

static void queue_worker(ss_server_t *srv, pool_state_t *st)
{
    ss_request_t *req;
    while ((req = dequeue(st))) {
        run_and_free(req);
        mark_busy(srv, st, -1);
    }
}

/* ---- Design 7: each thread accepts, one at a time ---------------------- */

/* Wait until a listener has something or the server is stopping; then
 * take it, the listeners taking turns.  NULL: nothing (look again). */
static ss_request_t *poll_and_take(ss_server_t *srv)
{
    long long pause = atomic_load(&srv->accept_paused_until_ms) - ss__now_ms();
    struct pollfd pfd[SS_MAX_LISTENERS + 1];
    int n = srv->nlisteners;
    for (int i = 0; i < n; i++)
        pfd[i] =
            (struct pollfd){pause > 0 ? -1 : srv->listeners[i].fd, POLLIN, 0};
    pfd[n] = (struct pollfd){srv->wake_r, POLLIN, 0};
    if (poll(pfd, (nfds_t)n + 1, pause > 0 ? (int)pause : -1) <= 0)
        return NULL;
    return ss__take_ready(srv, pfd); /* under the accept lock */
}

/* Wait, holding the accept lock, until a listener has something or the
 * server is stopping; then take it.  NULL: nothing (look again), or the
 * pool is stopping (st->accept_closed). */
static ss_request_t *accept_locked(ss_server_t *srv, pool_state_t *st)
{
    pthread_mutex_lock(&st->accept_lock);
    ss_request_t *req = NULL;
    if (!st->accept_closed && !atomic_load(&srv->shutdown_requested))
        req = poll_and_take(srv);
    if (atomic_load(&srv->shutdown_requested))
        st->accept_closed = 1;
    pthread_mutex_unlock(&st->accept_lock);
    return req;
}

static void lock_worker(ss_server_t *srv, pool_state_t *st)
{
    for (;;) {
        ss_request_t *req = accept_locked(srv, st);
        if (req) {
            mark_busy(srv, st, 1);
            run_and_free(req);
            mark_busy(srv, st, -1);
            continue;
        }
        pthread_mutex_lock(&st->accept_lock);
        int closed = st->accept_closed;
        pthread_mutex_unlock(&st->accept_lock);
        if (closed) /* what close took from the listener comes queued */
            break;
    }
    queue_worker(srv, st);
}

static void *pool_main(void *arg)
{
    ss_server_t *srv = arg;
    pool_state_t *st = srv->mode_state;
    if (st->lock_design)
        lock_worker(srv, st);
    else
        queue_worker(srv, st);
    return NULL;
}

/* ---- The mode ---------------------------------------------------------- */

static int default_threads(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? 2 * (int)cores : 4;
}

static int start_threads(ss_server_t *srv, pool_state_t *st)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    int err = srv->cfg.thread_stack_size
                  ? pthread_attr_setstacksize(&attr, srv->cfg.thread_stack_size)
                  : 0;
    while (!err && st->started < st->nthreads) /* only started ones count */
        if (!(err = pthread_create(&st->threads[st->started], &attr, pool_main,
                                   srv)))
            st->started++;
    pthread_attr_destroy(&attr);
    return -err;
}

static int pool_open(ss_server_t *srv)
{
    pool_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    srv->mode_state = st; /* from here on, release frees what was made */
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->accept_lock, NULL);
    pthread_cond_init(&st->queued, NULL);
    pthread_cond_init(&st->finished, NULL);
    st->notify_r = st->notify_w = -1;
    st->lock_design = srv->cfg.pool_accept == SS_POOL_ACCEPT_LOCK;
    st->nthreads =
        srv->cfg.pool_threads > 0 ? srv->cfg.pool_threads : default_threads();
    if (st->lock_design && srv->cfg.max_conns > 0 &&
        st->nthreads > srv->cfg.max_conns)
        st->nthreads = srv->cfg.max_conns; /* each thread holds at most one */
    st->cap = st->nthreads;
    st->queue = calloc((size_t)st->cap, sizeof(*st->queue));
    st->threads = calloc((size_t)st->nthreads, sizeof(*st->threads));
    if (!st->queue || !st->threads)
        return -ENOMEM;
    int rc = ss__make_pipe(&st->notify_r, &st->notify_w);
    return rc < 0 ? rc : start_threads(srv, st);
}

/* Queue design: room in the queue, and under max_conns.  Lock design:
 * the loop never accepts (the pool has max_conns threads at most). */
static int pool_has_room(ss_server_t *srv)
{
    pool_state_t *st = srv->mode_state;
    if (st->lock_design && !atomic_load(&st->queue_open))
        return 0;
    pthread_mutex_lock(&st->lock);
    int room =
        st->count < st->cap &&
        (srv->cfg.max_conns <= 0 || st->busy + st->count < srv->cfg.max_conns);
    pthread_mutex_unlock(&st->lock);
    return room;
}

static void pool_process(ss_server_t *srv, ss_request_t *req)
{
    pool_state_t *st = srv->mode_state;
    pthread_mutex_lock(&st->lock);
    int full = st->count == st->cap; /* has_room said no: a bug */
    if (!full) {
        st->queue[(st->head + st->count++) % st->cap] = req;
        pthread_cond_signal(&st->queued);
    }
    pthread_mutex_unlock(&st->lock);
    if (full) {
        ss_log_peer(SS_LOG_ERROR, "pool queue full; shedding %s", ss_peer(req));
        ss__request_drop(req);
    }
}

static int pool_wake_fd(ss_server_t *srv)
{
    return ((pool_state_t *)srv->mode_state)->notify_r;
}

static void pool_service(ss_server_t *srv)
{
    char buf[64];
    while (read(((pool_state_t *)srv->mode_state)->notify_r, buf, sizeof(buf)) >
           0) {
    }
}

/* Lock design: no thread may be in poll or accept on the listener when it
 * is closed.  The shutdown wakes the one that holds the accept lock;
 * taking the lock after it proves it has let go. */
static void pool_stop_accepting(ss_server_t *srv)
{
    pool_state_t *st = srv->mode_state;
    if (!st->lock_design)
        return;
    ss_server_shutdown(srv);
    pthread_mutex_lock(&st->accept_lock);
    st->accept_closed = 1;
    pthread_mutex_unlock(&st->accept_lock);
    atomic_store(&st->queue_open, 1); /* close may queue what is left */
}

/* Wait until no request is queued or running, or deadline_ms: 0 or -1. */
static int wait_idle(pool_state_t *st, long long deadline_ms)
{
    pthread_mutex_lock(&st->lock);
    while (st->busy + st->count > 0 && ss__now_ms() < deadline_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&st->finished, &st->lock, &ts);
    }
    int idle = st->busy + st->count == 0;
    pthread_mutex_unlock(&st->lock);
    return idle ? 0 : -1;
}

/* Let the queued and running requests finish within the grace period,
 * cancel the rest, then end the threads.  A thread stuck in a handler that
 * ignores the cancel is detached (it keeps its server reference). */
static void pool_close(ss_server_t *srv)
{
    pool_state_t *st = srv->mode_state;
    long long deadline =
        srv->cfg.block_on_close ? ss__grace_deadline_ms(srv) : ss__now_ms();
    if (wait_idle(st, deadline) < 0) {
        ss_log(SS_LOG_INFO, "pool: requests still running after the grace "
                            "period; cancelling");
        ss__server_cancel_requests(srv);
        wait_idle(st, ss__now_ms() + CANCEL_WAIT_MS);
    }
    pthread_mutex_lock(&st->lock);
    st->stopping = 1;
    pthread_cond_broadcast(&st->queued);
    int stuck = st->busy;
    pthread_mutex_unlock(&st->lock);
    for (int i = 0; i < st->started; i++)
        if (stuck == 0)
            pthread_join(st->threads[i], NULL);
        else
            pthread_detach(st->threads[i]);
    if (stuck)
        ss_log(SS_LOG_WARN,
               "pool: %d threads ignore cancellation; detaching "
               "the pool",
               stuck);
    st->started = stuck ? -1 : 0; /* release must not free what they use */
}

static void pool_release(ss_server_t *srv)
{
    pool_state_t *st = srv->mode_state;
    if (st->started > 0) { /* create failed part way: end what started */
        pthread_mutex_lock(&st->lock);
        st->stopping = 1;
        pthread_cond_broadcast(&st->queued);
        pthread_mutex_unlock(&st->lock);
        pool_stop_accepting(srv); /* wakes the accepting thread first */
        for (int i = 0; i < st->started; i++)
            pthread_join(st->threads[i], NULL);
    }
    if (st->started < 0)
        return; /* detached threads still use it: leave it be */
    if (st->notify_r >= 0) {
        close(st->notify_r);
        close(st->notify_w);
    }
    pthread_cond_destroy(&st->queued);
    pthread_cond_destroy(&st->finished);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->accept_lock);
    free(st->queue);
    free(st->threads);
    free(st);
    srv->mode_state = NULL;
}

const ss_mode_t ss__mode_prethread = {
    .open = pool_open,
    .has_room = pool_has_room,
    .process = pool_process,
    .wake_fd = pool_wake_fd,
    .service = pool_service,
    .stop_accepting = pool_stop_accepting,
    .close = pool_close,
    .release = pool_release,
};
