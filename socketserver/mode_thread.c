/* mode_thread.c -- a thread per connection (per datagram for UDP), as
 * Python's ThreadingMixIn, with the fixes its bug tracker asked for: live
 * threads are capped, finished ones are joined by the server loop so
 * nothing accumulates (bpo-37193), and close joins them (bpo-31233) or, with
 * block_on_close off, leaves those still serving detached.  At the cap the
 * server stops accepting; the thread that frees a slot wakes it through a
 * pipe.
 *
 * A thread that has served its connection parks (a cached thread pool, as
 * Java's newCachedThreadPool): the next connection is handed to it instead
 * of paying for pthread_create, and a burst of short connections reuses a
 * few threads.  At most idle_threads park, each for thread_idle_ms; then it
 * retires and the loop joins it.  Parked threads are not live: the cap and
 * has_room count only threads with a connection, exactly as before. */
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

typedef struct thread_job { /* one thread, over the connections it serves */
    pthread_t tid;
    ss_server_t *srv;
    ss_request_t *req;     /* the connection to serve; NULL while parked */
    pthread_cond_t handed; /* wakes this thread, parked: a req, or close */
    int detached;          /* the thread frees its own job */
    struct thread_job *prev, *next; /* in running or idle; finished: next */
} thread_job_t;

typedef struct thread_state {
    pthread_mutex_t lock;
    pthread_cond_t changed;       /* a thread finished or left the idle list */
    pthread_condattr_t cond_attr; /* monotonic, for each job's cond */
    pthread_attr_t attr;
    int live;    /* threads serving a connection: what the cap counts */
    int nidle;   /* parked threads */
    int closing; /* close has begun: no thread parks any more */
    int notify_r, notify_w; /* a slot came free in a full pool, or a parked
                               thread retired and wants joining */
    thread_job_t *running;  /* live threads */
    thread_job_t *idle;     /* parked, the latest first */
    thread_job_t *finished; /* exited, waiting for pthread_join */
} thread_state_t;

static int thread_open(ss_server_t *srv)
{
    thread_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    pthread_condattr_init(&st->cond_attr);
    pthread_condattr_setclock(&st->cond_attr, CLOCK_MONOTONIC);
    pthread_cond_init(&st->changed, &st->cond_attr);
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
    return 0;
}

/* The running and idle lists are doubly linked (a job leaves from the
 * middle); finished is a stack through next. */
static void push_job(thread_job_t **head, thread_job_t *job)
{
    job->prev = NULL;
    job->next = *head;
    if (*head)
        (*head)->prev = job;
    *head = job;
}

static void unlink_job(thread_job_t **head, thread_job_t *job)
{
    if (job->prev)
        job->prev->next = job->next;
    else
        *head = job->next;
    if (job->next)
        job->next->prev = job->prev;
    job->prev = job->next = NULL;
}

static void notify_loop(thread_state_t *st)
{
    ssize_t w = write(st->notify_w, "x", 1);
    (void)w; /* full: the loop has a wake-up pending anyway */
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

/* With the lock held, after a connection is done: wait parked for the
 * next one.  Returns it (the hand-off took this job off the idle list and
 * counted it live), or NULL: retire (no room to park, idle too long, or
 * the server closing). */
static ss_request_t *park(ss_server_t *srv, thread_state_t *st,
                          thread_job_t *job)
{
    if (st->closing || job->detached || st->nidle >= srv->cfg.idle_threads)
        return NULL;
    job->req = NULL;
    push_job(&st->idle, job);
    st->nidle++;
    struct timespec until = abs_time_ms(srv->cfg.thread_idle_ms);
    while (!job->req && !st->closing) /* a spurious wake-up waits on */
        if (pthread_cond_timedwait(&job->handed, &st->lock, &until) ==
            ETIMEDOUT)
            break;
    if (job->req) /* even when the time ran out as it came: serve it */
        return job->req;
    unlink_job(&st->idle, job);
    st->nidle--;
    if (!st->closing && !job->detached)
        notify_loop(st); /* join me now, not at the next connection */
    return NULL;
}

/* With the lock held: a connection is done; wake the loop if it was
 * waiting for a slot. */
static void request_done(ss_server_t *srv, thread_state_t *st,
                         thread_job_t *job)
{
    unlink_job(&st->running, job);
    if (st->live-- == srv->cfg.max_threads)
        notify_loop(st); /* the loop may accept again */
    pthread_cond_broadcast(&st->changed);
}

static void *thread_main(void *arg)
{
    thread_job_t *job = arg;
    ss_server_t *srv = job->srv;
    thread_state_t *st = srv->mode_state;
    pthread_mutex_lock(&st->lock);
    ss_request_t *req = job->req;
    do {
        pthread_mutex_unlock(&st->lock);
        ss__request_run(req);
        ss__request_free(req);
        pthread_mutex_lock(&st->lock);
        request_done(srv, st, job);
    } while ((req = park(srv, st, job)));
    int detached = job->detached;
    if (!detached) {
        job->next = st->finished;
        st->finished = job;
    }
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    if (detached) {
        pthread_cond_destroy(&job->handed);
        free(job);
    }
    ss__server_unref(srv); /* the thread's reference: may free the server */
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
        pthread_cond_destroy(&job->handed);
        free(job);
        job = next;
    }
}

/* Wait with the lock held until *count (live or nidle) is 0, or
 * deadline_ms passes.  Returns 0 or -ETIMEDOUT. */
static int wait_none(thread_state_t *st, const int *count,
                     long long deadline_ms)
{
    while (*count > 0) {
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

/* With the lock held: req goes to the parked thread that parked last (its
 * stack is the warmest; the ones below it retire first when the load
 * drops).  It is off the idle list and live before it wakes, so nothing
 * else can hand it a second connection or count it parked.  0: none. */
static int hand_to_parked(thread_state_t *st, ss_request_t *req)
{
    thread_job_t *job = st->idle;
    if (!job)
        return 0;
    unlink_job(&st->idle, job);
    st->nidle--;
    job->req = req;
    st->live++;
    push_job(&st->running, job);
    /* Signalled under the lock: once it is let go the thread may serve,
     * retire and free its job. */
    pthread_cond_signal(&job->handed);
    return 1;
}

/* A new thread for req, or shed req when none can be made. */
static void start_thread(ss_server_t *srv, thread_state_t *st,
                         ss_request_t *req)
{
    thread_job_t *job = calloc(1, sizeof(*job));
    if (!job) {
        shed(req, "out of memory", "");
        return;
    }
    job->srv = srv;
    job->req = req;
    pthread_cond_init(&job->handed, &st->cond_attr);

    pthread_mutex_lock(&st->lock);
    st->live++;
    push_job(&st->running, job);
    ss__server_ref(srv); /* the thread's, for its whole life */
    pthread_mutex_unlock(&st->lock);

    /* Into a local: the thread may run before pthread_create returns
     * (some libcs store the id only then). */
    pthread_t tid;
    int rc = pthread_create(&tid, &st->attr, thread_main, job);
    if (rc == 0) {
        pthread_mutex_lock(&st->lock); /* close may read it to detach */
        job->tid = tid;
        pthread_mutex_unlock(&st->lock);
        return;
    }
    pthread_mutex_lock(&st->lock);
    unlink_job(&st->running, job);
    st->live--;
    pthread_mutex_unlock(&st->lock);
    pthread_cond_destroy(&job->handed);
    free(job);
    ss__server_unref(srv);
    shed(req, "pthread_create: ", strerror(rc));
}

/* Serve req on a parked thread, or else on a new one.  The loop asked
 * has_room first, and only this thread adds to live, so there is room. */
static void thread_process(ss_server_t *srv, ss_request_t *req)
{
    thread_state_t *st = srv->mode_state;
    join_finished(st);
    pthread_mutex_lock(&st->lock);
    int handed = hand_to_parked(st, req);
    pthread_mutex_unlock(&st->lock);
    if (!handed)
        start_thread(srv, st, req);
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

/* With the lock held: threads that run on past close are detached: they
 * hold a reference to the server, so the last of them frees it. */
static void detach_all(thread_job_t *list)
{
    for (thread_job_t *job = list; job; job = job->next) {
        pthread_detach(job->tid);
        job->detached = 1;
    }
}

/* With the lock held: no thread parks from now on, and the parked ones
 * leave (to the finished list, for close to join). */
static void wake_parked(thread_state_t *st)
{
    st->closing = 1;
    for (thread_job_t *job = st->idle; job; job = job->next)
        pthread_cond_signal(&job->handed);
}

/* block_on_close: wait for the threads serving, up to the grace period,
 * then cancel them; what is left after that is detached.  A thread that
 * finishes meanwhile does not park: it is on the finished list by the
 * time live counts it gone (one hold of the lock). */
static void wait_or_detach(ss_server_t *srv, thread_state_t *st)
{
    int rc = wait_none(st, &st->live, ss__grace_deadline_ms(srv));
    if (rc < 0) {
        ss_log(SS_LOG_INFO,
               "%d threads still running after the grace "
               "period; cancelling",
               st->live);
        ss__server_cancel_requests(srv);
        rc = wait_none(st, &st->live, ss__now_ms() + CANCEL_WAIT_MS);
    }
    if (rc < 0) {
        ss_log(SS_LOG_WARN, "%d threads ignore cancellation; detaching them",
               st->live);
        detach_all(st->running);
    }
}

/* Parked threads are woken and joined in either case, so none outlives
 * close with nothing to do.  Without block_on_close the threads serving
 * run on detached (each frees itself). */
static void thread_close(ss_server_t *srv)
{
    thread_state_t *st = srv->mode_state;
    pthread_mutex_lock(&st->lock);
    wake_parked(st);
    if (wait_none(st, &st->nidle, ss__now_ms() + CANCEL_WAIT_MS) < 0)
        detach_all(st->idle); /* never seen: a woken thread leaves at once */
    if (srv->cfg.block_on_close)
        wait_or_detach(srv, st);
    else
        detach_all(st->running);
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
    pthread_condattr_destroy(&st->cond_attr);
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
