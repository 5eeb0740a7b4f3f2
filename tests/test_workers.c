/* test_workers.c -- pre-forked workers under a master, through the CLI as
 * a real process tree: accept strategies, respawn, signals, recycling, the
 * watchdog, graceful and fast stops, the pidfile; and, through the
 * library, a master that gives up on workers that cannot start. */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define THANKS "Thank you for connecting\n"
#define STOP_MS 3000

/* The pids whose parent is `parent` (its workers), at most max. */
static int worker_pids(pid_t parent, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)) && n < max) {
        char path[300], buf[512];
        long pid = atol(e->d_name), ppid;
        char state;
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        size_t k = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        buf[k] = '\0';
        char *rp = strrchr(buf, ')');
        if (rp && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 &&
            ppid == (long)parent && state != 'Z')
            out[n++] = (pid_t)pid;
    }
    if (d)
        closedir(d);
    return n;
}

/* Wait until the master has exactly `count` workers: 0, or -1. */
static int await_workers(pid_t master, int count, int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    pid_t pids[64];
    while (worker_pids(master, pids, 64) != count)
        if (ts_now_ms() > deadline)
            return -1;
        else
            ts_sleep_ms(20);
    return 0;
}

static int contains(const pid_t *pids, int n, pid_t pid)
{
    for (int i = 0; i < n; i++)
        if (pids[i] == pid)
            return 1;
    return 0;
}

/* Start the CLI with these arguments after --listen 127.0.0.1:0. */
static int start(cli_proc_t *p, const char *const *args)
{
    const char *argv[32] = {"--listen", "127.0.0.1:0", "--log-level", "warn"};
    int n = 4;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return ts_cli_start(p, argv, 1);
}

/* One thankyou round trip: 1 when it was thanked. */
static int thanked(const char *address)
{
    char buf[64];
    int fd = ts_connect(address, 0);
    int ok =
        fd >= 0 &&
        ts_read_all(fd, buf, sizeof(buf), 2000) == (ssize_t)strlen(THANKS) &&
        strcmp(buf, THANKS) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int stop(cli_proc_t *p, int sig)
{
    kill(p->pid, sig);
    return ts_cli_wait(p, STOP_MS);
}

/* ---- Accept strategies ------------------------------------------------- */

typedef struct {
    const char *address;
    int ok;
} hammer_t;

static void *hammer(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < 250; i++)
        h->ok += thanked(h->address);
    return NULL;
}

/* Four clients at once, 250 connections each, on 3 workers. */
static void test_strategies_serve_1000(void)
{
    const char *const strategies[] = {"shared", "lock", "reuseport", "pass"};
    for (int s = 0; s < 4; s++) {
        const char *args[] = {"--workers",   "3",         "--accept",
                              strategies[s], "--handler", "thankyou",
                              NULL};
        cli_proc_t p;
        CU_ASSERT_FATAL(start(&p, args) == 0);
        hammer_t h[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            h[i] = (hammer_t){p.address, 0};
            pthread_create(&t[i], NULL, hammer, &h[i]);
        }
        int ok = 0;
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            ok += h[i].ok;
        }
        CU_ASSERT_EQUAL(ok, 1000);
        if (ok != 1000)
            fprintf(stderr, "\n  %s: %d of 1000\n", strategies[s], ok);
        CU_ASSERT_EQUAL(stop(&p, SIGTERM), 0);
    }
}

/* ---- Supervision ------------------------------------------------------- */

/* kill -9 of a worker: a new one within a second, and service goes on. */
static void test_killed_worker_replaced(void)
{
    const char *args[] = {"--workers", "2", "--handler", "thankyou", NULL};
    cli_proc_t p;
    CU_ASSERT_FATAL(start(&p, args) == 0);
    pid_t before[8], after[8];
    CU_ASSERT_FATAL(await_workers(p.pid, 2, 2000) == 0);
    worker_pids(p.pid, before, 8);
    kill(before[0], SIGKILL);
    long long t0 = ts_now_ms();
    int replaced = 0;
    while (!replaced && ts_now_ms() - t0 < 1000) {
        int n = worker_pids(p.pid, after, 8);
        replaced = n == 2 && !contains(after, n, before[0]);
        ts_sleep_ms(10);
    }
    CU_ASSERT(replaced);
    for (int i = 0; i < 20; i++)
        CU_ASSERT(thanked(p.address));
    CU_ASSERT_EQUAL(stop(&p, SIGTERM), 0);
}

static void test_ttin_ttou(void)
{
    const char *args[] = {"--workers", "2", "--handler", "thankyou", NULL};
    cli_proc_t p;
    CU_ASSERT_FATAL(start(&p, args) == 0);
    CU_ASSERT(await_workers(p.pid, 2, 2000) == 0);
    kill(p.pid, SIGTTIN);
    CU_ASSERT(await_workers(p.pid, 3, 2000) == 0);
    /* One at a time: two of the same signal sent together may merge into
     * one, as POSIX allows for all but the real-time signals. */
    kill(p.pid, SIGTTOU);
    CU_ASSERT(await_workers(p.pid, 2, 3000) == 0);
    kill(p.pid, SIGTTOU);
    CU_ASSERT(await_workers(p.pid, 1, 3000) == 0);
    kill(p.pid, SIGTTOU); /* never below one */
    ts_sleep_ms(300);
    CU_ASSERT(await_workers(p.pid, 1, 100) == 0);
    CU_ASSERT(thanked(p.address));
    CU_ASSERT_EQUAL(stop(&p, SIGTERM), 0);
}

/* HUP: every worker is replaced, and service never stops. */
static void test_hup_reload(void)
{
    const char *args[] = {"--workers", "2", "--handler", "thankyou", NULL};
    cli_proc_t p;
    CU_ASSERT_FATAL(start(&p, args) == 0);
    pid_t old[8], now[8];
    CU_ASSERT_FATAL(await_workers(p.pid, 2, 2000) == 0);
    worker_pids(p.pid, old, 8);
    kill(p.pid, SIGHUP);
    long long t0 = ts_now_ms();
    int fresh = 0;
    while (!fresh && ts_now_ms() - t0 < 3000) {
        CU_ASSERT(thanked(p.address));
        int n = worker_pids(p.pid, now, 8);
        fresh =
            n == 2 && !contains(now, n, old[0]) && !contains(now, n, old[1]);
    }
    CU_ASSERT(fresh);
    CU_ASSERT_EQUAL(stop(&p, SIGTERM), 0);
}

/* The whole reply of a new connection, NUL-terminated in buf. */
static ssize_t recite(const char *address, char *buf, size_t cap)
{
    int fd = ts_connect(address, 0);
    ssize_t n = fd < 0 ? -1 : ts_read_all(fd, buf, cap, 3000);
    if (fd >= 0)
        close(fd);
    return n;
}

static int write_poem(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f)
        ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

/* HUP opens the handler again before the new workers start: they recite
 * the poem file as it is now.  A reload whose open fails (the file is
 * gone) keeps the handler as it was, says why, and serving goes on. */
static void test_hup_reopens_handler(void)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/tmp/ss-poem-%ld.txt", (long)getpid());
    CU_ASSERT_FATAL(write_poem(path, "the first poem\n") == 0);
    const char *args[] = {"--workers", "2",      "--handler",
                          "poetry",    "--poem", path,
                          "--delay",   "0",      NULL};
    cli_proc_t p;
    if (start(&p, args) != 0) {
        unlink(path);
        CU_FAIL_FATAL("the server did not start");
    }
    CU_ASSERT(recite(p.address, buf, sizeof(buf)) > 0 &&
              strcmp(buf, "the first poem\n") == 0);
    CU_ASSERT(write_poem(path, "the second poem\n") == 0);
    kill(p.pid, SIGHUP);
    long long t0 = ts_now_ms();
    int second = 0;
    while (!second && ts_now_ms() - t0 < 3000) /* once the old ones left */
        second = recite(p.address, buf, sizeof(buf)) > 0 &&
                 strcmp(buf, "the second poem\n") == 0;
    CU_ASSERT(second);
    unlink(path);
    kill(p.pid, SIGHUP); /* the open fails: the second poem stays */
    ts_sleep_ms(500);
    for (int i = 0; i < 5; i++)
        CU_ASSERT(recite(p.address, buf, sizeof(buf)) > 0 &&
                  strcmp(buf, "the second poem\n") == 0);
    CU_ASSERT_EQUAL(stop(&p, SIGTERM), 0);
    CU_ASSERT(strstr(p.errtext, "reload: poetry: ") != NULL &&
              strstr(p.errtext, "the handler stays as it was") != NULL);
}

/* max-requests: workers are recycled (new pids), no connection is lost,
 * also when the master hands the connections over (accept pass). */
static void check_recycling(const char *strategy)
{
    const char *args[] = {"--workers",
                          "2",
                          "--max-requests",
                          "10",
                          "--max-requests-jitter",
                          "5",
                          "--accept",
                          strategy,
                          "--handler",
                          "thankyou",
                          NULL};
    cli_proc_t p;
    CU_ASSERT_FATAL(start(&p, args) == 0);
    pid_t seen[64];
    int nseen = 0, ok = 0;
    for (int i = 0; i < 100; i++) {
        ok += thanked(p.address);
        pid_t now[8];
        int n = worker_pids(p.pid, now, 8);
        for (int k = 0; k < n && nseen < 64; k++)
            if (!contains(seen, nseen, now[k]))
                seen[nseen++] = now[k];
    }
    CU_ASSERT_EQUAL(ok, 100);
    CU_ASSERT(nseen >= 5); /* 100 connections, at most 15 per worker */
    CU_ASSERT_EQUAL(stop(&p, SIGTERM), 0);
}

static void test_max_requests_recycles(void)
{
    check_recycling("shared");
    check_recycling("pass");
}

/* A sync worker stuck in a handler stops beating: it is replaced. */
static void test_worker_timeout(void)
{
    const char *args[] = {"--workers",        "1",      "--mode",  "sync",
                          "--handler",        "poetry", "--delay", "10000",
                          "--worker-timeout", "0.5",    NULL};
    cli_proc_t p;
    CU_ASSERT_FATAL(start(&p, args) == 0);
    pid_t first, now;
    CU_ASSERT_FATAL(await_workers(p.pid, 1, 2000) == 0);
    worker_pids(p.pid, &first, 1);
    int stuck = ts_connect(p.address, 0); /* the worker now sleeps 10 s */
    char buf[256];
    CU_ASSERT(ts_read_until(stuck, buf, sizeof(buf), "\n", 2000) > 0);
    long long t0 = ts_now_ms();
    int replaced = 0;
    while (!replaced && ts_now_ms() - t0 < 3000) {
        replaced = worker_pids(p.pid, &now, 1) == 1 && now != first;
        ts_sleep_ms(20);
    }
    CU_ASSERT(replaced);
    CU_ASSERT(ts_expect_eof(stuck, 2000) || 1); /* it was killed: gone */
    close(stuck);
    int fd = ts_connect(p.address, 0); /* the new worker serves */
    CU_ASSERT(ts_read_until(fd, buf, sizeof(buf), "\n", 2000) > 0);
    close(fd);
    CU_ASSERT_EQUAL(stop(&p, SIGQUIT), 0);
}

/* ---- Stopping ---------------------------------------------------------- */

/* TERM with a slow connection in flight: it finishes; the master exits 0;
 * the pidfile is there while it runs and gone after. */
static void test_graceful_term(void)
{
    char pidfile[128];
    snprintf(pidfile, sizeof(pidfile), "/tmp/ss-test-%ld.pid", (long)getpid());
    const char *args[] = {"--workers", "2",       "--handler",
                          "poetry",    "--delay", "200",
                          "--pidfile", pidfile,   NULL};
    cli_proc_t p;
    CU_ASSERT_FATAL(start(&p, args) == 0);
    FILE *f = fopen(pidfile, "r");
    long written = 0;
    CU_ASSERT(f && fscanf(f, "%ld", &written) == 1);
    if (f)
        fclose(f);
    CU_ASSERT_EQUAL(written, (long)p.pid);
    int fd = ts_connect(p.address, 0);
    char buf[512];
    CU_ASSERT(ts_read_until(fd, buf, sizeof(buf), "\n", 2000) > 0);
    kill(p.pid, SIGTERM);
    ssize_t n = ts_read_all(fd, buf, sizeof(buf), 3000);
    CU_ASSERT(n > 0 && strstr(buf, "低头思故乡") != NULL); /* the last line */
    close(fd);
    CU_ASSERT_EQUAL(ts_cli_wait(&p, STOP_MS), 0);
    struct stat st;
    CU_ASSERT(stat(pidfile, &st) < 0 && errno == ENOENT);
}

/* QUIT: the in-flight poem is cut off and the master is gone at once. */
static void test_fast_quit(void)
{
    const char *args[] = {"--workers", "2",    "--handler", "poetry",
                          "--delay",   "1000", NULL};
    cli_proc_t p;
    CU_ASSERT_FATAL(start(&p, args) == 0);
    int fd = ts_connect(p.address, 0);
    char buf[512];
    CU_ASSERT(ts_read_until(fd, buf, sizeof(buf), "\n", 2000) > 0);
    long long t0 = ts_now_ms();
    CU_ASSERT_EQUAL(stop(&p, SIGQUIT), 0);
    CU_ASSERT(ts_now_ms() - t0 < 1500);
    CU_ASSERT(ts_read_all(fd, buf, sizeof(buf), 1000) >= 0);
    CU_ASSERT(strstr(buf, "低头思故乡") == NULL); /* never got that far */
    close(fd);
}

/* ---- Modes under workers ----------------------------------------------- */

static void test_modes_under_workers(void)
{
    const char *const modes[] = {"sync",      "fork",  "thread",
                                 "prethread", "event", "prefork"};
    for (int m = 0; m < 6; m++) {
        const char *args[] = {"--workers", "2",        "--mode", modes[m],
                              "--handler", "thankyou", NULL};
        const char *prefork[] = {"--mode", "prefork", "--handler", "thankyou",
                                 NULL};
        cli_proc_t p;
        CU_ASSERT_FATAL(start(&p, m == 5 ? prefork : args) == 0);
        int ok = 0;
        for (int i = 0; i < 50; i++)
            ok += thanked(p.address);
        CU_ASSERT_EQUAL(ok, 50);
        if (m == 5) { /* prefork: 2 x cores sync workers */
            long cores = sysconf(_SC_NPROCESSORS_ONLN);
            CU_ASSERT(await_workers(p.pid, 2 * (int)cores, 2000) == 0);
        }
        CU_ASSERT_EQUAL(stop(&p, SIGTERM), 0);
    }
}

/* ---- Boot failures (through the library) ------------------------------- */

static int refuse_to_boot(ss_server_t *srv)
{
    (void)srv;
    return -1;
}

static void test_boot_failures_stop_the_master(void)
{
    ss_config_t cfg;
    ss_server_t *srv;
    ts_config(&cfg, TS_TCP4, "sync", &ss_handler_thankyou);
    cfg.workers = 2;
    cfg.worker_init = refuse_to_boot;
    CU_ASSERT_FATAL(ss_server_create(&srv, &cfg, NULL, 0) == 0);
    int level = ss_log_level();
    ss_log_set_level(-1); /* the workers' boot errors are expected */
    long long t0 = ts_now_ms();
    CU_ASSERT_EQUAL(ss_server_serve_forever(srv), SS_EWORKERS);
    ss_log_set_level(level);
    CU_ASSERT(ts_now_ms() - t0 < 3000);
    ss_server_close(srv);
    int zombies = -1;
    CU_ASSERT_EQUAL(ts_count_children(&zombies), 0);
    CU_ASSERT_EQUAL(zombies, 0);
}

/* ---- Socket activation and readiness ----------------------------------- */

/* Start the CLI the way systemd would: a listening socket on descriptor
 * 3, LISTEN_PID/LISTEN_FDS naming it, NOTIFY_SOCKET for readiness. */
static int start_activated(cli_proc_t *p, int listener, const char *notify)
{
    int out[2], err[2];
    if (pipe(out) < 0 || pipe(err) < 0)
        return -1;
    memset(p, 0, sizeof(*p));
    p->pid = fork();
    if (p->pid == 0) {
        char pid[32];
        dup2(out[1], 1);
        dup2(err[1], 2);
        dup2(listener, 3);
        fcntl(3, F_SETFD, 0); /* dup2 onto itself keeps close-on-exec */
        for (int fd = 4; fd < 1024; fd++)
            close(fd);
        snprintf(pid, sizeof(pid), "%ld", (long)getpid());
        setenv("LISTEN_PID", pid, 1);
        setenv("LISTEN_FDS", "1", 1);
        setenv("NOTIFY_SOCKET", notify, 1);
        execl(ts_cli_path(), ts_cli_path(), "--listen", "127.0.0.1:1",
              "--handler", "thankyou", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    p->out = out[0];
    p->err = err[0];
    char line[300];
    size_t n = 0;
    while (n + 1 < sizeof(line)) { /* the "listening on" line */
        struct pollfd pfd = {p->out, POLLIN, 0};
        if (poll(&pfd, 1, 5000) != 1 || read(p->out, line + n, 1) != 1)
            return -1;
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    snprintf(p->address, sizeof(p->address), "%.200s", line + 13);
    return strncmp(line, "listening on ", 13) == 0 ? 0 : -1;
}

static int notified(int fd, const char *want)
{
    char buf[64];
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 3000) != 1)
        return 0;
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return strcmp(buf, want) == 0;
}

/* READY=1 with the serving process's pid: systemd (NotifyAccess=all)
 * follows a master that an upgrade started. */
static int notified_ready(int fd, pid_t pid)
{
    char want[64];
    snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld", (long)pid);
    return notified(fd, want);
}

static void test_socket_activation(void)
{
    ss_config_t cfg;
    ss_server_t *holder; /* makes a bound, listening socket to hand over */
    ts_config(&cfg, TS_TCP4, "sync", &ss_handler_echo);
    CU_ASSERT_FATAL(ss_server_create(&holder, &cfg, NULL, 0) == 0);
    char notify_path[100], notify_addr[128];
    ts_unix_path(notify_path, sizeof(notify_path));
    snprintf(notify_addr, sizeof(notify_addr), "unix:%s", notify_path);
    ss_config_t ncfg;
    ss_server_t *notify; /* an unserved datagram socket: we only read it */
    ts_config(&ncfg, TS_UNIX_DGRAM, "sync", &ss_handler_echo);
    ncfg.address = notify_addr;
    CU_ASSERT_FATAL(ss_server_create(&notify, &ncfg, NULL, 0) == 0);

    cli_proc_t p;
    int started = start_activated(&p, ss_server_fd(holder), notify_path);
    if (started < 0) {
        kill(p.pid, SIGKILL);
        ts_cli_wait(&p, 1000);
        fprintf(stderr, "\n  activated server: %s\n", p.errtext);
    }
    CU_ASSERT_FATAL(started == 0);
    CU_ASSERT_STRING_EQUAL(p.address, ss_server_address(holder));
    CU_ASSERT(notified_ready(ss_server_fd(notify), p.pid));
    CU_ASSERT(thanked(p.address));
    kill(p.pid, SIGTERM);
    CU_ASSERT(notified(ss_server_fd(notify), "STOPPING=1"));
    CU_ASSERT_EQUAL(ts_cli_wait(&p, STOP_MS), 0);
    ss_server_close(notify);
    ss_server_close(holder);
}

/* ---- Log rotation ------------------------------------------------------ */

static int file_has(const char *path, const char *text)
{
    char buf[16384];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

/* After the log file is moved away, USR1 makes the master and every worker
 * write to a new file of the same name. */
static void test_usr1_reopens_log(void)
{
    char log[128], moved[140];
    snprintf(log, sizeof(log), "/tmp/ss-test-%ld.log", (long)getpid());
    snprintf(moved, sizeof(moved), "%s.1", log);
    const char *args[] = {"--listen",    "127.0.0.1:0", "--workers",  "2",
                          "--handler",   "http",        "--root",     "/tmp",
                          "--log-level", "info",        "--log-file", log,
                          NULL};
    cli_proc_t p;
    CU_ASSERT_FATAL(ts_cli_start(&p, args, 1) == 0);
    CU_ASSERT(await_workers(p.pid, 2, 2000) == 0);
    CU_ASSERT(rename(log, moved) == 0);
    kill(p.pid, SIGUSR1);
    ts_sleep_ms(300);
    kill(p.pid, SIGURG); /* the master's report: into the new file */
    int fd = ts_connect(p.address, 0); /* a worker logs each request */
    char buf[512];
    ts_send_str(fd, "GET /ss-rotation-probe HTTP/1.0\r\n\r\n");
    ts_read_all(fd, buf, sizeof(buf), 2000);
    close(fd);
    ts_sleep_ms(300);
    CU_ASSERT(file_has(log, "served,"));
    CU_ASSERT(file_has(log, "ss-rotation-probe"));
    CU_ASSERT(!file_has(moved, "ss-rotation-probe"));
    CU_ASSERT_EQUAL(stop(&p, SIGTERM), 0);
    unlink(log);
    unlink(moved);
}

/* The real uid of a process, from /proc; -1 if it is gone. */
static long uid_of(pid_t pid)
{
    char path[64], line[256];
    long uid = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "Uid: %ld", &uid) == 1)
            break;
    if (f)
        fclose(f);
    return uid;
}

/* The uid of pid once it is uid (a new worker drops its privileges a
 * moment after it appears), or what it is when timeout_ms has passed. */
static long await_uid(pid_t pid, long uid, int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    long now;
    while ((now = uid_of(pid)) != uid && ts_now_ms() < deadline)
        ts_sleep_ms(10);
    return now;
}

/* --user nobody: the master keeps its identity, the workers serve as
 * nobody.  Run without root, the workers cannot drop to it: they fail to
 * start and the master stops with status 3. */
static void test_workers_drop_privileges(void)
{
    const char *args[] = {"--workers", "2",        "--user", "nobody",
                          "--handler", "thankyou", NULL};
    cli_proc_t p;
    CU_ASSERT_FATAL(start(&p, args) == 0);
    if (geteuid() != 0) {
        CU_ASSERT_EQUAL(ts_cli_wait(&p, 5000), 3);
        return;
    }
    pid_t workers[4];
    CU_ASSERT_FATAL(await_workers(p.pid, 2, 2000) == 0);
    worker_pids(p.pid, workers, 4);
    CU_ASSERT_EQUAL(uid_of(p.pid), 0);
    CU_ASSERT_EQUAL(await_uid(workers[0], 65534, 2000), 65534);
    CU_ASSERT_EQUAL(await_uid(workers[1], 65534, 2000), 65534);
    CU_ASSERT(thanked(p.address));
    CU_ASSERT_EQUAL(stop(&p, SIGTERM), 0);
}

void register_workers_tests(void)
{
    CU_pSuite s = ts_suite("workers");
    CU_add_test(s, "shared, lock, reuseport, pass: 1000 connections each",
                test_strategies_serve_1000);
    CU_add_test(s, "kill -9 of a worker: replaced within 1 s",
                test_killed_worker_replaced);
    CU_add_test(s, "TTIN and TTOU change the worker count", test_ttin_ttou);
    CU_add_test(s,
                "HUP opens the handler again (a poem re-read); a failed "
                "open keeps the old one",
                test_hup_reopens_handler);
    CU_add_test(s, "HUP replaces every worker, serving throughout",
                test_hup_reload);
    CU_add_test(s, "max-requests recycles workers, losing nothing",
                test_max_requests_recycles);
    CU_add_test(s, "worker-timeout replaces a stuck worker",
                test_worker_timeout);
    CU_add_test(s, "TERM lets a slow connection finish; pidfile",
                test_graceful_term);
    CU_add_test(s, "QUIT stops at once", test_fast_quit);
    CU_add_test(s, "every mode under workers; --mode prefork",
                test_modes_under_workers);
    CU_add_test(s, "workers failing at boot stop the master",
                test_boot_failures_stop_the_master);
    CU_add_test(s, "socket activation: LISTEN_FDS, NOTIFY_SOCKET",
                test_socket_activation);
    CU_add_test(s, "USR1 reopens the log in the master and the workers",
                test_usr1_reopens_log);
    CU_add_test(s, "--user: workers serve as nobody, the master does not",
                test_workers_drop_privileges);
}
