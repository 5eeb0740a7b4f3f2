/* mode_fork.c -- a child process per connection (per datagram for UDP), as
 * Python's ForkingMixIn.
 *
 * The parent keeps the pids it started and reaps only those, by pid:
 * never waitpid(-1), which would steal the exit status of processes the
 * application started itself.  Each child writes its pid to a notify pipe
 * just before it exits, so the server loop wakes and reaps it at once
 * without a SIGCHLD handler (a library must not take the process's
 * signals); a periodic sweep catches children that died without writing.
 * At the cap the server stops accepting until a child exits: clients wait
 * in the listen backlog, and a shutdown is never held up by a full house. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SWEEP_MS 1000     /* reap even without a notification this often */
#define KILL_WAIT_MS 1000 /* after cancelling, before SIGKILL */

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
    int rc = st->pids ? ss__make_pipe(&st->notify_r, &st->notify_w) : -ENOMEM;
    if (rc < 0) {
        free(st->pids);
        free(st);
        return rc;
    }
    srv->mode_state = st;
    return 0;
}

/* A client that can crash its handler can cause these, once each. */
static void log_abnormal_exit(pid_t pid, int status)
{
    if (WIFSIGNALED(status))
        ss_log_peer(SS_LOG_WARN, "child %ld killed by signal %d", (long)pid,
                    WTERMSIG(status));
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        ss_log_peer(SS_LOG_WARN, "child %ld exited with status %d", (long)pid,
                    WEXITSTATUS(status));
}

/* Forget the child in slot i (it has been reaped). */
static void remove_slot(fork_state_t *st, int i)
{
    st->pids[i] = st->pids[--st->count];
}

static int find_slot(const fork_state_t *st, pid_t pid)
{
    for (int i = 0; i < st->count; i++)
        if (st->pids[i] == pid)
            return i;
    return -1;
}

/* Reap the children that announced their exit: each wrote its pid just
 * before _exit, so a blocking waitpid on that one pid returns at once. */
static void reap_announced(fork_state_t *st)
{
    pid_t pids[64];
    ssize_t n;
    while ((n = read(st->notify_r, pids, sizeof(pids))) > 0) {
        for (size_t k = 0; k < (size_t)n / sizeof(pid_t); k++) {
            int i = find_slot(st, pids[k]);
            int status;
            if (i < 0)
                continue;
            pid_t r;
            while ((r = waitpid(pids[k], &status, 0)) < 0 && errno == EINTR) {
            }
            if (r == pids[k])
                log_abnormal_exit(r, status);
            remove_slot(st, i);
        }
    }
}

/* Reap, without blocking, every child of ours that has exited, announced
 * or not (a child killed by a signal announces nothing). */
static void reap_children(fork_state_t *st)
{
    reap_announced(st);
    for (int i = 0; i < st->count;) {
        int status;
        pid_t r = waitpid(st->pids[i], &status, WNOHANG);
        if (r == st->pids[i] || (r < 0 && errno == ECHILD)) {
            if (r > 0)
                log_abnormal_exit(r, status);
            remove_slot(st, i);
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
        poll(&pfd, 1, left < SWEEP_MS ? (int)left : SWEEP_MS);
        reap_children(st);
    }
}

/* In the child: serve the one request and exit without returning to the
 * server loop.  The child ignores SIGINT (a Ctrl-C reaches the whole
 * process group; the parent decides when its children stop) and takes
 * SIGTERM's default action, so the parent can always end it. */
static void run_child(ss_server_t *srv, fork_state_t *st, ss_request_t *req)
{
    struct sigaction ign = {.sa_handler = SIG_IGN},
                     dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    if (!srv->cfg.datagram)
        ss__close_listeners(srv); /* the listeners belong to the parent */
    close(st->notify_r);
    ss__request_run(req);
    ss__request_free(req);
    fflush(NULL);
    pid_t me = getpid();
    ssize_t w = write(st->notify_w, &me, sizeof(me)); /* atomic: < PIPE_BUF */
    (void)w;
    _exit(0); /* not exit(): the parent's atexit handlers are not ours */
}

/* At the cap the loop stops accepting until a child exits. */
static int fork_has_room(ss_server_t *srv)
{
    fork_state_t *st = srv->mode_state;
    if (st->count >= srv->cfg.max_children)
        reap_children(st);
    return st->count < srv->cfg.max_children;
}

static void fork_process(ss_server_t *srv, ss_request_t *req)
{
    fork_state_t *st = srv->mode_state;
    if (!fork_has_room(srv)) { /* has_room said yes; only a bug gets here */
        ss_log_peer(SS_LOG_ERROR, "no room for a child; shedding %s",
                    ss_peer(req));
        ss__request_drop(req);
        return;
    }
    fflush(NULL); /* or the child would write our buffered output again */
    pid_t pid = fork();
    if (pid < 0) {
        ss_log_peer(SS_LOG_ERROR, "fork: %s; shedding %s", strerror(errno),
                    ss_peer(req));
        ss__request_drop(req);
        return;
    }
    if (pid == 0)
        run_child(srv, st, req);
    st->pids[st->count++] = pid;
    req->counted = 0; /* the child finishes it, and counts it then */
    ss__request_forget(req);
}

static int fork_wake_fd(ss_server_t *srv)
{
    return ((fork_state_t *)srv->mode_state)->notify_r;
}

static void fork_service(ss_server_t *srv)
{
    reap_children(srv->mode_state);
}

static int fork_service_due_ms(ss_server_t *srv)
{
    return ((fork_state_t *)srv->mode_state)->count > 0 ? SWEEP_MS : -1;
}

/* Kill what still runs after the cancel.  A pid still ours (waitpid says
 * it has not been reaped) cannot have been reused, so the kill is safe. */
static void kill_children(fork_state_t *st)
{
    for (int i = 0; i < st->count; i++)
        if (waitpid(st->pids[i], NULL, WNOHANG) == 0)
            kill(st->pids[i], SIGKILL);
    for (int i = 0; i < st->count; i++)
        while (waitpid(st->pids[i], NULL, 0) < 0 && errno == EINTR) {
        }
    st->count = 0;
}

/* Wait out the grace period, then cancel the children's waits, then kill
 * what is still there: close never returns with a child left behind.
 * Without block_on_close it only reaps the children already done. */
static void fork_close(ss_server_t *srv)
{
    fork_state_t *st = srv->mode_state;
    if (!srv->cfg.block_on_close) {
        reap_children(st);
        return;
    }
    reap_until(st, ss__grace_deadline_ms(srv));
    if (st->count == 0)
        return;
    ss_log(SS_LOG_INFO,
           "%d children still running after the grace period; "
           "cancelling",
           st->count);
    ss__server_cancel_requests(srv);
    reap_until(st, ss__now_ms() + KILL_WAIT_MS);
    kill_children(st);
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
    .open = fork_open,
    .has_room = fork_has_room,
    .process = fork_process,
    .wake_fd = fork_wake_fd,
    .service = fork_service,
    .service_due_ms = fork_service_due_ms,
    .close = fork_close,
    .release = fork_release,
};
