/* mode_thread.c -- a thread per connection (per datagram for UDP), as
 * Python's ThreadingMixIn, with the fixes its bug tracker asked for: live
 * threads are capped, finished ones are joined by the server loop so
 * nothing accumulates (bpo-37193), and close joins them (bpo-31233) or, with
 * block_on_close off, leaves them detached.  At the cap the server stops
 * accepting; the thread that frees a slot wakes it through a pipe. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CANCEL_WAIT_MS                                                         \
    1000 /* after cancelling, before giving up on a thread                     \
          */

typedef struct thread_job {
    pthread_t tid;
    ss_server_t *srv;
    ss_request_t *req;
    int detached; /* the thread frees its own job */
    struct thread_job *prev, *next;
} thread_job_t;

typedef struct thread_state {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a thread finished */
    pthread_attr_t attr;
    int live;
    int notify_r, notify_w; /* a slot came free in a full pool */
    thread_job_t *running;  /* live threads */
    thread_job_t *finished; /* exited, waiting for pthread_join */
} thread_state_t;

static int thread_open(ss_server_t *srv)
{
    thread_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->changed, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&st->lock, NULL);
    pthread_attr_init(&st->attr);
    st->notify_r = st->notify_w = -1;
    srv->mode_state = st; /* from here on, release frees what was made */
    int rc = ss__make_pipe(&st->notify_r, &st->notify_w);
    if (rc < 0)
        return rc;
    if (srv->cfg.thread_stack_size) {
        int err =
            pthread_attr_setstacksize(&st->attr, srv->cfg.thread_stack_size);
        if (err)
            return -err; /* below PTHREAD_STACK_MIN */
    }
    if (!srv->cfg.block_on_close)
        pthread_attr_setdetachstate(&st->attr, PTHREAD_CREATE_DETACHED);
    return 0;
}

static void unlink_job(thread_state_t *st, thread_job_t *job)
{
    if (job->prev)
        job->prev->next = job->next;
    else
        st->running = job->next;
    if (job->next)
        job->next->prev = job->prev;
}

static void *thread_main(void *arg)
{
    thread_job_t *job = arg;
    ss_server_t *srv = job->srv;
    thread_state_t *st = srv->mode_state;
    ss__request_run(job->req);
    ss__request_free(job->req);

    pthread_mutex_lock(&st->lock);
    unlink_job(st, job);
    if (st->live-- == srv->cfg.max_threads) {
        ssize_t w = write(st->notify_w, "x", 1); /* the loop may accept again */
        (void)w;
    }
    int detached = job->detached;
    if (!detached) {
        job->next = st->finished;
        st->finished = job;
    }
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    if (detached)
        free(job);
    ss__server_unref(srv); /* the job's reference: may free the server */
    return NULL;
}

/* Join the threads that have finished; each join returns at once. */
static void join_finished(thread_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    thread_job_t *job = st->finished;
    st->finished = NULL;
    pthread_mutex_unlock(&st->lock);
    while (job) {
        thread_job_t *next = job->next;
        pthread_join(job->tid, NULL);
        free(job);
        job = next;
    }
}

static struct timespec abs_time_ms(long long ms_from_now)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms_from_now / 1000;
    ts.tv_nsec += (ms_from_now % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* Wait with the lock held until live <= limit or deadline_ms passes.
 * Returns 0 or -ETIMEDOUT. */
static int wait_live_at_most(thread_state_t *st, int limit,
                             long long deadline_ms)
{
    while (st->live > limit) {
        long long left = deadline_ms - ss__now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct timespec ts = abs_time_ms(left);
        pthread_cond_timedwait(&st->changed, &st->lock, &ts);
    }
    return 0;
}

static void shed(ss_request_t *req, const char *why, const char *detail)
{
    ss_log_peer(SS_LOG_ERROR, "%s%s; shedding %s", why, detail, ss_peer(req));
    ss__request_drop(req);
}

static int thread_has_room(ss_server_t *srv)
{
    thread_state_t *st = srv->mode_state;
    pthread_mutex_lock(&st->lock);
    int room = st->live < srv->cfg.max_threads;
    pthread_mutex_unlock(&st->lock);
    return room;
}

/* Start a thread for req.  The loop asked has_room first, and only this
 * thread adds threads, so there is room. */
static void thread_process(ss_server_t *srv, ss_request_t *req)
{
    thread_state_t *st = srv->mode_state;
    join_finished(st);
    thread_job_t *job = calloc(1, sizeof(*job));
    if (!job) {
        shed(req, "out of memory", "");
        return;
    }
    job->srv = srv;
    job->req = req;
    job->detached = !srv->cfg.block_on_close;

    pthread_mutex_lock(&st->lock);
    st->live++;
    job->next = st->running;
    if (st->running)
        st->running->prev = job;
    st->running = job;
    ss__server_ref(srv);
    pthread_mutex_unlock(&st->lock);

    /* Into a local: a detached thread may have freed its job before
     * pthread_create returns (some libcs store the id only then). */
    pthread_t tid;
    int rc = pthread_create(&tid, &st->attr, thread_main, job);
    if (rc == 0) {
        if (!srv->cfg.block_on_close)
            return;
        pthread_mutex_lock(&st->lock); /* close may read it to detach */
        job->tid = tid;
        pthread_mutex_unlock(&st->lock);
        return;
    }
    pthread_mutex_lock(&st->lock);
    unlink_job(st, job);
    st->live--;
    pthread_mutex_unlock(&st->lock);
    free(job);
    ss__server_unref(srv);
    shed(req, "pthread_create: ", strerror(rc));
}

static int thread_wake_fd(ss_server_t *srv)
{
    return ((thread_state_t *)srv->mode_state)->notify_r;
}

static void thread_service(ss_server_t *srv)
{
    thread_state_t *st = srv->mode_state;
    char buf[64];
    while (read(st->notify_r, buf, sizeof(buf)) > 0) {
    }
    join_finished(st);
}

/* Threads that outlive the cancel are detached: they hold a reference to
 * the server, so the last of them frees it. */
static void detach_stragglers(thread_state_t *st)
{
    for (thread_job_t *job = st->running; job; job = job->next) {
        pthread_detach(job->tid);
        job->detached = 1;
    }
}

static void thread_close(ss_server_t *srv)
{
    thread_state_t *st = srv->mode_state;
    if (!srv->cfg.block_on_close)
        return; /* detached threads; each frees itself */
    pthread_mutex_lock(&st->lock);
    int rc = wait_live_at_most(st, 0, ss__grace_deadline_ms(srv));
    if (rc < 0) {
        ss_log(SS_LOG_INFO,
               "%d threads still running after the grace "
               "period; cancelling",
               st->live);
        ss__server_cancel_requests(srv);
        rc = wait_live_at_most(st, 0, ss__now_ms() + CANCEL_WAIT_MS);
    }
    if (rc < 0) {
        ss_log(SS_LOG_WARN, "%d threads ignore cancellation; detaching them",
               st->live);
        detach_stragglers(st);
    }
    pthread_mutex_unlock(&st->lock);
    join_finished(st);
}

static void thread_release(ss_server_t *srv)
{
    thread_state_t *st = srv->mode_state;
    join_finished(st);
    if (st->notify_r >= 0) {
        close(st->notify_r);
        close(st->notify_w);
    }
    pthread_attr_destroy(&st->attr);
    pthread_cond_destroy(&st->changed);
    pthread_mutex_destroy(&st->lock);
    free(st);
    srv->mode_state = NULL;
}

const ss_mode_t ss__mode_thread = {
    .open = thread_open,
    .has_room = thread_has_room,
    .process = thread_process,
    .wake_fd = thread_wake_fd,
    .service = thread_service,
    .close = thread_close,
    .release = thread_release,
};
