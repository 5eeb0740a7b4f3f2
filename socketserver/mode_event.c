/* mode_event.c -- one thread, one poller, many connections: each request
 * runs its handler, unchanged, in a coroutine.
 *
 * The handler's request functions try the system call; on EAGAIN they call
 * ss__wait, which here parks the coroutine: its descriptors are watched by
 * the poller, its deadline goes in a timer heap, and the loop switches back
 * to the scheduler.  When a descriptor fires or the timer expires, the
 * scheduler switches into the coroutine again and the request function
 * retries.  The server loop is the usual one: this mode only supplies its
 * poll_wait, which polls the loop's own descriptors (wake pipe, listener)
 * together with every coroutine's, and runs the coroutines that are ready.
 *
 * Fairness: a coroutine that never blocks (a client that always has data)
 * is made to yield after SS_EVENT_BUDGET successful calls, so it cannot
 * starve the others. */
#include "internal.h"

#include "coro.h"
#include "poller.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define SS_EVENT_BUDGET 32         /* calls before a forced yield */
#define SS_EVENT_FIRED 256         /* events taken per poller wait */
#define SS_EVENT_STACK_CACHE 64    /* idle coroutine stacks kept */
#define SS_DEFAULT_CORO_STACK (64 * 1024)
#define CANCEL_WAIT_MS 1000

typedef struct event_state event_state_t;

typedef struct ev_task {
    ss_coro_t *coro;
    ss_request_t *req;
    event_state_t *st;
    struct pollfd *wait_fds; /* the current wait's descriptors */
    unsigned wait_n;
    int wait_result;         /* >0 ready, -ETIMEDOUT, -ECANCELED */
    long long timer_at;      /* 0: no timer */
    int heap_index;          /* -1: not in the heap */
    int ready;               /* queued to run */
    int budget;
    struct ev_task *next_ready;
    struct ev_task *prev, *next; /* every live task */
} ev_task_t;

typedef struct fd_slot {
    ev_task_t *reader, *writer;
    int mask;    /* what the poller watches */
    int is_loop; /* one of the server loop's own descriptors */
} fd_slot_t;

struct event_state {
    const ss_poller_ops_t *poller;
    void *pstate;
    fd_slot_t *fds;
    int fds_cap;
    ss_fired_t fired[SS_EVENT_FIRED];
    ev_task_t **heap; /* timers, earliest first */
    int heap_len, heap_cap;
    ev_task_t *ready_head, *ready_tail;
    ev_task_t *tasks;
    int live;
    int cancelled; /* past the grace period: every wait fails */
    int loop_fds[4]; /* the server loop's: wake, listener, mode, parent */
    ss_coro_ctx_t scheduler;
    ss_coro_t *stack_cache[SS_EVENT_STACK_CACHE];
    int cached;
    size_t stack_size;
};

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
                ss_log_peer(SS_LOG_WARN, "%s: descriptor %d is beyond what "
                            "the %s poller can watch", ss_peer(t->req),
                            fd, st->poller->name);
            unwatch(st, t, i + 1);
            return rc;
        }
    }
    return 0;
}

int ss__event_wait(ss_request_t *req, struct pollfd *fds, unsigned nfds,
                   long long deadline_ms)
{
    ev_task_t *t = req->task;
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

void ss__event_maybe_yield(ss_request_t *req)
{
    ev_task_t *t = req->task;
    if (++t->budget < SS_EVENT_BUDGET)
        return;
    t->budget = 0;
    make_ready(t->st, t, 0);
    ss__coro_yield(t->coro);
}

/* Before the library closes a descriptor a task used: forget it, or a new
 * descriptor with the same number would inherit its watch. */
void ss__event_forget(ss_request_t *req, int fd)
{
    event_state_t *st = ((ev_task_t *)req->task)->st;
    if (fd < 0 || fd >= st->fds_cap)
        return;
    fd_slot_t *s = &st->fds[fd];
    s->reader = s->writer = NULL;
    if (st->poller->forgets_on_close)
        s->mask = 0; /* the close that follows does it */
    else
        sync_mask(st, fd, 0);
}

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
                p->revents |= (short)(p->events & ((f->mask & SS_READABLE
                                                        ? POLLIN : 0) |
                                                   (f->mask & SS_WRITABLE
                                                        ? POLLOUT : 0)));
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
    for (unsigned i = 0; i < 4; i++) {
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

/* One pass of the event loop: wait for descriptors and timers (at most
 * timeout_ms), wake their tasks, run what is ready.  Fills the revents of
 * the loop's own descriptors and returns how many fired. */
static int run_pass(event_state_t *st, struct pollfd *loop, unsigned nloop,
                    int timeout_ms)
{
    int rc = sync_loop_fds(st, loop, nloop);
    if (rc < 0)
        return rc;
    int n = st->poller->wait(st->pstate, pass_timeout(st, timeout_ms),
                             st->fired, SS_EVENT_FIRED);
    if (n < 0)
        return n;
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
    return run_pass(srv->mode_state, pfd, n, timeout_ms);
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
        ss_log(SS_LOG_INFO, "event mode: descriptor limit raised from %lu to "
               "%lu", (unsigned long)was, (unsigned long)rl.rlim_max);
    else
        ss_log(SS_LOG_WARN, "event mode: descriptor limit stays at %lu "
               "(setrlimit: %s)", (unsigned long)was, strerror(errno));
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
    for (int i = 0; i < 4; i++)
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

static ss_coro_t *take_stack(event_state_t *st, ev_task_t *t)
{
    if (st->cached == 0)
        return ss__coro_new(st->stack_size, task_main, t);
    ss_coro_t *coro = st->stack_cache[--st->cached];
    ss__coro_reset(coro, task_main, t);
    return coro;
}

/* Start a coroutine for req and run it until it first waits. */
static void event_process(ss_server_t *srv, ss_request_t *req)
{
    event_state_t *st = srv->mode_state;
    ev_task_t *t = calloc(1, sizeof(*t));
    if (t)
        t->coro = take_stack(st, t);
    if (!t || !t->coro) {
        free(t);
        ss_log_peer(SS_LOG_ERROR, "no memory for a coroutine; shedding %s",
                    ss_peer(req));
        ss__request_drop(req);
        return;
    }
    t->req = req;
    t->st = st;
    t->heap_index = -1;
    t->next = st->tasks;
    if (st->tasks)
        st->tasks->prev = t;
    st->tasks = t;
    st->live++;
    req->task = t;
    run_task(st, t);
}

/* Every waiting task is woken with -ECANCELED, and later waits fail at
 * once: handlers see the same error as in the other modes and return. */
static void cancel_all(event_state_t *st)
{
    st->cancelled = 1;
    for (ev_task_t *t = st->tasks; t; t = t->next) {
        timer_del(st, t);
        make_ready(st, t, -ECANCELED);
    }
}

static void drive_until(event_state_t *st, long long deadline_ms)
{
    while (st->live > 0) {
        long long left = deadline_ms - ss__now_ms();
        if (left <= 0)
            return;
        if (run_pass(st, NULL, 0, left > 100 ? 100 : (int)left) < 0)
            return;
    }
}

/* After serve_forever: the loop must keep running for the requests still
 * in flight, at most the grace period; then they are cancelled. */
static void event_close(ss_server_t *srv)
{
    event_state_t *st = srv->mode_state;
    long long deadline = srv->cfg.block_on_close ? ss__grace_deadline_ms(srv)
                                                 : ss__now_ms();
    drive_until(st, deadline);
    if (st->live == 0)
        return;
    ss_log(SS_LOG_INFO, "%d connections still open after the grace period; "
           "cancelling", st->live);
    cancel_all(st);
    drive_until(st, ss__now_ms() + CANCEL_WAIT_MS);
    if (st->live > 0)
        ss_log(SS_LOG_ERROR, "%d coroutines ignore cancellation; leaking them",
               st->live);
}

static void event_release(ss_server_t *srv)
{
    event_state_t *st = srv->mode_state;
    for (int i = 0; i < st->cached; i++)
        ss__coro_free(st->stack_cache[i]);
    if (st->pstate)
        st->poller->destroy(st->pstate);
    free(st->fds);
    free(st->heap);
    free(st);
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
