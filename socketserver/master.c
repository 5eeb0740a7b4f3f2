/* master.c -- pre-forked worker processes under a supervising master
 * (gunicorn's arbiter, Apache's prefork, nginx's master, in small).
 *
 * The master binds, forks the workers and supervises them; each worker
 * runs the server loop in the configured mode.  Nothing here takes a signal
 * in the master: the application maps its signals to ss_server_shutdown,
 * ss_server_stop_now, ss_server_reload, ss_server_add_workers and
 * ss_server_report, each of which only sets a flag and wakes the master.
 *
 * Lifelines instead of SIGCHLD: each worker holds the write end of a pipe
 * of its own, never written; when it exits for any reason, kill -9
 * included, the kernel closes it and the master's poll sees the hangup at
 * once.  The other way round, every worker watches a pipe whose write end
 * only the master holds, and stops when the master is gone.
 *
 * Heartbeat: each worker's loop stamps its slot in shared memory on every
 * pass (at least once a second); a worker silent for worker_timeout_ms is
 * stuck in a handler, and is killed (SIGABRT, then SIGKILL) and replaced. */

/* MAP_ANONYMOUS (shared memory for the slots) is not in POSIX.1-2008;
 * glibc hides it in strict mode.  See coro.c. */
#define _DEFAULT_SOURCE
#include "workers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BOOT_FAILURES_MAX 5 /* in a row, then the master gives up */
#define KILL_AFTER_MS 1000  /* a told worker that lingers past its grace */
#define PASS_MS 250         /* the master looks around at least this often */

static int master_serve(ss_server_t *srv);

/* ---- Preparing (in ss_server_create) ----------------------------------- */

static int init_accept_lock(pthread_mutex_t *lock)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    /* A worker killed while holding it must not freeze the others. */
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(lock, &a);
    pthread_mutexattr_destroy(&a);
    return -rc;
}

static void master_free(ss_server_t *srv)
{
    ss_master_t *m = srv->process;
    for (int i = 0; i < SS_MAX_WORKERS; i++) {
        if (m->workers[i].pid) {
            close(m->workers[i].lifeline);
            ss__close_fd(&m->workers[i].channel);
        }
        ss__reuseport_close(srv, m, i);
    }
    ss__close_fd(&m->alive_r);
    ss__close_fd(&m->alive_w);
    ss__close_fd(&m->ready_w);
    ss__close_fd(&m->successor_r);
    if (m->shared)
        munmap(m->shared, sizeof(ss_shared_t));
    free(m);
    srv->process = NULL;
}

/* Make srv a master: shared memory for the slots, its state, the accept
 * lock and its lifeline; then its hooks, so that serve_forever
 * supervises instead of serving. */
int ss__master_prepare(ss_server_t *srv, char *err, size_t errlen)
{
    ss_master_t *m = calloc(1, sizeof(*m));
    if (!m)
        return ss__fail(err, errlen, -ENOMEM, "workers: out of memory");
    m->alive_r = m->alive_w = m->successor_r = -1;
    m->ready_w = ss__upgrade_take_ready_fd();
    for (int i = 0; i < SS_MAX_WORKERS; i++)
        for (int l = 0; l < SS_MAX_LISTENERS; l++)
            m->sock_fd[i][l] = -1;
    srv->process = m;
    srv->supervises = 1;
    srv->hooks.serve = master_serve;
    srv->hooks.release = master_free; /* from here on, frees what was made */
    void *shared = mmap(NULL, sizeof(ss_shared_t), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return ss__fail(err, errlen, -errno, "workers: mmap: %s",
                        strerror(errno));
    m->shared = shared;
    m->target = srv->cfg.workers;
    m->reuseport = srv->cfg.accept == SS_ACCEPT_REUSEPORT;
    m->pass = srv->cfg.accept == SS_ACCEPT_PASS;
    int rc = init_accept_lock(&m->shared->accept_lock);
    if (rc < 0)
        return ss__fail(err, errlen, rc, "workers: pthread_mutex_init: %s",
                        strerror(-rc));
    rc = ss__make_pipe(&m->alive_r, &m->alive_w);
    if (rc < 0)
        return ss__fail(err, errlen, rc, "workers: pipe: %s", strerror(-rc));
    return 0;
}

/* accept "pass": the worker takes connections from its channel only. */
static void take_from_channel(ss_server_t *srv, int channel)
{
    for (int l = 0; l < srv->nlisteners; l++)
        ss__close_fd(&srv->listeners[l].fd);
    ss__set_nonblocking_cloexec(channel); /* the loop polls, never blocks */
    srv->listeners[0].fd = channel;
    srv->nlisteners = 1;
    srv->passed = 1;
}

/* In the new child: let go of the master's state (every other worker's
 * lifeline and channel, the sockets that are not this worker's), point
 * the listeners at what this worker takes connections from, and become
 * the worker.  Never returns. */
static void become_worker(ss_server_t *srv, int slot, int sock, int channel)
{
    ss_master_t *m = srv->process;
    ss__reuseport_keep(srv, m, sock);
    if (channel >= 0) /* accept "pass": connections come from the master */
        take_from_channel(srv, channel);
    for (int i = 0; i < SS_MAX_WORKERS; i++)
        if (m->workers[i].pid) {
            close(m->workers[i].lifeline);
            ss__close_fd(&m->workers[i].channel);
        }
    close(m->alive_w);
    ss__close_fd(&m->ready_w);
    ss__close_fd(&m->successor_r);
    ss_worker_start_t start = {m->shared, slot, m->alive_r};
    free(m);
    srv->process = NULL;
    srv->supervises = 0;
    srv->cfg.on_ready = NULL; /* readiness is the master's to tell */
    srv->hooks = (ss_loop_hooks_t){.watch_fd = -1};
    ss__worker_run(srv, &start);
}

/* ---- In the master ----------------------------------------------------- */

static int free_slot(const ss_master_t *m)
{
    for (int i = 0; i < SS_MAX_WORKERS; i++)
        if (!m->workers[i].pid)
            return i;
    return -1;
}

static int count_serving(const ss_master_t *m)
{
    int n = 0;
    for (int i = 0; i < SS_MAX_WORKERS; i++)
        n += m->workers[i].pid && !m->workers[i].told_ms;
    return n;
}

static int spawn(ss_server_t *srv)
{
    ss_master_t *m = srv->process;
    int i = free_slot(m), life[2], chan[2];
    int sock = ss__reuseport_free_position(srv);
    if (sock < -1)
        return sock;
    if (i < 0 || ss__pass_channel(m, chan) < 0)
        return -EAGAIN;
    if (pipe(life) < 0) {
        ss__close_fd(&chan[0]);
        ss__close_fd(&chan[1]);
        return -EAGAIN;
    }
    fflush(NULL);
    pid_t pid = fork();
    int err = errno; /* fork's, before the closes below */
    if (pid == 0) {
        close(life[0]);
        ss__close_fd(&chan[0]);
        become_worker(srv, i, sock, chan[1]); /* never returns */
    }
    close(life[1]);
    ss__close_fd(&chan[1]);
    if (pid < 0) {
        close(life[0]);
        ss__close_fd(&chan[0]);
        /* retried on the next pass: logged with a backoff */
        ss__log_backoff(&m->fork_log, SS_LOG_ERROR, "fork: %s", strerror(err));
        return -err;
    }
    ss__log_backoff_ok(&m->fork_log);
    ss__set_nonblocking_cloexec(life[0]);
    m->workers[i] = (worker_t){.pid = pid,
                               .lifeline = life[0],
                               .slot = i,
                               .sock = sock,
                               .channel = chan[0]};
    ss_log(SS_LOG_INFO, "worker %ld started", (long)pid);
    return 0;
}

/* Tell a worker to stop: SIGTERM finishes its requests within the grace
 * period, SIGQUIT cancels them; SIGKILL follows if it lingers. */
static void tell(ss_server_t *srv, worker_t *w, int sig)
{
    long long now = ss__now_ms();
    kill(w->pid, sig);
    w->told_ms = w->told_ms ? w->told_ms : now;
    long long grace = sig == SIGTERM ? srv->cfg.grace_ms : 0;
    long long at = now + grace + KILL_AFTER_MS;
    w->kill_at = w->kill_at && w->kill_at < at ? w->kill_at : at;
}

/* The worker has exited (its lifeline hung up): reap it, and count a
 * failure to boot. */
static void reap(ss_server_t *srv, worker_t *w)
{
    ss_master_t *m = srv->process;
    int status = 0;
    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR) {
    }
    int boot_failed =
        WIFEXITED(status) && WEXITSTATUS(status) == SS_WORKER_BOOT_FAILED;
    m->boot_failures = boot_failed ? m->boot_failures + 1 : 0;
    if (!w->told_ms && !boot_failed)
        ss_log(SS_LOG_WARN, "worker %ld %s %d; replacing it", (long)w->pid,
               WIFSIGNALED(status) ? "killed by signal" : "exited with",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    close(w->lifeline);
    ss__close_fd(&w->channel);
    atomic_store(&m->shared->slots[w->slot].pid, 0);
    *w = (worker_t){0};
    ss__reuseport_drop_unneeded(srv, m);
}

/* A worker whose heartbeat stopped is stuck in a handler. */
static void watchdog(ss_server_t *srv, worker_t *w, long long now)
{
    ss_master_t *m = srv->process;
    int limit = srv->cfg.worker_timeout_ms;
    long long alive = atomic_load(&m->shared->slots[w->slot].alive_ms);
    if (limit <= 0 || w->told_ms || w->aborted || now - alive < limit)
        return;
    ss_log(SS_LOG_WARN, "worker %ld silent for %lld ms; killing it",
           (long)w->pid, now - alive);
    kill(w->pid, SIGABRT);
    w->aborted = 1;
    w->told_ms = now;
    w->kill_at = now + KILL_AFTER_MS;
}

/* Act on what the application asked since the last pass. */
static void handle_requests(ss_server_t *srv)
{
    ss_master_t *m = srv->process;
    if (atomic_exchange(&m->report, 0))
        ss__master_report(m);
    if (atomic_exchange(&m->reopen, 0))
        for (int i = 0; i < SS_MAX_WORKERS; i++)
            if (m->workers[i].pid)
                kill(m->workers[i].pid, SIGUSR1);
    if (atomic_exchange(&m->reload, 0)) { /* new workers; old ones drain */
        ss__reopen_handler(srv);          /* what the new ones will serve */
        ss_log(SS_LOG_INFO, "reloading: starting %d new workers", m->target);
        for (int i = 0; i < SS_MAX_WORKERS; i++)
            if (m->workers[i].pid && !m->workers[i].told_ms)
                tell(srv, &m->workers[i], SIGTERM);
    }
    int delta = atomic_exchange(&m->delta, 0);
    m->target += delta;
    if (m->target < 1)
        m->target = 1;
    if (m->target > SS_MAX_WORKERS)
        m->target = SS_MAX_WORKERS;
    for (int i = SS_MAX_WORKERS - 1; i >= 0 && count_serving(m) > m->target;
         i--) /* the newest entries go first */
        if (m->workers[i].pid && !m->workers[i].told_ms)
            tell(srv, &m->workers[i], SIGTERM);
}

/* Wait for a hangup, a connection to pass on or the next deadline.  The
 * descriptors polled go in pfd (the wake pipe, each listener, each
 * worker's lifeline), with the worker each lifeline belongs to in who[];
 * returns how many. */
static int master_wait(ss_server_t *srv, ss_master_t *m, struct pollfd *pfd,
                       int *who)
{
    int n = 0;
    pfd[n++] = (struct pollfd){srv->wake_r, POLLIN, 0};
    int accepting = m->pass &&
                    ss__now_ms() >= atomic_load(&srv->accept_paused_until_ms) &&
                    ss__pass_has_taker(m);
    for (int l = 0; l < srv->nlisteners; l++)
        pfd[n++] =
            (struct pollfd){accepting ? srv->listeners[l].fd : -1, POLLIN, 0};
    for (int i = 0; i < SS_MAX_WORKERS; i++)
        if (m->workers[i].pid) {
            who[n] = i;
            pfd[n++] = (struct pollfd){m->workers[i].lifeline, POLLIN, 0};
        }
    who[n] = -1; /* an upgrade's successor: its word, or its exit */
    pfd[n++] = (struct pollfd){m->successor ? m->successor_r : -1, POLLIN, 0};
    poll(pfd, (nfds_t)n, m->pass && !accepting ? 10 : PASS_MS);
    char buf[64];
    while (read(srv->wake_r, buf, sizeof(buf)) > 0) {
    }
    return n;
}

/* Kill what outlived its time, retire what asked to be, watch the rest. */
static void look_after_workers(ss_server_t *srv, ss_master_t *m)
{
    long long now = ss__now_ms();
    for (int i = 0; i < SS_MAX_WORKERS; i++) {
        worker_t *w = &m->workers[i];
        if (w->pid && w->kill_at && now >= w->kill_at)
            kill(w->pid, SIGKILL);
        else if (w->pid && !w->told_ms &&
                 atomic_load(&m->shared->slots[w->slot].retire))
            tell(srv, w, SIGTERM); /* marked told: nothing more is sent */
        else if (w->pid)
            watchdog(srv, w, now);
    }
}

/* One pass: wait; pass connections on, reap, act on what was asked,
 * watch, escalate, respawn.  -ECANCELED once a stop is asked. */
static int master_pass(ss_server_t *srv)
{
    ss_master_t *m = srv->process;
    struct pollfd pfd[2 + SS_MAX_LISTENERS + SS_MAX_WORKERS];
    int who[2 + SS_MAX_LISTENERS + SS_MAX_WORKERS];
    int n = master_wait(srv, m, pfd, who);
    for (int l = 0; l < srv->nlisteners; l++)
        if (pfd[1 + l].revents)
            ss__pass_connections(srv, m, &srv->listeners[l]);
    for (int k = 1 + srv->nlisteners; k < n; k++)
        if (pfd[k].revents && who[k] >= 0)
            reap(srv, &m->workers[who[k]]);
    if (ss__upgrade_step(srv, m) == 1) /* a new master serves: step down */
        ss_server_shutdown(srv);
    if (atomic_load(&srv->shutdown_requested) || atomic_load(&srv->stop_now))
        return -ECANCELED;
    handle_requests(srv);
    look_after_workers(srv, m);
    while (count_serving(m) < m->target &&
           m->boot_failures < BOOT_FAILURES_MAX && spawn(srv) == 0) {
    }
    ss__upgrade_report_ready(srv, m);
    return 0;
}

/* Stop every worker (TERM: gracefully, QUIT: at once), and wait for all
 * of them, SIGKILL past their time. */
static void stop_all(ss_server_t *srv, int sig)
{
    ss_master_t *m = srv->process;
    for (int i = 0; i < SS_MAX_WORKERS; i++)
        if (m->workers[i].pid)
            tell(srv, &m->workers[i], sig);
    for (;;) {
        int left = 0;
        long long now = ss__now_ms();
        for (int i = 0; i < SS_MAX_WORKERS; i++) {
            worker_t *w = &m->workers[i];
            if (!w->pid)
                continue;
            struct pollfd p = {w->lifeline, POLLIN, 0};
            if (poll(&p, 1, 0) > 0) {
                reap(srv, w);
                continue;
            }
            if (now >= w->kill_at)
                kill(w->pid, SIGKILL);
            left++;
        }
        if (!left)
            return;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* On the way out the master's copies of the listeners go first: once each
 * worker has closed its own, the kernel refuses new clients at once,
 * instead of queueing them behind a listener nobody will accept from
 * again until the master exits. */
static void close_listeners(ss_server_t *srv)
{
    ss_master_t *m = srv->process;
    for (int l = 0; m->pass && l < srv->nlisteners; l++) /* queued ones */
        for (int n = 0; n < SS_DRAIN_MAX / 64 &&         /* go to the workers */
                        ss__pass_connections(srv, m, &srv->listeners[l]) > 0;
             n++) {
        }
    for (int i = 1; i < SS_MAX_WORKERS; i++)
        ss__reuseport_close(srv, m, i);
    ss__close_listeners(srv);
}

static int master_serve(ss_server_t *srv)
{
    ss_master_t *m = srv->process;
    while (count_serving(m) < m->target && spawn(srv) == 0) {
    }
    int rc = 0;
    while ((rc = master_pass(srv)) == 0) {
        if (m->boot_failures >= BOOT_FAILURES_MAX) {
            ss_log(SS_LOG_ERROR,
                   "workers keep failing to start (%d in a "
                   "row); stopping",
                   m->boot_failures);
            rc = SS_EWORKERS;
            break;
        }
    }
    close_listeners(srv);
    stop_all(srv, atomic_load(&srv->stop_now) ? SIGQUIT : SIGTERM);
    return rc == -ECANCELED ? 0 : rc;
}
