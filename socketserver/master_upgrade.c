/* master_upgrade.c -- a binary upgrade that drops nobody (nginx's USR2,
 * gunicorn's USR2, HAProxy's -x): the master starts a successor --
 * cfg.upgrade_argv, normally this program's own path and arguments, so a
 * replaced file is what runs -- which inherits every listening socket the
 * way systemd hands them over (LISTEN_FDS), so the kernel's accept queues
 * are never closed.  Once all the successor's workers serve, it says so
 * over a pipe and this master stops gracefully; a successor that exits, or
 * is not serving in time, is stopped, and this master goes on serving. */
#define _DEFAULT_SOURCE /* F_DUPFD_CLOEXEC's companions in strict mode */
#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 30000
#define STOP_WAIT_MS 2000 /* for a failed successor, before SIGKILL */

/* ---- In the successor ---------------------------------------------------- */

/* The pipe to tell the predecessor on, if this process is a successor:
 * the descriptor (close-on-exec, so workers do not keep it), or -1. */
int ss__upgrade_take_ready_fd(void)
{
    const char *text = getenv(SS_UPGRADE_READY_ENV);
    int fd = text ? atoi(text) : -1;
    unsetenv(SS_UPGRADE_READY_ENV);
    if (fd < 3 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    return fd;
}

/* Once every worker wanted serves, the first time: the application's
 * on_ready hook (the CLI tells systemd), and a predecessor is told. */
void ss__upgrade_report_ready(ss_server_t *srv, ss_master_t *m)
{
    if (m->announced)
        return;
    int serving = 0;
    for (int i = 0; i < SS_MAX_WORKERS; i++) {
        worker_t *w = &m->workers[i];
        serving += w->pid && !w->told_ms &&
                   atomic_load(&m->shared->slots[w->slot].serving);
    }
    if (serving < m->target)
        return;
    m->announced = 1;
    if (srv->cfg.on_ready)
        srv->cfg.on_ready(srv);
    if (m->ready_w < 0)
        return;
    ssize_t n = write(m->ready_w, "R", 1);
    ss_log(SS_LOG_INFO, "upgrade: serving; %s",
           n == 1 ? "the old master may stop"
                  : "the old master could not be told");
    ss__close_fd(&m->ready_w);
}

/* ---- In the predecessor -------------------------------------------------- */

/* In the child: the listeners at descriptors 3 .. 3 + n - 1 (moved out of
 * the way first, so none overwrites another), the pipe right after them,
 * the environment, and the program.  Never returns. */
static void exec_successor(ss_server_t *srv, int ready_w)
{
    int n = srv->nlisteners, high[SS_MAX_LISTENERS + 1];
    for (int i = 0; i <= n; i++)
        high[i] = fcntl(i < n ? srv->listeners[i].fd : ready_w, F_DUPFD_CLOEXEC,
                        3 + n + 1);
    for (int i = 0; i <= n; i++)
        if (high[i] < 0 || dup2(high[i], 3 + i) < 0) /* dup2: inherited */
            _exit(127);
    char text[32];
    snprintf(text, sizeof(text), "%d", n);
    setenv("LISTEN_FDS", text, 1);
    snprintf(text, sizeof(text), "%ld", (long)getpid());
    setenv("LISTEN_PID", text, 1);
    unsetenv("LISTEN_FDNAMES");
    snprintf(text, sizeof(text), "%d", 3 + n);
    setenv(SS_UPGRADE_READY_ENV, text, 1);
    char *const *argv = (char *const *)srv->cfg.upgrade_argv;
    execvp(argv[0], argv);
    ss_log(SS_LOG_ERROR, "upgrade: exec %s: %s", argv[0], strerror(errno));
    _exit(127);
}

static void start_successor(ss_server_t *srv, ss_master_t *m)
{
    const char *const *argv = srv->cfg.upgrade_argv;
    if (!argv || !argv[0]) {
        ss_log(SS_LOG_ERROR, "upgrade: no program to start (upgrade_argv)");
        return;
    }
    if (m->successor) {
        ss_log(SS_LOG_WARN, "upgrade: one is under way already");
        return;
    }
    int r, w;
    if (ss__make_pipe(&r, &w) < 0) {
        ss_log(SS_LOG_ERROR, "upgrade: pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        exec_successor(srv, w);
    close(w);
    if (pid < 0) {
        ss_log(SS_LOG_ERROR, "upgrade: fork: %s", strerror(errno));
        close(r);
        return;
    }
    int timeout = srv->cfg.upgrade_timeout_ms;
    m->successor = pid;
    m->successor_r = r;
    m->successor_deadline =
        ss__now_ms() + (timeout > 0 ? timeout : DEFAULT_TIMEOUT_MS);
    ss_log(SS_LOG_INFO, "upgrade: started %s as %ld; waiting until it serves",
           argv[0], (long)pid);
}

/* A successor that failed: stopped (TERM, then KILL) and reaped, with
 * how it ended in the log. */
static void abandon(ss_master_t *m, const char *why)
{
    int status = 0;
    long long give_up = ss__now_ms() + STOP_WAIT_MS;
    kill(m->successor, SIGTERM);
    while (waitpid(m->successor, &status, WNOHANG) == 0) {
        if (ss__now_ms() >= give_up)
            kill(m->successor, SIGKILL);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ss_log(SS_LOG_ERROR,
           "upgrade: %ld %s (%s %d); this master goes on "
           "serving",
           (long)m->successor, why,
           WIFSIGNALED(status) ? "killed by signal" : "exit status",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    ss__close_fd(&m->successor_r);
    m->successor = 0;
}

/* The new master owns the socket files now: this one must not remove
 * them on its way out. */
static void disown_socket_files(ss_server_t *srv)
{
    for (int i = 0; i < srv->nlisteners; i++)
        srv->listeners[i].unix_path[0] = '\0';
}

int ss__upgrade_step(ss_server_t *srv, ss_master_t *m)
{
    if (atomic_exchange(&m->upgrade, 0))
        start_successor(srv, m);
    if (!m->successor)
        return 0;
    char c;
    ssize_t n = read(m->successor_r, &c, 1);
    if (n == 1) {
        ss_log(SS_LOG_INFO, "upgrade: %ld serves; this master stops",
               (long)m->successor);
        ss__close_fd(&m->successor_r);
        m->successor = 0; /* a process of its own now: not reaped here */
        disown_socket_files(srv);
        srv->handed_over = 1;
        return 1;
    }
    if (n == 0)
        abandon(m, "exited before it served");
    else if (ss__now_ms() >= m->successor_deadline)
        abandon(m, "did not serve in time");
    return 0;
}
