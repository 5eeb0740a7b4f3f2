/* workers.c -- pre-forked worker processes under a supervising master
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
#include "internal.h"

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
#define LOCK_RETRY_MS 20    /* accept "lock": how often losers try again */

typedef struct worker {
    pid_t pid;          /* 0: a free entry */
    int lifeline;       /* read end: hangup when the worker has exited */
    int slot;
    int sock;           /* accept "reuseport": its listener's position */
    int channel;        /* accept "pass": the master's end, or -1 */
    long long told_ms;  /* when it was told to stop (0: not told) */
    long long kill_at;  /* when to SIGKILL it if still there (0: never) */
    int aborted;        /* SIGABRT sent by the watchdog */
} worker_t;

struct ss_master {
    worker_t workers[SS_MAX_WORKERS];
    int target;                /* how many should be serving */
    int boot_failures;         /* in a row */
    int alive_r, alive_w;      /* the master's lifeline: workers watch r */
    atomic_int reload, delta, report, reopen;
    /* accept "reuseport": a listener per position, all made and held by
     * the master (position 0 is the server's own), so that none of them
     * ever goes away with connections queued while a worker is replaced:
     * the replacement takes over its predecessor's position. */
    int reuseport;
    int sock_fd[SS_MAX_WORKERS];
    int pass; /* accept "pass": the master accepts and hands over */
};

static ss_server_t *worker_server; /* in a worker: for its signal handlers */

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

int ss__workers_prepare(ss_server_t *srv, char *err, size_t errlen)
{
    srv->shared = mmap(NULL, sizeof(ss_shared_t), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (srv->shared == MAP_FAILED) {
        srv->shared = NULL;
        return ss__fail(err, errlen, -ENOMEM, "workers: mmap: %s",
                        strerror(errno));
    }
    srv->master = calloc(1, sizeof(ss_master_t));
    if (!srv->master)
        return ss__fail(err, errlen, -ENOMEM, "workers: out of memory");
    srv->master->alive_r = srv->master->alive_w = -1;
    srv->master->target = srv->cfg.workers;
    srv->master->reuseport = srv->cfg.accept == SS_ACCEPT_REUSEPORT;
    srv->master->pass = srv->cfg.accept == SS_ACCEPT_PASS;
    for (int i = 0; i < SS_MAX_WORKERS; i++)
        srv->master->sock_fd[i] = -1;
    srv->master->sock_fd[0] = srv->fd;
    int rc = init_accept_lock(&srv->shared->accept_lock);
    if (rc < 0)
        return ss__fail(err, errlen, rc, "workers: pthread_mutex_init: %s",
                        strerror(-rc));
    rc = ss__make_pipe(&srv->master->alive_r, &srv->master->alive_w);
    if (rc < 0)
        return ss__fail(err, errlen, rc, "workers: pipe: %s", strerror(-rc));
    return 0;
}

void ss__workers_free(ss_server_t *srv)
{
    ss_master_t *m = srv->master;
    if (m) {
        for (int i = 0; i < SS_MAX_WORKERS; i++) {
            if (m->workers[i].pid) {
                close(m->workers[i].lifeline);
                ss__close_fd(&m->workers[i].channel);
            }
            if (i > 0) /* 0 is the server's own listener */
                ss__close_fd(&m->sock_fd[i]);
        }
        ss__close_fd(&m->alive_r);
        ss__close_fd(&m->alive_w);
        free(m);
        srv->master = NULL;
    }
    if (srv->shared)
        munmap(srv->shared, sizeof(ss_shared_t));
    srv->shared = NULL;
}

/* ---- In a worker ------------------------------------------------------- */

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

/* accept "reuseport": keep the listener of position `sock`, close the
 * others (the master still holds every one). */
static void keep_own_listener(ss_server_t *srv, ss_master_t *m, int sock)
{
    if (!m->reuseport)
        return;
    for (int i = 1; i < SS_MAX_WORKERS; i++)
        if (i != sock)
            ss__close_fd(&m->sock_fd[i]);
    if (sock > 0) {
        ss__close_fd(&srv->fd);
        srv->fd = m->sock_fd[sock];
    }
}

/* accept "pass": connections the master handed over before it stopped
 * sending to this worker are served, not lost with the channel. */
static void serve_queued_passes(ss_server_t *srv)
{
    ss_request_t *req;
    while (srv->passed && (req = ss__server_take_request(srv)))
        srv->mode->process(srv, req);
}

/* Become worker `slot`: drop the master's state, start the mode, serve
 * until told to stop, finish the requests in flight, exit. */
static void run_worker(ss_server_t *srv, int slot, int sock, int channel)
{
    ss_master_t *m = srv->master;
    keep_own_listener(srv, m, sock);
    if (channel >= 0) { /* accept "pass": connections come from the master */
        ss__close_fd(&srv->fd);
        ss__set_nonblocking_cloexec(channel); /* the loop polls, never blocks */
        srv->fd = channel;
        srv->passed = 1;
    }
    for (int i = 0; i < SS_MAX_WORKERS; i++)
        if (m->workers[i].pid) {
            close(m->workers[i].lifeline);
            ss__close_fd(&m->workers[i].channel);
        }
    close(m->alive_w);
    srv->parent_fd = m->alive_r;
    free(m);
    srv->master = NULL;
    worker_server = srv;
    worker_signals();

    ss_worker_slot_t *s = &srv->shared->slots[slot];
    long long now = ss__now_ms();
    atomic_store(&s->pid, (int)getpid());
    atomic_store(&s->started_ms, now);
    atomic_store(&s->alive_ms, now);
    atomic_store(&s->served, 0);
    atomic_store(&s->open, 0);
    atomic_store(&s->retire, 0);
    srv->slot = s;
    unsigned seed = (unsigned)getpid() ^ (unsigned)now;
    if (srv->cfg.max_requests > 0)
        srv->recycle_after = srv->cfg.max_requests +
                             (srv->cfg.max_requests_jitter > 0
                                  ? rand_r(&seed) %
                                        (srv->cfg.max_requests_jitter + 1)
                                  : 0);

    char err[256] = "";
    int rc = own_pipes(srv);
    if (rc == 0)
        rc = ss__drop_privileges(srv, err, sizeof(err));
    if (rc == 0 && (rc = srv->mode->open(srv)) < 0)
        ss__fail(err, sizeof(err), rc, "%s mode: %s",
                 ss_choice_name(SS_CHOICE_MODE, srv->cfg.mode), strerror(-rc));
    if (rc == 0 && srv->cfg.worker_init && (rc = srv->cfg.worker_init(srv)) < 0)
        ss__fail(err, sizeof(err), rc, "worker_init: %s", strerror(-rc));
    if (rc < 0) {
        ss_log(SS_LOG_ERROR, "worker cannot start: %s",
               err[0] ? err : strerror(-rc));
        _exit(SS_WORKER_BOOT_FAILED);
    }
    rc = ss_server_serve_forever(srv);
    serve_queued_passes(srv);
    ss_server_close(srv);
    fflush(NULL);
    _exit(rc < 0 ? 1 : 0);
}

/* Called by the server loop on each pass in a worker: stamp the heartbeat,
 * and keep the pass short enough to stamp it at least once a second. */
void ss__worker_loop_pass(ss_server_t *srv, int *timeout_ms)
{
    atomic_store(&srv->slot->alive_ms, ss__now_ms());
    if (*timeout_ms < 0 || *timeout_ms > 1000)
        *timeout_ms = 1000;
}

/* A request was taken: count it, and recycle the worker when it has
 * served its share (the in-flight ones finish first). */
void ss__worker_took(ss_server_t *srv)
{
    long served = atomic_fetch_add(&srv->slot->served, 1) + 1;
    atomic_fetch_add(&srv->slot->open, 1);
    if (srv->recycle_after && served == srv->recycle_after) {
        ss_log(SS_LOG_INFO, "worker recycling after %ld connections", served);
        if (srv->passed) /* the master must stop sending first */
            atomic_store(&srv->slot->retire, 1);
        else
            ss_server_shutdown(srv);
    }
}

void ss__worker_finished(ss_server_t *srv)
{
    atomic_fetch_sub(&srv->slot->open, 1);
}

/* accept "lock": 1 when this worker may accept now.  The losers do not
 * wait on the lock (a worker may have a loop to run): they look again a
 * few milliseconds later, as nginx's accept_mutex does. */
int ss__worker_lock_accept(ss_server_t *srv)
{
    int rc = pthread_mutex_trylock(&srv->shared->accept_lock);
    if (rc == EOWNERDEAD) { /* its holder died: the lock is ours, sound */
        pthread_mutex_consistent(&srv->shared->accept_lock);
        rc = 0;
    }
    return rc == 0;
}

void ss__worker_unlock_accept(ss_server_t *srv)
{
    pthread_mutex_unlock(&srv->shared->accept_lock);
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

/* accept "reuseport": the first position no serving worker has (a
 * stopping one may still drain it), with its listener made if need be.
 * -1 without reuseport; -errno when a listener cannot be made. */
static int free_sock(ss_server_t *srv)
{
    ss_master_t *m = srv->master;
    if (!m->reuseport)
        return -1;
    for (int i = 0; i < SS_MAX_WORKERS; i++) {
        int taken = 0;
        for (int k = 0; k < SS_MAX_WORKERS && !taken; k++)
            taken = m->workers[k].pid && !m->workers[k].told_ms &&
                    m->workers[k].sock == i;
        if (taken)
            continue;
        char err[256];
        if (m->sock_fd[i] < 0 &&
            (m->sock_fd[i] = ss__bind_again(srv, err, sizeof(err))) < 0) {
            int rc = m->sock_fd[i];
            m->sock_fd[i] = -1;
            ss_log(SS_LOG_ERROR, "reuseport: %s", err);
            return rc;
        }
        return i;
    }
    return -EAGAIN;
}

/* A position nobody serves and the target no longer needs: its listener
 * goes (connections still queued on it are lost, as with nginx). */
static void drop_unneeded_socks(ss_master_t *m)
{
    for (int i = 1; m->reuseport && i < SS_MAX_WORKERS; i++) {
        int used = 0;
        for (int k = 0; k < SS_MAX_WORKERS && !used; k++)
            used = m->workers[k].pid && m->workers[k].sock == i;
        if (!used && i >= m->target)
            ss__close_fd(&m->sock_fd[i]);
    }
}

/* accept "pass": a channel that keeps message boundaries, one message
 * per connection.  The master's end in ends[0]. */
static int make_channel(ss_master_t *m, int ends[2])
{
    ends[0] = ends[1] = -1;
    if (!m->pass)
        return 0;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ends) < 0)
        return -errno;
    ss__set_nonblocking_cloexec(ends[0]);
    return 0;
}

static int spawn(ss_server_t *srv)
{
    ss_master_t *m = srv->master;
    int i = free_slot(m), life[2], chan[2];
    int sock = free_sock(srv);
    if (sock < -1)
        return sock;
    if (i < 0 || make_channel(m, chan) < 0)
        return -EAGAIN;
    if (pipe(life) < 0) {
        ss__close_fd(&chan[0]);
        ss__close_fd(&chan[1]);
        return -EAGAIN;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(life[0]);
        ss__close_fd(&chan[0]);
        run_worker(srv, i, sock, chan[1]); /* never returns */
    }
    close(life[1]);
    ss__close_fd(&chan[1]);
    if (pid < 0) {
        close(life[0]);
        ss__close_fd(&chan[0]);
        ss_log(SS_LOG_ERROR, "fork: %s", strerror(errno));
        return -errno;
    }
    ss__set_nonblocking_cloexec(life[0]);
    m->workers[i] = (worker_t){.pid = pid, .lifeline = life[0], .slot = i,
                               .sock = sock, .channel = chan[0]};
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
    ss_master_t *m = srv->master;
    int status = 0;
    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR) {
    }
    int boot_failed = WIFEXITED(status) &&
                      WEXITSTATUS(status) == SS_WORKER_BOOT_FAILED;
    m->boot_failures = boot_failed ? m->boot_failures + 1 : 0;
    if (!w->told_ms && !boot_failed)
        ss_log(SS_LOG_WARN, "worker %ld %s %d; replacing it", (long)w->pid,
               WIFSIGNALED(status) ? "killed by signal" : "exited with",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    close(w->lifeline);
    ss__close_fd(&w->channel);
    atomic_store(&srv->shared->slots[w->slot].pid, 0);
    *w = (worker_t){0};
    drop_unneeded_socks(m);
}

/* ---- accept "pass": the master accepts and hands over ------------------ */

/* The serving worker with the fewest open connections whose channel has
 * room now, or NULL: then the master does not accept (back-pressure). */
static worker_t *least_loaded(ss_server_t *srv)
{
    ss_master_t *m = srv->master;
    worker_t *best = NULL;
    long best_open = 0;
    for (int i = 0; i < SS_MAX_WORKERS; i++) {
        worker_t *w = &m->workers[i];
        struct pollfd p = {w->channel, POLLOUT, 0};
        if (!w->pid || w->told_ms || poll(&p, 1, 0) != 1 ||
            !(p.revents & POLLOUT))
            continue;
        long open = atomic_load(&srv->shared->slots[w->slot].open);
        if (!best || open < best_open) {
            best = w;
            best_open = open;
        }
    }
    return best;
}

/* Send one connection: its descriptor as SCM_RIGHTS, its peer address as
 * the message.  0, or -1 when the channel would not take it. */
static int hand_over(worker_t *w, int fd, const struct sockaddr_storage *peer,
                     socklen_t len)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof(control));
    struct iovec iov = {(void *)peer, len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(fd));
    return sendmsg(w->channel, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Accept what is waiting (a bounded batch) and pass each connection on. */
static void pass_connections(ss_server_t *srv)
{
    for (int i = 0; i < 64; i++) {
        worker_t *w = least_loaded(srv);
        struct sockaddr_storage peer;
        socklen_t len;
        int fd = w ? ss__accept_raw(srv, &peer, &len) : -1;
        if (fd < 0)
            return;
        while (w && hand_over(w, fd, &peer, len) < 0)
            w = least_loaded(srv); /* that channel filled up meanwhile */
        if (!w)
            ss_log(SS_LOG_ERROR, "no worker can take a connection; "
                   "closing it");
        close(fd); /* the worker has its own copy now */
    }
}

/* A worker whose heartbeat stopped is stuck in a handler. */
static void watchdog(ss_server_t *srv, worker_t *w, long long now)
{
    int limit = srv->cfg.worker_timeout_ms;
    long long alive = atomic_load(&srv->shared->slots[w->slot].alive_ms);
    if (limit <= 0 || w->told_ms || w->aborted || now - alive < limit)
        return;
    ss_log(SS_LOG_WARN, "worker %ld silent for %lld ms; killing it",
           (long)w->pid, now - alive);
    kill(w->pid, SIGABRT);
    w->aborted = 1;
    w->told_ms = now;
    w->kill_at = now + KILL_AFTER_MS;
}

static void report(ss_server_t *srv)
{
    long long now = ss__now_ms();
    for (int i = 0; i < SS_MAX_WORKERS; i++) {
        worker_t *w = &srv->master->workers[i];
        ss_worker_slot_t *s = &srv->shared->slots[w->slot];
        if (w->pid)
            ss_log(SS_LOG_INFO, "worker %ld: %ld served, %ld open, up %lld s%s",
                   (long)w->pid, atomic_load(&s->served),
                   atomic_load(&s->open),
                   (now - atomic_load(&s->started_ms)) / 1000,
                   w->told_ms ? ", stopping" : "");
    }
}

/* Act on what the application asked since the last pass. */
static void handle_requests(ss_server_t *srv)
{
    ss_master_t *m = srv->master;
    if (atomic_exchange(&m->report, 0))
        report(srv);
    if (atomic_exchange(&m->reopen, 0))
        for (int i = 0; i < SS_MAX_WORKERS; i++)
            if (m->workers[i].pid)
                kill(m->workers[i].pid, SIGUSR1);
    if (atomic_exchange(&m->reload, 0)) { /* new workers; old ones drain */
        ss__reopen_handler(srv); /* what the new ones will serve */
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

/* One pass: wait for a hangup, a request or the next deadline; reap,
 * watch, escalate, respawn.  -ECANCELED once a stop is asked. */
static int master_pass(ss_server_t *srv)
{
    ss_master_t *m = srv->master;
    struct pollfd pfd[SS_MAX_WORKERS + 2];
    int who[SS_MAX_WORKERS + 2], n = 0;
    pfd[n++] = (struct pollfd){srv->wake_r, POLLIN, 0};
    int accepting = m->pass && ss__now_ms() >= srv->accept_paused_until_ms &&
                    least_loaded(srv);
    pfd[n++] = (struct pollfd){accepting ? srv->fd : -1, POLLIN, 0};
    for (int i = 0; i < SS_MAX_WORKERS; i++)
        if (m->workers[i].pid) {
            who[n] = i;
            pfd[n++] = (struct pollfd){m->workers[i].lifeline, POLLIN, 0};
        }
    poll(pfd, (nfds_t)n, m->pass && !accepting ? 10 : PASS_MS);
    char buf[64];
    while (read(srv->wake_r, buf, sizeof(buf)) > 0) {
    }
    if (pfd[1].revents)
        pass_connections(srv);
    for (int k = 2; k < n; k++)
        if (pfd[k].revents)
            reap(srv, &m->workers[who[k]]);
    if (atomic_load(&srv->shutdown_requested) || atomic_load(&srv->stop_now))
        return -ECANCELED;
    handle_requests(srv);
    long long now = ss__now_ms();
    for (int i = 0; i < SS_MAX_WORKERS; i++) {
        worker_t *w = &m->workers[i];
        if (w->pid && w->kill_at && now >= w->kill_at)
            kill(w->pid, SIGKILL);
        else if (w->pid && !w->told_ms &&
                 atomic_load(&srv->shared->slots[w->slot].retire))
            tell(srv, w, SIGTERM); /* marked told: nothing more is sent */
        else if (w->pid)
            watchdog(srv, w, now);
    }
    while (count_serving(m) < m->target &&
           m->boot_failures < BOOT_FAILURES_MAX && spawn(srv) == 0) {
    }
    return 0;
}

/* Stop every worker (TERM: gracefully, QUIT: at once), and wait for all
 * of them, SIGKILL past their time. */
static void stop_all(ss_server_t *srv, int sig)
{
    ss_master_t *m = srv->master;
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
    ss_master_t *m = srv->master;
    for (int i = 1; i < SS_MAX_WORKERS; i++)
        ss__close_fd(&m->sock_fd[i]);
    m->sock_fd[0] = -1; /* the server's own */
    ss__close_fd(&srv->fd);
}

int ss__master_serve(ss_server_t *srv)
{
    ss_master_t *m = srv->master;
    while (count_serving(m) < m->target && spawn(srv) == 0) {
    }
    int rc = 0;
    while ((rc = master_pass(srv)) == 0) {
        if (m->boot_failures >= BOOT_FAILURES_MAX) {
            ss_log(SS_LOG_ERROR, "workers keep failing to start (%d in a "
                   "row); stopping", m->boot_failures);
            rc = SS_EWORKERS;
            break;
        }
    }
    close_listeners(srv);
    stop_all(srv, atomic_load(&srv->stop_now) ? SIGQUIT : SIGTERM);
    return rc == -ECANCELED ? 0 : rc;
}

/* ---- The controls (async-signal-safe) ---------------------------------- */

static void wake(ss_server_t *srv)
{
    int saved = errno;
    ssize_t w = write(srv->wake_w, "x", 1);
    (void)w;
    errno = saved;
}

void ss_server_stop_now(ss_server_t *srv)
{
    atomic_store(&srv->stop_now, 1);
    if (srv->master) {
        ss_server_shutdown(srv);
        return;
    }
    /* In a worker or a single process: no grace at all, even when a
     * graceful stop was already under way. */
    atomic_store(&srv->hard_stop_at_ms, ss__now_ms());
    ss_server_shutdown(srv);
}

void ss_server_reload(ss_server_t *srv)
{
    if (srv->master) {
        atomic_store(&srv->master->reload, 1);
        wake(srv);
    }
}

void ss_server_add_workers(ss_server_t *srv, int delta)
{
    if (srv->master) {
        atomic_fetch_add(&srv->master->delta, delta);
        wake(srv);
    }
}

void ss_server_reopen_logs(ss_server_t *srv)
{
    ss_log_reopen();
    if (srv->master) {
        atomic_store(&srv->master->reopen, 1);
        wake(srv);
    }
}

void ss_server_report(ss_server_t *srv)
{
    if (srv->master) {
        atomic_store(&srv->master->report, 1);
        wake(srv);
    }
}
