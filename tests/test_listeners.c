/* test_listeners.c -- one server on several addresses: every mode serves
 * each of them, streams and datagrams; workers under every accept
 * strategy do too; systemd hands over several sockets; close removes
 * every socket file. */
/* SO_REUSEPORT is not POSIX: glibc shows it with _DEFAULT_SOURCE. */
#define _DEFAULT_SOURCE
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A config on three addresses: 127.0.0.1, ::1 and a Unix socket (for
 * datagrams: UDP on 127.0.0.1 and a Unix datagram socket). */
typedef struct three {
    ss_config_t cfg;
    char unix_addr[128];
    const char *extra[3];
} three_t;

static void three_config(three_t *t, const char *mode, int datagram,
                         int with_unix)
{
    char path[100];
    ts_config(&t->cfg, datagram ? TS_UDP4 : TS_TCP4, mode, &ss_handler_echo);
    snprintf(t->unix_addr, sizeof(t->unix_addr), "unix:%s",
             ts_unix_path(path, sizeof(path)));
    int n = 0;
    if (!datagram)
        t->extra[n++] = "[::1]:0";
    if (with_unix)
        t->extra[n++] = t->unix_addr;
    t->extra[n] = NULL;
    t->cfg.extra_addresses = t->extra;
}

/* One round trip with the server at address: 1 when the echo came back. */
static int echoes(const char *address, int datagram, const char *what)
{
    int fd = ts_connect(address, datagram);
    if (fd < 0)
        return 0;
    char buf[64];
    ssize_t n = -1;
    if (ts_send_str(fd, what) == 0)
        n = datagram
                ? ts_recv_dgram(fd, buf, sizeof(buf) - 1)
                : ts_read_until(fd, buf, sizeof(buf), what, TS_IO_TIMEOUT_MS);
    if (n >= 0)
        buf[n] = '\0';
    if (datagram)
        close(fd);
    else
        ts_hang_up(fd);
    return n == (ssize_t)strlen(what) && strcmp(buf, what) == 0;
}

/* Each listener, in the order given, answers; count is what it reports. */
static void check_each_listener(ss_server_t *srv, int count, int datagram)
{
    CHECK(ss_server_listener_count(srv) == count);
    CHECK(ss_server_listener_address(srv, count) == NULL);
    CHECK(ss_server_listener_fd(srv, -1) == -1);
    CHECK(strcmp(ss_server_listener_address(srv, 0), ss_server_address(srv)) ==
          0);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < count; i++) {
            const char *address = ss_server_listener_address(srv, i);
            CHECK(address != NULL);
            if (address && !CHECK(echoes(address, datagram, "hello\n")))
                ts_note("listener %d (%s) did not answer", i, address);
        }
}

static void test_every_mode_serves_every_listener(void)
{
    for (int m = 0; m < TS_NMODES; m++)
        for (int datagram = 0; datagram <= 1; datagram++) {
            snprintf(ts_where, sizeof(ts_where), "%s, %s", ts_modes[m],
                     datagram ? "udp4 + unix-dgram" : "tcp4 + tcp6 + unix");
            three_t t;
            three_config(&t, ts_modes[m], datagram, 1);
            test_server_t ts;
            if (!CHECK(ts_start(&ts, &t.cfg) == 0))
                continue;
            CHECK(strstr(ss_server_listener_address(ts.srv, datagram ? 1 : 2),
                         "unix:/tmp/") != NULL);
            check_each_listener(ts.srv, datagram ? 2 : 3, datagram);
            ts_stop(&ts);
        }
}

/* close removes every socket file the server made. */
static void test_close_removes_every_socket_file(void)
{
    three_t t;
    three_config(&t, "thread", 0, 1);
    char second[128];
    char path[100];
    snprintf(second, sizeof(second), "unix:%s",
             ts_unix_path(path, sizeof(path)));
    const char *extra[] = {t.unix_addr, second, NULL};
    t.cfg.extra_addresses = extra;
    test_server_t ts;
    CU_ASSERT_FATAL(ts_start(&ts, &t.cfg) == 0);
    struct stat st;
    CU_ASSERT(stat(t.unix_addr + 5, &st) == 0);
    CU_ASSERT(stat(second + 5, &st) == 0);
    ts_stop(&ts);
    CU_ASSERT(stat(t.unix_addr + 5, &st) < 0 && errno == ENOENT);
    CU_ASSERT(stat(second + 5, &st) < 0 && errno == ENOENT);
}

/* A bad extra address fails create, naming it, and leaves nothing: not
 * the first listener, not its socket file. */
static void test_bad_extra_address_leaves_nothing(void)
{
    three_t t;
    three_config(&t, "sync", 0, 0);
    char first[128], path[100];
    snprintf(first, sizeof(first), "unix:%s", ts_unix_path(path, sizeof(path)));
    t.cfg.address = first;
    const char *extra[] = {"127.0.0.1:0", "unix:/no/such/dir/s.sock", NULL};
    t.cfg.extra_addresses = extra;
    int fds = ts_count_fds();
    ss_server_t *srv;
    char err[256] = "";
    CU_ASSERT(ss_server_create(&srv, &t.cfg, err, sizeof(err)) == -ENOENT);
    CU_ASSERT(strstr(err, "/no/such/dir/s.sock") != NULL);
    CU_ASSERT(ts_count_fds() == fds);
    struct stat st;
    CU_ASSERT(stat(first + 5, &st) < 0);
    const char *many[SS_MAX_LISTENERS + 1];
    for (int i = 0; i < SS_MAX_LISTENERS; i++)
        many[i] = "127.0.0.1:0";
    many[SS_MAX_LISTENERS] = NULL; /* with the first: one too many */
    t.cfg.address = "127.0.0.1:0";
    t.cfg.extra_addresses = many;
    CU_ASSERT(ss_server_create(&srv, &t.cfg, err, sizeof(err)) == -EINVAL);
    CU_ASSERT(strstr(err, "at most") != NULL);
    CU_ASSERT(ts_count_fds() == fds);
}

/* ---- Workers: a master in a child process ------------------------------ */

static ss_server_t *child_server;

static void on_term(int sig)
{
    (void)sig;
    ss_server_shutdown(child_server);
}

/* Create the server in a child and serve; its listener addresses come
 * back through a pipe, one per line.  The child's pid, or -1. */
static pid_t start_master(const ss_config_t *cfg, char addrs[][128], int n)
{
    int p[2]; /* a socket pair: ts_read_all reads sockets */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        if (ss_server_create(&child_server, cfg, NULL, 0) < 0)
            _exit(1);
        signal(SIGTERM, on_term);
        for (int i = 0; i < ss_server_listener_count(child_server); i++)
            dprintf(p[1], "%s\n", ss_server_listener_address(child_server, i));
        close(p[1]);
        int rc = ss_server_serve_forever(child_server);
        ss_server_close(child_server);
        _exit(rc < 0 ? 2 : 0);
    }
    close(p[1]);
    char buf[1024] = "";
    ssize_t got = pid > 0 ? ts_read_all(p[0], buf, sizeof(buf), 5000) : -1;
    close(p[0]);
    char *next = buf;
    for (int i = 0; i < n; i++) { /* one address a line */
        char *end = strchr(next, '\n');
        if (end)
            *end = '\0';
        snprintf(addrs[i], 128, "%.127s", end ? next : "");
        next = end ? end + 1 : next;
    }
    if (got <= 0)
        ts_note("the master did not start (read %zd)", got);
    return pid;
}

static void test_workers_serve_every_listener(void)
{
    const ss_accept_id_t strategies[] = {SS_ACCEPT_SHARED, SS_ACCEPT_LOCK,
                                         SS_ACCEPT_REUSEPORT, SS_ACCEPT_PASS};
    for (size_t k = 0; k < COUNT(strategies); k++) {
        int unix_too = strategies[k] != SS_ACCEPT_REUSEPORT;
        snprintf(ts_where, sizeof(ts_where), "2 event workers, accept %s",
                 ss_choice_name(SS_CHOICE_ACCEPT, strategies[k]));
        three_t t;
        three_config(&t, "event", 0, unix_too);
        t.cfg.workers = 2;
        t.cfg.accept = strategies[k];
        int n = unix_too ? 3 : 2;
        char addrs[3][128];
        pid_t pid = start_master(&t.cfg, addrs, n);
        if (!CHECK(pid > 0))
            continue;
        for (int round = 0; round < 4; round++)
            for (int i = 0; i < n; i++)
                if (!CHECK(echoes(addrs[i], 0, "through a worker\n")))
                    ts_note("listener %d (%s) did not answer", i, addrs[i]);
        kill(pid, SIGTERM);
        int status = -1;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

/* ---- Socket activation with two sockets -------------------------------- */

/* A listening TCP socket on 127.0.0.1 (with SO_REUSEPORT, as systemd's
 * ReusePort=yes makes it, when reuse_port), moved to descriptor `at`. */
static int listen_at(int at, char *address, size_t cap, int reuse_port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int on = 1;
    if (fd < 0 ||
        (reuse_port &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0) ||
        bind(fd, (struct sockaddr *)&sin, len) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        return -1;
    if (fd != at) { /* socket() may have given `at` itself */
        if (dup2(fd, at) < 0)
            return -1;
        close(fd);
    }
    snprintf(address, cap, "127.0.0.1:%d", ntohs(sin.sin_port));
    return 0;
}

static void activation_env(int count)
{
    char text[32];
    snprintf(text, sizeof(text), "%ld", (long)getpid());
    setenv("LISTEN_PID", text, 1);
    snprintf(text, sizeof(text), "%d", count);
    setenv("LISTEN_FDS", text, 1);
}

/* In a child, whose descriptors 3 and 4 may be taken over freely. */
static void activated_child(void)
{
    char a3[64], a4[64];
    if (listen_at(3, a3, sizeof(a3), 0) < 0 ||
        listen_at(4, a4, sizeof(a4), 0) < 0)
        _exit(10);
    activation_env(2);
    ss_config_t cfg;
    ts_config(&cfg, TS_TCP4, "sync", &ss_handler_echo);
    cfg.address = "127.0.0.1:1"; /* not bound: the inherited ones are */
    ss_server_t *srv;
    if (ss_server_create(&srv, &cfg, NULL, 0) < 0)
        _exit(11);
    int ok = ss_server_listener_count(srv) == 2 &&
             strcmp(ss_server_listener_address(srv, 0), a3) == 0 &&
             strcmp(ss_server_listener_address(srv, 1), a4) == 0 &&
             ss_server_listener_fd(srv, 1) == 4 && !getenv("LISTEN_FDS");
    ss_server_close(srv);
    _exit(ok ? 0 : 12);
}

/* Workers with accept reuseport each bind beside the listener: an
 * inherited one without SO_REUSEPORT is refused at start, naming the fix
 * (it used to fail in every worker, logged forever); with it, they run. */
static void reuseport_child(void)
{
    char a3[64], err[256] = "";
    ss_config_t cfg;
    ss_server_t *srv;
    ts_config(&cfg, TS_TCP4, "event", &ss_handler_echo);
    cfg.workers = 2;
    cfg.accept = SS_ACCEPT_REUSEPORT;
    if (listen_at(3, a3, sizeof(a3), 0) < 0)
        _exit(10);
    activation_env(1);
    if (ss_server_create(&srv, &cfg, err, sizeof(err)) != -EINVAL ||
        !strstr(err, "ReusePort=yes") || !strstr(err, a3))
        _exit(11);
    if (listen_at(3, a3, sizeof(a3), 1) < 0)
        _exit(10);
    activation_env(1);
    if (ss_server_create(&srv, &cfg, err, sizeof(err)) < 0)
        _exit(12);
    ss_server_close(srv);
    _exit(0);
}

/* Run child in a forked process: its exit status (10: setup, 11 and up:
 * what went wrong, as the child says), or -1. */
static int in_child(void (*child)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        child();
    int status = -1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_socket_activation_hands_over_every_socket(void)
{
    CU_ASSERT_EQUAL(in_child(activated_child), 0); /* 11: create, 12: the
                                                       listeners were not
                                                       as handed over */
}

static void test_inherited_socket_without_reuseport(void)
{
    CU_ASSERT_EQUAL(in_child(reuseport_child), 0); /* 11: not refused as
                                                       it should, 12:
                                                       refused with it */
}

void register_listeners_tests(void)
{
    CU_pSuite s = ts_suite("listeners");
    CU_add_test(s, "every mode serves each of several listeners",
                test_every_mode_serves_every_listener);
    CU_add_test(s, "close removes every socket file",
                test_close_removes_every_socket_file);
    CU_add_test(s, "a bad extra address fails create and leaves nothing",
                test_bad_extra_address_leaves_nothing);
    CU_add_test(s, "workers serve every listener, every accept strategy",
                test_workers_serve_every_listener);
    CU_add_test(s, "socket activation hands over every socket",
                test_socket_activation_hands_over_every_socket);
    CU_add_test(s,
                "accept reuseport: an inherited socket without it is "
                "refused at start",
                test_inherited_socket_without_reuseport);
}
