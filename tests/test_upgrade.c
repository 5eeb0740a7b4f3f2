/* test_upgrade.c -- binary upgrades: under steady load the CLI's master,
 * told USR2, starts itself again with the listening sockets, steps down
 * once the new master serves, and no connection is refused or lost; the
 * pidfile and the socket files follow the new master.  A successor that
 * exits or never serves is stopped, and the old master serves on. */
#define _DEFAULT_SOURCE /* prctl's subreaper is Linux's */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define GREETING "Thank you for connecting\n"

/* Orphans -- an upgraded master outliving its parent -- become this
 * process's children, so that the test can reap them. */
static void adopt_orphans(int on)
{
#ifdef PR_SET_CHILD_SUBREAPER
    prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0);
#else
    (void)on;
#endif
}

static long read_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f && fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    if (f)
        fclose(f);
    return pid;
}

/* One conversation: connect, the whole greeting, end of file. */
static int thanked(const char *address)
{
    char buf[64];
    int fd = ts_connect(address, 0);
    if (fd < 0)
        return 0;
    ssize_t n = ts_read_all(fd, buf, sizeof(buf), 3000);
    close(fd);
    return n == (ssize_t)strlen(GREETING) && strcmp(buf, GREETING) == 0;
}

typedef struct load {
    const char *address;
    atomic_int stop, ok, failed;
} load_t;

/* Conversations one after another until told to stop (bounded too). */
static void *keep_calling(void *arg)
{
    load_t *l = arg;
    for (int i = 0; i < 100000 && !atomic_load(&l->stop); i++)
        atomic_fetch_add(thanked(l->address) ? &l->ok : &l->failed, 1);
    return NULL;
}

/* The pid in path once it is not `old`, within timeout_ms; else 0. */
static long await_new_pid(const char *path, long old, int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    long pid;
    while (((pid = read_pid(path)) == old || pid == 0) &&
           ts_now_ms() < deadline)
        ts_sleep_ms(20);
    return pid != old ? pid : 0;
}

/* Reap a process of ours within timeout_ms (SIGKILL past it): its exit
 * status, or -1. */
static int reap_within(pid_t pid, int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (ts_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -1;
        }
        ts_sleep_ms(20);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A datagram socket standing in for systemd's NOTIFY_SOCKET. */
static int notify_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0)
        return -1;
    return fd;
}

/* Every message systemd would have been sent so far, one per line. */
static void drain_notes(int fd, char *buf, size_t cap)
{
    size_t len = strlen(buf);
    char one[128];
    ssize_t n;
    while ((n = recv(fd, one, sizeof(one) - 1, MSG_DONTWAIT)) > 0) {
        one[n] = '\0';
        snprintf(buf + len, cap - len, "%s|", one);
        len = strlen(buf);
    }
}

/* What systemd sees (NotifyAccess=all): the old master ready, then the
 * new one once it serves, and no STOPPING=1 from the old one stepping
 * down -- the service goes on. */
static void check_notes(const char *notes, long old, long fresh)
{
    char want[128];
    snprintf(want, sizeof(want), "READY=1\nMAINPID=%ld|READY=1\nMAINPID=%ld|",
             old, fresh);
    if (!CHECK(strcmp(notes, want) == 0))
        ts_note("systemd was told: %s", notes);
}

static void test_upgrade_under_load(void)
{
    char pidfile[100], sock[100], unix_addr[128];
    snprintf(pidfile, sizeof(pidfile), "/tmp/ss-upgrade-%ld.pid",
             (long)getpid());
    snprintf(unix_addr, sizeof(unix_addr), "unix:%s",
             ts_unix_path(sock, sizeof(sock)));
    const char *args[] = {"--listen",  "127.0.0.1:0", "--listen",  unix_addr,
                          "--workers", "2",           "--mode",    "event",
                          "--handler", "thankyou",    "--pidfile", pidfile,
                          NULL};
    char notify_path[100], notes[1024] = "";
    int notify = notify_socket(ts_unix_path(notify_path, sizeof(notify_path)));
    CU_ASSERT_FATAL(notify >= 0);
    setenv("NOTIFY_SOCKET", notify_path, 1);
    adopt_orphans(1);
    cli_proc_t p;
    int started = ts_cli_start(&p, args, 1);
    unsetenv("NOTIFY_SOCKET");
    CU_ASSERT_FATAL(started == 0);
    load_t load = {.address = p.address};
    pthread_t callers[4];
    for (size_t i = 0; i < COUNT(callers); i++)
        pthread_create(&callers[i], NULL, keep_calling, &load);
    ts_sleep_ms(300);
    snprintf(ts_where, sizeof(ts_where), "upgrade under load");
    int before = atomic_load(&load.ok);
    kill(p.pid, SIGUSR2);
    long fresh = await_new_pid(pidfile, (long)p.pid, 10000);
    CU_ASSERT(fresh > 0);
    CU_ASSERT_EQUAL(ts_cli_wait(&p, 15000), 0); /* the old one steps down */
    ts_sleep_ms(300); /* and the load goes on against the new one */
    atomic_store(&load.stop, 1);
    for (size_t i = 0; i < COUNT(callers); i++)
        pthread_join(callers[i], NULL);
    ts_note("%d conversations, %d during the upgrade, %d failed",
            atomic_load(&load.ok), atomic_load(&load.ok) - before,
            atomic_load(&load.failed));
    CU_ASSERT_EQUAL(atomic_load(&load.failed), 0);
    CU_ASSERT(atomic_load(&load.ok) - before > 50);
    CU_ASSERT(strstr(p.errtext, "serves; this master stops") != NULL);
    CU_ASSERT(thanked(p.address) && thanked(unix_addr));
    drain_notes(notify, notes, sizeof(notes));
    check_notes(notes, (long)p.pid, fresh);
    if (fresh > 0) {
        kill((pid_t)fresh, SIGTERM);
        CU_ASSERT_EQUAL(reap_within((pid_t)fresh, 15000), 0);
    }
    struct stat st;
    CU_ASSERT(stat(pidfile, &st) < 0 && errno == ENOENT);
    CU_ASSERT(stat(sock, &st) < 0 && errno == ENOENT); /* the new one's */
    adopt_orphans(0);
    unlink(pidfile);
    drain_notes(notify, notes, sizeof(notes)); /* the new one stopping */
    CU_ASSERT(strstr(notes, "STOPPING=1") != NULL);
    close(notify);
    unlink(notify_path);
}

/* ---- A successor that fails ---------------------------------------------- */

static ss_server_t *child_server;

static void on_signal(int sig)
{
    if (sig == SIGUSR2)
        ss_server_upgrade(child_server);
    else
        ss_server_shutdown(child_server);
}

/* In a child: a master of two workers whose upgrade starts argv. */
static void failing_master(void *arg)
{
    ss_config_t cfg;
    ts_config(&cfg, TS_TCP4, "thread", &ss_handler_thankyou);
    cfg.workers = 2;
    cfg.upgrade_argv = arg;
    cfg.upgrade_timeout_ms = 300;
    char err[256];
    if (ss_server_create(&child_server, &cfg, err, sizeof(err)) < 0)
        _exit(10);
    signal(SIGUSR2, on_signal);
    signal(SIGTERM, on_signal);
    printf("listening on %s\n", ss_server_address(child_server));
    fflush(stdout);
    int rc = ss_server_serve_forever(child_server);
    ss_server_close(child_server);
    _exit(rc < 0 ? 11 : 0);
}

static void upgrade_fails(const char *const *argv, const char *why)
{
    snprintf(ts_where, sizeof(ts_where), "successor %s", argv[0]);
    cli_proc_t p;
    if (!CHECK(ts_fork_start(&p, failing_master, (void *)argv, 1) == 0))
        return;
    kill(p.pid, SIGUSR2);
    ts_sleep_ms(1000);         /* it exits at once, or its 300 ms run out */
    CHECK(thanked(p.address)); /* the old master serves on */
    kill(p.pid, SIGTERM);
    CHECK(ts_cli_wait(&p, 10000) == 0);
    if (!CHECK(strstr(p.errtext, why) != NULL))
        ts_note("stderr: %s", p.errtext);
    CHECK(strstr(p.errtext, "this master goes on serving") != NULL);
}

static void test_failed_successor_keeps_the_old(void)
{
    static const char *const exits[] = {"false", NULL};
    static const char *const hangs[] = {"sleep", "30", NULL};
    static const char *const missing[] = {"/no/such/program", NULL};
    upgrade_fails(exits, "exited before it served");
    upgrade_fails(hangs, "did not serve in time");
    upgrade_fails(missing, "exited before it served");
}

void register_upgrade_tests(void)
{
    CU_pSuite s = ts_suite("upgrade");
    CU_add_test(s, "USR2 under load: a new master, no connection lost",
                test_upgrade_under_load);
    CU_add_test(s, "a successor that exits or never serves: the old serves on",
                test_failed_successor_keeps_the_old);
}
