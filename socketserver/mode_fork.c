/* mode_fork.c -- a child process per connection (per datagram for UDP), as
 * Python's ForkingMixIn.
 *
 * The parent keeps the pids it started and reaps only those, with
 * waitpid(pid, WNOHANG): never waitpid(-1), which would steal the exit
 * status of processes the application started itself.  Each child writes a
 * byte to a notify pipe as it exits, so the server loop wakes and reaps at
 * once without a SIGCHLD handler (a library must not take the process's
 * signals); a periodic sweep catches children that died without writing. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SWEEP_MS 1000      /* reap even without a notification this often */
#define CAP_WAIT_MS 100    /* at the cap, look for exits this often */
#define KILL_WAIT_MS 1000  /* after cancelling, before SIGKILL */

typedef struct fork_state {
    pid_t *pids; /* live children, max_children slots */
    int count;
    int notify_r, notify_w; /* children write one byte here as they exit */
} fork_state_t;

static int fork_open(ss_server_t *srv)
{
    fork_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->pids = calloc((size_t)srv->cfg.max_children, sizeof(pid_t));
    int p[2];
    if (!st->pids || pipe(p) < 0) {
        int err = st->pids ? -errno : -ENOMEM;
        free(st->pids);
        free(st);
        return err;
    }
    ss__set_nonblocking_cloexec(p[0]);
    ss__set_nonblocking_cloexec(p[1]);
    st->notify_r = p[0];
    st->notify_w = p[1];
    srv->mode_state = st;
    return 0;
}

static void log_abnormal_exit(pid_t pid, int status)
{
    if (WIFSIGNALED(status))
        ss_log(SS_LOG_WARN, "child %ld killed by signal %d", (long)pid,
               WTERMSIG(status));
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        ss_log(SS_LOG_WARN, "child %ld exited with status %d", (long)pid,
               WEXITSTATUS(status));
}

/* Reap every child of ours that has exited, without blocking. */
static void reap_children(fork_state_t *st)
{
    char buf[64];
    while (read(st->notify_r, buf, sizeof(buf)) > 0) {
    }
    for (int i = 0; i < st->count;) {
        int status;
        pid_t r = waitpid(st->pids[i], &status, WNOHANG);
        if (r == st->pids[i] || (r < 0 && errno == ECHILD)) {
            if (r > 0)
                log_abnormal_exit(r, status);
            st->pids[i] = st->pids[--st->count];
        } else {
            i++;
        }
    }
}

/* Reap until no child is left or deadline_ms passes. */
static void reap_until(fork_state_t *st, long long deadline_ms)
{
    reap_children(st);
    while (st->count > 0) {
        long long left = deadline_ms - ss__now_ms();
        if (left <= 0)
            return;
        struct pollfd pfd = {st->notify_r, POLLIN, 0};
        poll(&pfd, 1, left < CAP_WAIT_MS ? (int)left : CAP_WAIT_MS);
        reap_children(st);
    }
}

/* In the child: serve the one request and exit without returning to the
 * server loop.  The child ignores SIGINT (a Ctrl-C reaches the whole
 * process group; the parent decides when its children stop) and takes
 * SIGTERM's default action, so the parent can always end it. */
static void run_child(ss_server_t *srv, fork_state_t *st, ss_request_t *req)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    if (!srv->cfg.datagram)
        close(srv->fd); /* the listener belongs to the parent */
    close(st->notify_r);
    ss__close_fd(&srv->wake_r); /* the parent's to drain, not ours */
    ss__request_run(req);
    ss__request_free(req);
    fflush(NULL);
    ssize_t w = write(st->notify_w, "x", 1);
    (void)w;
    _exit(0); /* not exit(): the parent's atexit handlers are not ours */
}

/* At the cap, wait for a child to exit rather than refuse the client. */
static int wait_for_free_slot(ss_server_t *srv, fork_state_t *st)
{
    while (st->count >= srv->cfg.max_children) {
        long long stop = atomic_load(&srv->hard_stop_at_ms);
        if (stop && ss__now_ms() >= stop)
            return -ECANCELED;
        struct pollfd pfd = {st->notify_r, POLLIN, 0};
        poll(&pfd, 1, CAP_WAIT_MS);
        reap_children(st);
    }
    return 0;
}

static void fork_process(ss_server_t *srv, ss_request_t *req)
{
    fork_state_t *st = srv->mode_state;
    reap_children(st);
    if (wait_for_free_slot(srv, st) < 0) {
        ss__request_free(req);
        return;
    }
    fflush(NULL); /* or the child would write our buffered output again */
    pid_t pid = fork();
    if (pid < 0) {
        ss_log(SS_LOG_ERROR, "fork: %s; shedding %s", strerror(errno),
               ss_peer(req));
        ss__request_free(req);
        return;
    }
    if (pid == 0)
        run_child(srv, st, req);
    st->pids[st->count++] = pid;
    ss__request_forget(req);
}

static int fork_wake_fd(ss_server_t *srv)
{
    return ((fork_state_t *)srv->mode_state)->notify_r;
}

static void fork_service(ss_server_t *srv) { reap_children(srv->mode_state); }

static int fork_service_due_ms(ss_server_t *srv)
{
    return ((fork_state_t *)srv->mode_state)->count > 0 ? SWEEP_MS : -1;
}

/* Wait out the grace period, then cancel the children's waits, then kill
 * what is still there: close never returns with a child left behind. */
static void fork_close(ss_server_t *srv)
{
    fork_state_t *st = srv->mode_state;
    if (!srv->cfg.block_on_close)
        return;
    reap_until(st, ss__grace_deadline_ms(srv));
    if (st->count == 0)
        return;
    ss_log(SS_LOG_INFO, "%d children still running after the grace period; "
           "cancelling", st->count);
    ss__server_cancel_requests(srv);
    reap_until(st, ss__now_ms() + KILL_WAIT_MS);
    for (int i = 0; i < st->count; i++)
        kill(st->pids[i], SIGKILL);
    for (int i = 0; i < st->count; i++)
        waitpid(st->pids[i], NULL, 0);
    st->count = 0;
}

static void fork_release(ss_server_t *srv)
{
    fork_state_t *st = srv->mode_state;
    close(st->notify_r);
    close(st->notify_w);
    free(st->pids);
    free(st);
    srv->mode_state = NULL;
}

const ss_mode_t ss__mode_fork = {
    .name = "fork",
    .summary = "a child process per connection (ForkingMixIn)",
    .open = fork_open,
    .process = fork_process,
    .wake_fd = fork_wake_fd,
    .service = fork_service,
    .service_due_ms = fork_service_due_ms,
    .close = fork_close,
    .release = fork_release,
};
