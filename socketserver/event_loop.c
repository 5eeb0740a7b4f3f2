/* event_loop.c -- the event mode's scheduler: one thread, one poller,
 * a coroutine per request.
 *
 * The handler's request functions try the system call; on EAGAIN they
 * wait through the request's waiter, which here parks the coroutine: its
 * descriptors are watched by the poller, its deadline goes in a timer
 * heap, and control switches back to the scheduler.  When a descriptor
 * fires or the timer expires, the scheduler switches into the coroutine
 * again and the request function retries.
 *
 * Fairness: a coroutine that never blocks (a client that always has data)
 * is made to yield after SS_EVENT_BUDGET successful calls, so it cannot
 * starve the others. */
#include "event.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- Descriptor table -------------------------------------------------- */

static fd_slot_t *slot_for(event_state_t *st, int fd)
{
    if (fd >= st->fds_cap) {
        int cap = st->fds_cap ? st->fds_cap : 256;
        while (cap <= fd)
            cap *= 2;
        fd_slot_t *f = realloc(st->fds, (size_t)cap * sizeof(*f));
        if (!f)
            return NULL;
        memset(f + st->fds_cap, 0, (size_t)(cap - st->fds_cap) * sizeof(*f));
        st->fds = f;
        st->fds_cap = cap;
    }
    return &st->fds[fd];
}

/* Tell the poller what fd's slot wants now, if that changed. */
static int sync_mask(event_state_t *st, int fd, int want)
{
    fd_slot_t *s = &st->fds[fd];
    if (want == s->mask)
        return 0;
    int rc = st->poller->set(st->pstate, fd, s->mask, want);
    if (rc == 0)
        s->mask = want;
    return rc;
}

static int slot_wants(const fd_slot_t *s)
{
    return (s->reader || s->is_loop ? SS_READABLE : 0) |
           (s->writer ? SS_WRITABLE : 0);
}

/* ---- Timers: a binary heap on timer_at --------------------------------- */

static void heap_swap(event_state_t *st, int a, int b)
{
    ev_task_t *t = st->heap[a];
    st->heap[a] = st->heap[b];
    st->heap[b] = t;
    st->heap[a]->heap_index = a;
    st->heap[b]->heap_index = b;
}

static void heap_fix(event_state_t *st, int i)
{
    while (i > 0 && st->heap[(i - 1) / 2]->timer_at > st->heap[i]->timer_at) {
        heap_swap(st, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < st->heap_len && st->heap[l]->timer_at < st->heap[m]->timer_at)
            m = l;
        if (r < st->heap_len && st->heap[r]->timer_at < st->heap[m]->timer_at)
            m = r;
        if (m == i)
            return;
        heap_swap(st, i, m);
        i = m;
    }
}

static int timer_add(event_state_t *st, ev_task_t *t, long long at)
{
    if (st->heap_len == st->heap_cap) {
        int cap = st->heap_cap ? st->heap_cap * 2 : 64;
        ev_task_t **h = realloc(st->heap, (size_t)cap * sizeof(*h));
        if (!h)
            return -ENOMEM;
        st->heap = h;
        st->heap_cap = cap;
    }
    t->timer_at = at;
    t->heap_index = st->heap_len;
    st->heap[st->heap_len++] = t;
    heap_fix(st, t->heap_index);
    return 0;
}

static void timer_del(event_state_t *st, ev_task_t *t)
{
    int i = t->heap_index;
    if (i < 0)
        return;
    t->heap_index = -1;
    if (--st->heap_len > i) {
        st->heap[i] = st->heap[st->heap_len];
        st->heap[i]->heap_index = i;
        heap_fix(st, i);
    }
}

/* ---- Running coroutines ------------------------------------------------ */

static void make_ready(event_state_t *st, ev_task_t *t, int result)
{
    if (t->ready)
        return;
    t->ready = 1;
    t->wait_result = result;
    t->next_ready = NULL;
    if (st->ready_tail)
        st->ready_tail->next_ready = t;
    else
        st->ready_head = t;
    st->ready_tail = t;
}

static void task_main(ss_coro_t *coro)
{
    ev_task_t *t = coro->arg;
    ss__request_run(t->req);
    ss__request_free(t->req); /* closes gracefully: may wait, as a task */
    t->req = NULL;
}

static void finish_task(event_state_t *st, ev_task_t *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        st->tasks = t->next;
    if (t->next)
        t->next->prev = t->prev;
    st->live--;
    if (st->cached < SS_EVENT_STACK_CACHE)
        st->stack_cache[st->cached++] = t->coro;
    else
        ss__coro_free(t->coro);
    free(t);
}

static void run_task(event_state_t *st, ev_task_t *t)
{
    ss__coro_resume(&st->scheduler, t->coro);
    if (t->coro->done)
        finish_task(st, t);
}

/* Run the tasks that were ready when this pass began; the ones they make
 * ready run on the next pass, after the poller has had its say. */
static void run_ready(event_state_t *st)
{
    ev_task_t *t = st->ready_head;
    st->ready_head = st->ready_tail = NULL;
    while (t) {
        ev_task_t *next = t->next_ready;
        t->ready = 0;
        run_task(st, t);
        t = next;
    }
}

/* ---- Waiting, from inside a coroutine ---------------------------------- */

static int poll_mask(short events)
{
    return (events & POLLIN ? SS_READABLE : 0) |
           (events & POLLOUT ? SS_WRITABLE : 0);
}

/* Stop being a waiter on the first n of t's descriptors.  The request's
 * own connection stays watched (the next wait is likely the same, and the
 * poller call is saved); a stale readiness is dropped when it fires. */
static void unwatch(event_state_t *st, ev_task_t *t, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        int fd = t->wait_fds[i].fd;
        if (fd < 0)
            continue;
        fd_slot_t *s = &st->fds[fd];
        if (s->reader == t)
            s->reader = NULL;
        if (s->writer == t)
            s->writer = NULL;
        if (fd != t->req->fd)
            sync_mask(st, fd, slot_wants(s));
    }
}

static int watch(event_state_t *st, ev_task_t *t)
{
    for (unsigned i = 0; i < t->wait_n; i++) {
        int fd = t->wait_fds[i].fd;
        int mask = poll_mask(t->wait_fds[i].events);
        fd_slot_t *s = fd >= 0 ? slot_for(st, fd) : NULL;
        if (fd < 0 || !mask)
            continue;
        int rc = s ? 0 : -ENOMEM;
        if (s && mask & SS_READABLE)
            s->reader = t;
        if (s && mask & SS_WRITABLE)
            s->writer = t;
        if (rc == 0)
            rc = sync_mask(st, fd, s->mask | mask);
        if (rc < 0) {
            if (rc == -EMFILE)
                ss_log_peer(SS_LOG_WARN,
                            "%s: descriptor %d is beyond what "
                            "the %s poller can watch",
                            ss_peer(t->req), fd, st->poller->name);
            unwatch(st, t, i + 1);
            return rc;
        }
    }
    return 0;
}

static int event_wait(ss_request_t *req, struct pollfd *fds, unsigned nfds,
                      long long deadline_ms)
{
    ev_task_t *t = req->waiter_data;
    event_state_t *st = t->st;
    if (st->cancelled)
        return -ECANCELED;
    long long stop = atomic_load(&req->server->hard_stop_at_ms);
    long long until = !deadline_ms ? stop
                      : !stop      ? deadline_ms
                                   : (deadline_ms < stop ? deadline_ms : stop);
    t->wait_fds = fds;
    t->wait_n = nfds;
    t->budget = 0;
    int rc = watch(st, t);
    if (rc == 0 && until)
        rc = timer_add(st, t, until);
    if (rc < 0) {
        unwatch(st, t, nfds);
        return rc;
    }
    ss__coro_yield(t->coro);
    timer_del(st, t);
    unwatch(st, t, nfds);
    if (t->wait_result == -ETIMEDOUT && stop && ss__now_ms() >= stop)
        return -ECANCELED;
    return t->wait_result;
}

/* A coroutine that never blocks (a client that always has data) yields
 * after SS_EVENT_BUDGET calls, so it cannot starve the others. */
static void event_progress(ss_request_t *req)
{
    ev_task_t *t = req->waiter_data;
    if (++t->budget < SS_EVENT_BUDGET)
        return;
    t->budget = 0;
    make_ready(t->st, t, 0);
    ss__coro_yield(t->coro);
}

/* Before the library closes a descriptor a task used: forget it, or a new
 * descriptor with the same number would inherit its watch. */
static void event_forget(ss_request_t *req, int fd)
{
    event_state_t *st = ((ev_task_t *)req->waiter_data)->st;
    if (fd < 0 || fd >= st->fds_cap)
        return;
    fd_slot_t *s = &st->fds[fd];
    s->reader = s->writer = NULL;
    if (st->poller->forgets_on_close)
        s->mask = 0; /* the close that follows does it */
    else
        sync_mask(st, fd, 0);
}

/* The waiter every coroutine's request gets: request functions park the
 * coroutine here instead of blocking the thread. */
static const ss_waiter_t event_waiter = {
    .wait = event_wait,
    .progress = event_progress,
    .forget = event_forget,
};

/* ---- The scheduler ----------------------------------------------------- */

/* Hand one fired descriptor to the tasks waiting on it. */
static void dispatch_fired(event_state_t *st, const ss_fired_t *f)
{
    fd_slot_t *s = &st->fds[f->fd];
    ev_task_t *who[2] = {f->mask & SS_READABLE ? s->reader : NULL,
                         f->mask & SS_WRITABLE ? s->writer : NULL};
    if (!who[0] && !who[1] && !s->is_loop) {
        sync_mask(st, f->fd, slot_wants(s)); /* a stale watch: drop it */
        return;
    }
    for (int k = 0; k < 2; k++) {
        ev_task_t *t = who[k];
        if (!t || (k == 1 && who[0] == t))
            continue;
        int ready = 0;
        for (unsigned i = 0; i < t->wait_n; i++) {
            struct pollfd *p = &t->wait_fds[i];
            if (p->fd == f->fd)
                p->revents |= (short)(p->events &
                                      ((f->mask & SS_READABLE ? POLLIN : 0) |
                                       (f->mask & SS_WRITABLE ? POLLOUT : 0)));
            ready += p->revents != 0;
        }
        if (ready)
            make_ready(st, t, ready);
    }
}

static void expire_timers(event_state_t *st)
{
    long long now = ss__now_ms();
    while (st->heap_len > 0 && st->heap[0]->timer_at <= now) {
        ev_task_t *t = st->heap[0];
        timer_del(st, t);
        make_ready(st, t, -ETIMEDOUT);
    }
}

static int pass_timeout(event_state_t *st, int timeout_ms)
{
    if (st->ready_head)
        return 0;
    if (st->heap_len == 0)
        return timeout_ms;
    long long left = st->heap[0]->timer_at - ss__now_ms();
    if (left < 0)
        left = 0;
    return timeout_ms < 0 || left < timeout_ms ? (int)left : timeout_ms;
}

/* Watch exactly the loop's descriptors given (fd -1: none in that place). */
static int sync_loop_fds(event_state_t *st, const struct pollfd *pfd,
                         unsigned n)
{
    for (unsigned i = 0; i < SS_LOOP_FDS; i++) {
        int want = i < n ? pfd[i].fd : -1;
        int had = st->loop_fds[i];
        if (had == want)
            continue;
        if (had >= 0) {
            st->fds[had].is_loop = 0;
            sync_mask(st, had, slot_wants(&st->fds[had]));
        }
        st->loop_fds[i] = -1;
        if (want >= 0) {
            fd_slot_t *s = slot_for(st, want);
            if (!s)
                return -ENOMEM;
            s->is_loop = 1;
            int rc = sync_mask(st, want, slot_wants(s));
            if (rc < 0)
                return rc;
            st->loop_fds[i] = want;
        }
    }
    return 0;
}

int ss__event_run_pass(event_state_t *st, struct pollfd *loop, unsigned nloop,
                       int timeout_ms)
{
    int rc = sync_loop_fds(st, loop, nloop);
    if (rc < 0)
        return rc;
    int n = st->poller->wait(st->pstate, pass_timeout(st, timeout_ms),
                             st->fired, SS_EVENT_FIRED);
    if (n < 0)
        return n;
    st->backlogged = n == SS_EVENT_FIRED;
    int loop_ready = 0;
    for (unsigned i = 0; i < nloop; i++)
        loop[i].revents = 0;
    for (int i = 0; i < n; i++) {
        for (unsigned k = 0; k < nloop; k++)
            if (loop[k].fd == st->fired[i].fd) {
                loop[k].revents = POLLIN;
                loop_ready++;
            }
        dispatch_fired(st, &st->fired[i]);
    }
    expire_timers(st);
    run_ready(st);
    return loop_ready;
}

static ss_coro_t *take_stack(event_state_t *st, ev_task_t *t)
{
    if (st->cached == 0)
        return ss__coro_new(st->stack_size, task_main, t);
    ss_coro_t *coro = st->stack_cache[--st->cached];
    ss__coro_reset(coro, task_main, t);
    return coro;
}

/* Start a coroutine for req, with the event waiter installed, and run
 * it until it first waits: 0, or -ENOMEM (req untouched). */
int ss__event_spawn(event_state_t *st, ss_request_t *req)
{
    ev_task_t *t = calloc(1, sizeof(*t));
    if (t)
        t->coro = take_stack(st, t);
    if (!t || !t->coro) {
        free(t);
        return -ENOMEM;
    }
    t->req = req;
    t->st = st;
    t->heap_index = -1;
    t->next = st->tasks;
    if (st->tasks)
        st->tasks->prev = t;
    st->tasks = t;
    st->live++;
    req->waiter = &event_waiter;
    req->waiter_data = t;
    run_task(st, t);
    return 0;
}

/* Every waiting task is woken with -ECANCELED, and later waits fail at
 * once: handlers see the same error as in the other modes and return. */
void ss__event_cancel_all(event_state_t *st)
{
    st->cancelled = 1;
    for (ev_task_t *t = st->tasks; t; t = t->next) {
        timer_del(st, t);
        make_ready(st, t, -ECANCELED);
    }
}

void ss__event_drive_until(event_state_t *st, long long deadline_ms)
{
    while (st->live > 0) {
        long long left = deadline_ms - ss__now_ms();
        if (left <= 0)
            return;
        if (ss__event_run_pass(st, NULL, 0, left > 100 ? 100 : (int)left) < 0)
            return;
    }
}

void ss__event_state_free(event_state_t *st)
{
    for (int i = 0; i < st->cached; i++)
        ss__coro_free(st->stack_cache[i]);
    if (st->pstate)
        st->poller->destroy(st->pstate);
    free(st->fds);
    free(st->heap);
    free(st);
}
