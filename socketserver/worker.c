/* worker.c -- one worker process under a master: it runs the server loop
 * in the configured mode, with hooks that stamp its heartbeat, count its
 * connections, recycle it after max_requests, take the accept lock, and
 * stop it when the master is gone.  The loop never names any of this. */
#include "workers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HEARTBEAT_MS 1000 /* the loop stamps the slot at least this often */
#define LOCK_RETRY_MS 20  /* accept "lock": how often losers try again */

typedef struct worker_state {
    ss_shared_t *shared;
    ss_worker_slot_t *slot;
    int parent_fd;      /* the master's lifeline */
    long recycle_after; /* connections, then it leaves; 0: never */
} worker_state_t;

static ss_server_t *worker_server; /* for its signal handlers */

static void on_worker_signal(int sig)
{
    if (sig == SIGUSR1)
        ss_log_reopen();
    else if (sig == SIGQUIT)
        ss_server_stop_now(worker_server);
    else
        ss_server_shutdown(worker_server);
}

/* The worker stops on TERM and INT (gracefully) and QUIT (at once),
 * reopens its log on USR1, and leaves the master's other signals to the
 * master. */
static void worker_signals(void)
{
    struct sigaction own = {.sa_handler = on_worker_signal};
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigemptyset(&own.sa_mask);
    const int handled[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1};
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
        sigaction(handled[i], &own, NULL);
    const int ignored[] = {SIGHUP, SIGUSR2, SIGPIPE, SIGTTIN, SIGTTOU};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        sigaction(ignored[i], &ign, NULL);
}

/* ---- The hooks ----------------------------------------------------------- */

/* Stamp the heartbeat, and keep the pass short enough to stamp it again
 * in time. */
static void heartbeat(ss_server_t *srv, int *timeout_ms)
{
    worker_state_t *w = srv->process;
    atomic_store(&w->slot->alive_ms, ss__now_ms());
    atomic_store(&w->slot->serving, 1); /* booted: its loop runs */
    if (*timeout_ms < 0 || *timeout_ms > HEARTBEAT_MS)
        *timeout_ms = HEARTBEAT_MS;
}

/* accept "lock": 1 when this worker may accept now.  The losers do not
 * wait on the lock (a worker may have a loop to run): they look again a
 * few milliseconds later, as nginx's accept_mutex does. */
static int lock_accept(ss_server_t *srv, int *timeout_ms)
{
    worker_state_t *w = srv->process;
    int rc = pthread_mutex_trylock(&w->shared->accept_lock);
    if (rc == EOWNERDEAD) { /* its holder died: the lock is ours, sound */
        pthread_mutex_consistent(&w->shared->accept_lock);
        rc = 0;
    }
    if (rc != 0 && (*timeout_ms < 0 || *timeout_ms > LOCK_RETRY_MS))
        *timeout_ms = LOCK_RETRY_MS;
    return rc == 0;
}

static void unlock_accept(ss_server_t *srv)
{
    worker_state_t *w = srv->process;
    pthread_mutex_unlock(&w->shared->accept_lock);
}

/* A request was taken: count it, and recycle the worker when it has
 * served its share (the in-flight ones finish first). */
static void took(ss_server_t *srv)
{
    worker_state_t *w = srv->process;
    long served = atomic_fetch_add(&w->slot->served, 1) + 1;
    atomic_fetch_add(&w->slot->open, 1);
    if (!w->recycle_after || served != w->recycle_after)
        return;
    ss_log(SS_LOG_INFO, "worker recycling after %ld connections", served);
    if (srv->passed) /* the master must stop sending first */
        atomic_store(&w->slot->retire, 1);
    else
        ss_server_shutdown(srv);
}

static void finished(ss_server_t *srv)
{
    worker_state_t *w = srv->process;
    atomic_fetch_sub(&w->slot->open, 1);
}

static void master_gone(ss_server_t *srv)
{
    worker_state_t *w = srv->process;
    ss_log(SS_LOG_WARN, "the master is gone; stopping");
    ss__close_fd(&w->parent_fd);
    srv->hooks.watch_fd = -1;
    ss_server_shutdown(srv);
}

static void release(ss_server_t *srv)
{
    worker_state_t *w = srv->process;
    ss__close_fd(&w->parent_fd);
    munmap(w->shared, sizeof(*w->shared));
    free(w);
    srv->process = NULL;
}

/* ---- Starting ------------------------------------------------------------ */

/* A fresh wake and abort pipe: the inherited ones are the master's. */
static int own_pipes(ss_server_t *srv)
{
    ss__close_fd(&srv->wake_r);
    ss__close_fd(&srv->wake_w);
    ss__close_fd(&srv->abort_r);
    ss__close_fd(&srv->abort_w);
    int rc = ss__make_pipe(&srv->wake_r, &srv->wake_w);
    return rc < 0 ? rc : ss__make_pipe(&srv->abort_r, &srv->abort_w);
}

/* The slot starts over for this worker; max_requests gets its jitter. */
static void claim_slot(ss_server_t *srv, worker_state_t *w)
{
    long long now = ss__now_ms();
    atomic_store(&w->slot->pid, (int)getpid());
    atomic_store(&w->slot->started_ms, now);
    atomic_store(&w->slot->alive_ms, now);
    atomic_store(&w->slot->served, 0);
    atomic_store(&w->slot->open, 0);
    atomic_store(&w->slot->retire, 0);
    atomic_store(&w->slot->serving, 0);
    unsigned seed = (unsigned)getpid() ^ (unsigned)now;
    int jitter = srv->cfg.max_requests_jitter;
    if (srv->cfg.max_requests > 0)
        w->recycle_after = srv->cfg.max_requests +
                           (jitter > 0 ? rand_r(&seed) % (jitter + 1) : 0);
}

static void install_hooks(ss_server_t *srv, worker_state_t *w)
{
    srv->process = w;
    srv->hooks = (ss_loop_hooks_t){
        .before_pass = heartbeat,
        .took = took,
        .finished = finished,
        .watch_fd = w->parent_fd,
        .watch_ready = master_gone,
        .release = release,
    };
    if (srv->cfg.accept == SS_ACCEPT_LOCK) {
        srv->hooks.try_accept = lock_accept;
        srv->hooks.accept_done = unlock_accept;
    }
}

/* Pipes, privileges, the mode, the user's worker_init: 0, or -errno
 * with the reason in err. */
static int boot(ss_server_t *srv, char *err, size_t errlen)
{
    int rc = own_pipes(srv);
    if (rc < 0)
        return ss__fail(err, errlen, rc, "pipe: %s", strerror(-rc));
    if ((rc = ss__server_start_mode(srv, err, errlen)) < 0)
        return rc;
    if (srv->cfg.worker_init && (rc = srv->cfg.worker_init(srv)) < 0)
        return ss__fail(err, errlen, rc, "worker_init: %s", strerror(-rc));
    return 0;
}

_Noreturn void ss__worker_run(ss_server_t *srv, const ss_worker_start_t *start)
{
    worker_state_t *w = calloc(1, sizeof(*w));
    if (!w) {
        ss_log(SS_LOG_ERROR, "worker cannot start: out of memory");
        _exit(SS_WORKER_BOOT_FAILED);
    }
    w->shared = start->shared;
    w->slot = &start->shared->slots[start->slot];
    w->parent_fd = start->parent_fd;
    install_hooks(srv, w);
    worker_server = srv;
    worker_signals();
    claim_slot(srv, w);
    char err[256];
    if (boot(srv, err, sizeof(err)) < 0) {
        ss_log(SS_LOG_ERROR, "worker cannot start: %s", err);
        _exit(SS_WORKER_BOOT_FAILED);
    }
    int rc = ss_server_serve_forever(srv);
    ss_server_close(srv); /* serves what is queued: passed ones too */
    fflush(NULL);
    _exit(rc < 0 ? 1 : 0);
}
