/* test_errors.c -- every way ss_server_create can fail through the public
 * API, each tried with no message buffer, an empty one, a 1-byte one and a
 * 256-byte one: a negative errno, *out NULL, a message that names what
 * failed, the buffer never overrun, and nothing left behind (descriptor,
 * socket file, child).  Then ss_strerror and the ss_choice_* lookups. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TS_SANITIZED 1
#endif
#endif

static int quiet_handle(ss_request_t *req)
{
    (void)req;
    return 0;
}

static const ss_handler_t plain = {.name = "plain", .handle = quiet_handle};

static void base_config(ss_config_t *cfg)
{
    ss_config_init(cfg);
    cfg->address = "127.0.0.1:0";
    cfg->handler = &plain;
}

/* ---- One failing create, four ways ------------------------------------- */

#define CANARY 0x5a
#define CANARY_LEN 16

static int canary_intact(const unsigned char *p)
{
    for (int i = 0; i < CANARY_LEN; i++)
        if (p[i] != CANARY)
            return 0;
    return 1;
}

/* Called before each create (socket activation needs its variables set
 * again: create removes them). */
typedef void (*prep_fn)(void);

/* Create must fail with want (or any negative errno when want is 0), and
 * the 256-byte message must contain each of words (NULL-terminated).
 * The server's Unix socket file, if any, must be as it was before. */
static void expect_failure(const ss_config_t *cfg, prep_fn prep, int want,
                           const char *const *words)
{
    const char *path = cfg->address && !strncmp(cfg->address, "unix:", 5)
                           ? cfg->address + 5
                           : NULL;
    struct stat st;
    int existed = path && lstat(path, &st) == 0;
    int fds = ts_count_fds();
    int zombies, children = ts_count_children(&zombies);
    char msg[256 + CANARY_LEN];
    int rcs[4];

    for (int way = 0; way < 4; way++) {
        static const size_t lens[] = {0, 0, 1, 256};
        static const char *const names[] = {"err NULL", "errlen 0",
                                            "1-byte err", "256-byte err"};
        char where[sizeof(ts_where)];
        snprintf(where, sizeof(where), "%s", ts_where);
        snprintf(ts_where + strlen(ts_where),
                 sizeof(ts_where) - strlen(ts_where), ", %s", names[way]);
        memset(msg, CANARY, sizeof(msg));
        if (way >= 2)
            memset(msg, 'X', lens[way]); /* must become a message */
        if (prep)
            prep();
        ss_server_t *srv = (ss_server_t *)&rcs; /* must become NULL */
        int rc = ss_server_create(&srv, cfg, way == 0 ? NULL : msg, lens[way]);
        rcs[way] = rc;
        CHECK(rc < 0);
        if (want)
            CHECK(rc == want);
        CHECK(srv == NULL);
        if (rc == 0 && srv) /* created after all: do not leak it */
            ss_server_close(srv);
        if (way == 1)
            CHECK(canary_intact((unsigned char *)msg)); /* untouched */
        if (way == 2) {
            CHECK(msg[0] == '\0');
            CHECK(canary_intact((unsigned char *)msg + 1));
        }
        if (way == 3) {
            CHECK(canary_intact((unsigned char *)msg + 256));
            CHECK(memchr(msg, '\0', 256) != NULL);
            msg[255] = '\0';
            CHECK(msg[0] != '\0' && msg[0] != 'X');
            for (size_t i = 0; words && words[i]; i++)
                if (!CHECK(strstr(msg, words[i]) != NULL))
                    ts_note("message '%s' lacks '%s'", msg, words[i]);
        }
        CHECK(ts_count_fds() == fds);
        if (path) {
            int exists = lstat(path, &st) == 0;
            if (!CHECK(exists == existed))
                ts_note("socket file %s %s", path,
                        exists ? "left behind" : "removed");
            if (exists && !existed)
                unlink(path);
        }
        snprintf(ts_where, sizeof(ts_where), "%s", where);
    }
    for (int way = 1; way < 4; way++)
        CHECK(rcs[way] == rcs[0]); /* the buffer changes nothing else */
    int now_zombies;
    CHECK(ts_count_children(&now_zombies) == children);
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- The configuration ------------------------------------------------- */

static void test_no_handler(void)
{
    ss_config_t cfg;
    base_config(&cfg);
    cfg.handler = NULL;
    snprintf(ts_where, sizeof(ts_where), "no handler");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("handler"));
}

static void test_no_address(void)
{
    ss_config_t cfg;
    base_config(&cfg);
    cfg.address = NULL;
    snprintf(ts_where, sizeof(ts_where), "no address");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("address"));
}

static void test_bad_address(void)
{
    static const char *const bad[] = {"127.0.0.1",  "unix:",          "[::1:80",
                                      "host:99999", "127.0.0.1:port", "",
                                      "a:b:1"};
    for (size_t i = 0; i < COUNT(bad); i++) {
        ss_config_t cfg;
        base_config(&cfg);
        cfg.address = bad[i];
        snprintf(ts_where, sizeof(ts_where), "address '%s'", bad[i]);
        expect_failure(&cfg, NULL, -EINVAL, WORDS("invalid address", bad[i]));
    }
}

static void test_unresolvable_host(void)
{
    ss_config_t cfg;
    base_config(&cfg);
    cfg.address = "no-such-host.invalid:0";
    snprintf(ts_where, sizeof(ts_where), "unresolvable host");
    /* "resolve ..." -- or, should a resolver answer for .invalid, the
     * bind of an address that is not this machine's: the same errno. */
    expect_failure(&cfg, NULL, -EADDRNOTAVAIL, WORDS("no-such-host.invalid:0"));
}

typedef struct {
    int opens, closes;
} counts_t;

static int counting_open(ss_server_t *srv, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    counts_t *c = ss_server_context(srv);
    c->opens++;
    return 0;
}

static void counting_close(ss_server_t *srv)
{
    counts_t *c = ss_server_context(srv);
    c->closes++;
}

static const ss_handler_t counting = {.name = "counting",
                                      .handle = quiet_handle,
                                      .open = counting_open,
                                      .close = counting_close};

/* A second server on a bound address: bind fails, the first one keeps its
 * socket (and its socket file), and the handler's open is never run. */
static void address_in_use(const char *address, int datagram, int reuse)
{
    ss_config_t cfg;
    base_config(&cfg);
    cfg.address = address;
    cfg.datagram = datagram;
    cfg.reuse_address = reuse;
    ss_server_t *first;
    char err[256] = "";
    if (!CHECK(ss_server_create(&first, &cfg, err, sizeof(err)) == 0)) {
        ts_note("%s", err);
        return;
    }
    char bound[256];
    snprintf(bound, sizeof(bound), "%s", ss_server_address(first));
    counts_t counts = {0, 0};
    cfg.address = bound;
    cfg.handler = &counting;
    cfg.context = &counts;
    expect_failure(&cfg, NULL, -EADDRINUSE, WORDS("bind", bound));
    CHECK(counts.opens == 0 && counts.closes == 0);
    if (!datagram) { /* the first server still listens */
        int fd = ts_connect(bound, 0);
        CHECK(fd >= 0);
        if (fd >= 0)
            close(fd);
    }
    ss_server_close(first);
}

static void test_address_in_use(void)
{
    char path[128], unix_addr[160];
    snprintf(unix_addr, sizeof(unix_addr), "unix:%s",
             ts_unix_path(path, sizeof(path)));
    snprintf(ts_where, sizeof(ts_where), "tcp, reuse_address off");
    address_in_use("127.0.0.1:0", 0, 0);
    snprintf(ts_where, sizeof(ts_where), "udp, reuse_address off");
    address_in_use("127.0.0.1:0", 1, 0);
    /* reuse_address replaces a stale socket file, never a live one */
    snprintf(ts_where, sizeof(ts_where), "unix, live, reuse_address on");
    address_in_use(unix_addr, 0, 1);
    struct stat st;
    CHECK(lstat(path, &st) < 0); /* the first server's close removed it */
}

static void test_unix_missing_directory(void)
{
    char address[160];
    snprintf(address, sizeof(address), "unix:/tmp/ss-no-such-dir-%ld/sock",
             (long)getpid());
    for (int datagram = 0; datagram < 2; datagram++) {
        ss_config_t cfg;
        base_config(&cfg);
        cfg.address = address;
        cfg.datagram = datagram;
        snprintf(ts_where, sizeof(ts_where), "unix %s, missing directory",
                 datagram ? "datagram" : "stream");
        expect_failure(&cfg, NULL, -ENOENT, WORDS("bind", address));
    }
}

static void test_enum_out_of_range(void)
{
    ss_config_t cfg;
    base_config(&cfg);
    cfg.mode = (ss_mode_id_t)99;
    snprintf(ts_where, sizeof(ts_where), "mode 99");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("mode", "99"));

    base_config(&cfg);
    cfg.mode = (ss_mode_id_t)-1;
    snprintf(ts_where, sizeof(ts_where), "mode -1");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("mode"));

    base_config(&cfg);
    cfg.accept = (ss_accept_id_t)99;
    snprintf(ts_where, sizeof(ts_where), "accept 99");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("accept", "99"));

    base_config(&cfg);
    cfg.pool_accept = (ss_pool_accept_id_t)99;
    snprintf(ts_where, sizeof(ts_where), "pool_accept 99");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("pool accept", "99"));

    base_config(&cfg);
    cfg.mode = SS_MODE_EVENT;
    cfg.poller = (ss_poller_id_t)99;
    snprintf(ts_where, sizeof(ts_where), "poller 99");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("poller", "99"));

    base_config(&cfg);
    cfg.poller = (ss_poller_id_t)-1;
    snprintf(ts_where, sizeof(ts_where), "poller -1");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("poller"));
}

static void test_workers_out_of_range(void)
{
    static const int bad[] = {257, 1000, -1};
    for (size_t i = 0; i < COUNT(bad); i++) {
        ss_config_t cfg;
        base_config(&cfg);
        cfg.workers = bad[i];
        char value[16];
        snprintf(value, sizeof(value), "%d", bad[i]);
        snprintf(ts_where, sizeof(ts_where), "workers %d", bad[i]);
        expect_failure(&cfg, NULL, -EINVAL, WORDS("workers", "256", value));
    }
}

static void test_accept_mismatch(void)
{
    ss_config_t cfg;
    base_config(&cfg);
    cfg.workers = 2;
    cfg.accept = SS_ACCEPT_PASS;
    cfg.datagram = 1;
    snprintf(ts_where, sizeof(ts_where), "accept pass, udp");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("pass", "stream"));

    char path[128], address[160];
    snprintf(address, sizeof(address), "unix:%s",
             ts_unix_path(path, sizeof(path)));
    base_config(&cfg);
    cfg.workers = 2;
    cfg.accept = SS_ACCEPT_REUSEPORT;
    cfg.address = address;
    snprintf(ts_where, sizeof(ts_where), "accept reuseport, unix");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("reuseport"));
}

/* ---- After the bind: identity, the mode, the handler ------------------- *
 * Unix addresses here, so that the socket file made by the bind must be
 * removed again. */

static void unix_config(ss_config_t *cfg, char *address, size_t cap)
{
    char path[128];
    base_config(cfg);
    snprintf(address, cap, "unix:%s", ts_unix_path(path, sizeof(path)));
    cfg->address = address;
}

static void test_unknown_user_group(void)
{
    char address[160];
    ss_config_t cfg;
    unix_config(&cfg, address, sizeof(address));
    cfg.user = "no-such-user-xyz";
    snprintf(ts_where, sizeof(ts_where), "unknown user");
    expect_failure(&cfg, NULL, -EINVAL,
                   WORDS("no such user", "no-such-user-xyz"));

    unix_config(&cfg, address, sizeof(address));
    cfg.group = "no-such-group-xyz";
    snprintf(ts_where, sizeof(ts_where), "unknown group");
    expect_failure(&cfg, NULL, -EINVAL,
                   WORDS("no such group", "no-such-group-xyz"));

    /* A known user with an unknown group: nothing is dropped first. */
    unix_config(&cfg, address, sizeof(address));
    cfg.user = "root";
    cfg.group = "no-such-group-xyz";
    cfg.workers = 2;
    snprintf(ts_where, sizeof(ts_where), "root, unknown group, workers");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("no such group"));
    CHECK(geteuid() == getuid());
}

static void test_refuse_root(void)
{
    char address[160];
    ss_config_t cfg;
    /* Serving as the user root is refused whoever runs this. */
    unix_config(&cfg, address, sizeof(address));
    cfg.refuse_root = 1;
    cfg.user = "root";
    snprintf(ts_where, sizeof(ts_where), "refuse_root, user root");
    expect_failure(&cfg, NULL, -EPERM, WORDS("root"));

    if (geteuid() != 0) {
        CU_PASS("not running as root: refuse_root without a user skipped");
        return;
    }
    unix_config(&cfg, address, sizeof(address));
    cfg.refuse_root = 1;
    snprintf(ts_where, sizeof(ts_where), "refuse_root, running as root");
    expect_failure(&cfg, NULL, -EPERM, WORDS("root"));
}

static void test_mode_open_fails(void)
{
    char address[160];
    ss_config_t cfg;
    unix_config(&cfg, address, sizeof(address));
    cfg.mode = SS_MODE_THREAD;
    cfg.thread_stack_size = 1; /* below PTHREAD_STACK_MIN */
    snprintf(ts_where, sizeof(ts_where), "thread mode, 1-byte stacks");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("thread mode"));

    unix_config(&cfg, address, sizeof(address));
    cfg.mode = SS_MODE_PRETHREAD;
    cfg.pool_threads = 2;
    cfg.thread_stack_size = 1;
    snprintf(ts_where, sizeof(ts_where), "prethread mode, 1-byte stacks");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("prethread mode"));
}

/* Run fn in a child process, so that a crash fails this test and not the
 * whole run: its exit status, or 128 + the signal that ended it, or -1
 * (killed after timeout_ms). */
static int run_in_child(int (*fn)(void), int timeout_ms)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn());
    int status;
    long long end = ts_now_ms() + timeout_ms;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            break;
        if (got < 0)
            return -1;
        if (ts_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        ts_sleep_ms(10);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The prethread pool's threads cannot start (a stack mprotect refuses):
 * create fails, and what did start is ended. */
static int prethread_no_threads(void)
{
    ss_config_t cfg;
    base_config(&cfg);
    cfg.mode = SS_MODE_PRETHREAD;
    cfg.pool_threads = 2;
    cfg.thread_stack_size = (size_t)1 << 46; /* 64 TiB */
    ss_server_t *srv;
    char err[256] = "";
    int fds = ts_count_fds();
    int rc = ss_server_create(&srv, &cfg, err, sizeof(err));
    if (rc == 0) {
        ss_server_close(srv);
        fprintf(stderr, "prethread with 64 TiB stacks: created\n");
        return 1;
    }
    if (!strstr(err, "prethread mode") || ts_count_fds() != fds) {
        fprintf(stderr, "prethread with 64 TiB stacks: '%s', fds %d -> %d\n",
                err, fds, ts_count_fds());
        return 2;
    }
    return 0;
}

/* (On glibc this passes even though, when pthread_create fails, the pool
 * then joins a thread that never started -- pthread_join(0) happens to
 * return ESRCH there; elsewhere it may crash.) */
static void test_prethread_threads_fail(void)
{
    int status = run_in_child(prethread_no_threads, 20000);
    if (!CHECK(status == 0))
        ts_note("create with pthread_create failing: child status %d "
                "(139: SIGSEGV; see prethread's start_threads)",
                status);
}

static void test_datagram_buffer_fails(void)
{
#ifdef TS_SANITIZED
    CU_PASS("an impossible malloc is a sanitizer's error: skipped");
#else
    char address[160];
    ss_config_t cfg;
    unix_config(&cfg, address, sizeof(address));
    cfg.datagram = 1;
    cfg.max_datagram = (size_t)1 << 60;
    snprintf(ts_where, sizeof(ts_where), "datagram buffer of 2^60 bytes");
    expect_failure(&cfg, NULL, -ENOMEM, WORDS("memory"));
#endif
}

/* ---- The handler's open ------------------------------------------------- */

static int open_says_why(ss_server_t *srv, char *err, size_t errlen)
{
    counts_t *c = ss_server_context(srv);
    if (c)
        c->opens++;
    snprintf(err, errlen, "plain: cannot load /no/such/file");
    return -ENOENT;
}

static int open_silent(ss_server_t *srv, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    counts_t *c = ss_server_context(srv);
    if (c)
        c->opens++;
    return -EACCES;
}

static int open_positive(ss_server_t *srv, char *err, size_t errlen)
{
    (void)srv;
    (void)err;
    (void)errlen;
    return 1;
}

static const ss_handler_t says_why = {.name = "says-why",
                                      .handle = quiet_handle,
                                      .open = open_says_why,
                                      .close = counting_close};
static const ss_handler_t silent = {.name = "silent",
                                    .handle = quiet_handle,
                                    .open = open_silent,
                                    .close = counting_close};
static const ss_handler_t positive = {
    .name = "positive", .handle = quiet_handle, .open = open_positive};

static void test_handler_open_fails(void)
{
    char address[160];
    for (int workers = 0; workers <= 2; workers += 2) {
        counts_t counts = {0, 0};
        ss_config_t cfg;
        unix_config(&cfg, address, sizeof(address));
        cfg.handler = &says_why;
        cfg.context = &counts;
        cfg.workers = workers;
        snprintf(ts_where, sizeof(ts_where), "open with a message, %d workers",
                 workers);
        expect_failure(&cfg, NULL, -ENOENT,
                       WORDS("plain: cannot load /no/such/file"));
        CHECK(counts.opens == 4 && counts.closes == 0);

        counts = (counts_t){0, 0};
        unix_config(&cfg, address, sizeof(address));
        cfg.handler = &silent;
        cfg.context = &counts;
        cfg.workers = workers;
        snprintf(ts_where, sizeof(ts_where), "open without one, %d workers",
                 workers);
        expect_failure(&cfg, NULL, -EACCES, WORDS("silent", strerror(EACCES)));
        CHECK(counts.opens == 4 && counts.closes == 0);
    }
    ss_config_t cfg;
    base_config(&cfg);
    cfg.handler = &positive;
    snprintf(ts_where, sizeof(ts_where), "open returns 1");
    expect_failure(&cfg, NULL, -EINVAL, WORDS("positive"));
}

/* ---- Socket activation with the wrong descriptor 3 ---------------------- */

static void activate_env(void)
{
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
}

/* Put fd at descriptor 3 (saving what was there), and back. */
static int saved3 = -1;

static void fd3_install(int fd)
{
    saved3 = fcntl(3, F_DUPFD_CLOEXEC, 10); /* -1: 3 was not open */
    if (fd != 3) {
        dup2(fd, 3);
        close(fd);
    }
}

static void fd3_restore(void)
{
    if (saved3 >= 0) {
        dup2(saved3, 3);
        close(saved3);
    } else {
        close(3);
    }
    saved3 = -1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
}

static void test_activation_wrong_fd(void)
{
    static const struct {
        const char *what;
        int datagram; /* the server's kind */
        int fd_kind;  /* 0: a pipe, 1: a UDP socket, 2: a TCP socket */
    } cases[] = {
        {"stream server, descriptor 3 a pipe", 0, 0},
        {"stream server, descriptor 3 a UDP socket", 0, 1},
        {"datagram server, descriptor 3 a TCP socket", 1, 2},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        int fd, p[2] = {-1, -1};
        if (cases[i].fd_kind == 0) {
            if (!CHECK(pipe(p) == 0))
                return;
            fd = p[0];
        } else {
            fd = socket(AF_INET,
                        cases[i].fd_kind == 1 ? SOCK_DGRAM : SOCK_STREAM, 0);
            if (!CHECK(fd >= 0))
                return;
        }
        fd3_install(fd);
        ss_config_t cfg;
        base_config(&cfg);
        cfg.datagram = cases[i].datagram;
        snprintf(ts_where, sizeof(ts_where), "%s", cases[i].what);
        expect_failure(&cfg, activate_env, -ENOTSOCK,
                       WORDS("LISTEN_FDS", "descriptor 3",
                             cases[i].datagram ? "datagram" : "stream"));
        /* descriptor 3 is the caller's: still open */
        CHECK(fcntl(3, F_GETFD) >= 0);
        CHECK(getenv("LISTEN_PID") == NULL); /* create took them */
        fd3_restore();
        if (p[1] >= 0)
            close(p[1]);
    }
}

/* ---- Error texts and choices -------------------------------------------- */

static void test_strerror(void)
{
    CU_ASSERT_STRING_EQUAL(ss_strerror(-ENOENT), strerror(ENOENT));
    CU_ASSERT_STRING_EQUAL(ss_strerror(-EADDRINUSE), strerror(EADDRINUSE));
    const char *w = ss_strerror(SS_EWORKERS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT(strlen(w) > 5);
    CU_ASSERT(strstr(w, "Unknown error") == NULL);
    CU_ASSERT(strstr(w, "worker") != NULL);
    CU_ASSERT_PTR_NOT_NULL(ss_strerror(0));
    CU_ASSERT_PTR_NOT_NULL(ss_strerror(1));
}

static void test_choices(void)
{
    static const struct {
        ss_choice_t kind;
        const char *what;
        const char *default_name; /* NULL: any of its names */
    } kinds[] = {
        {SS_CHOICE_MODE, "mode", "thread"},
        {SS_CHOICE_ACCEPT, "accept", "shared"},
        {SS_CHOICE_POOL_ACCEPT, "pool_accept", "queue"},
        {SS_CHOICE_POLLER, "poller", NULL},
        {SS_CHOICE_PROXY, "proxy_protocol", "off"},
    };
    for (size_t k = 0; k < COUNT(kinds); k++) {
        ss_choice_t kind = kinds[k].kind;
        snprintf(ts_where, sizeof(ts_where), "%s", kinds[k].what);
        int count = ss_choice_count(kind);
        CHECK(count >= 2 && count < 100);
        int default_is_a_value = 0;
        const char *def = ss_choice_name(kind, 0);
        if (!CHECK(def != NULL))
            continue;
        CHECK(ss_choice_summary(kind, 0) != NULL);
        if (kinds[k].default_name)
            CHECK(strcmp(def, kinds[k].default_name) == 0);
        for (int v = 1; v <= count && v < 100; v++) {
            const char *name = ss_choice_name(kind, v);
            const char *summary = ss_choice_summary(kind, v);
#ifndef __linux__
            if (kind == SS_CHOICE_POLLER && v == SS_POLLER_EPOLL)
                continue;
#endif
            if (!CHECK(name && *name && summary && *summary))
                continue;
            CHECK(ss_choice_value(kind, name) == v);
            if (!strcmp(name, def))
                default_is_a_value = 1;
            for (int u = 1; u < v; u++) { /* names are distinct */
                const char *other = ss_choice_name(kind, u);
                CHECK(!other || strcmp(other, name) != 0);
            }
        }
        /* the default is one of the values, or (off) a value of its own */
        CHECK(default_is_a_value || ss_choice_value(kind, def) == 0);
        CHECK(ss_choice_name(kind, count + 1) == NULL);
        CHECK(ss_choice_summary(kind, count + 1) == NULL);
        CHECK(ss_choice_name(kind, -1) == NULL);
        CHECK(ss_choice_value(kind, "no-such-choice") == -1);
        CHECK(ss_choice_value(kind, "") == -1);
        CHECK(ss_choice_value(kind, NULL) == -1);
    }
    CU_ASSERT_EQUAL(ss_choice_value(SS_CHOICE_MODE, "event"), SS_MODE_EVENT);
    CU_ASSERT_EQUAL(ss_choice_value(SS_CHOICE_ACCEPT, "pass"), SS_ACCEPT_PASS);
    CU_ASSERT_EQUAL(ss_choice_value(SS_CHOICE_POLLER, "select"),
                    SS_POLLER_SELECT);
    CU_ASSERT_EQUAL(ss_choice_value(SS_CHOICE_PROXY, "off"), SS_PROXY_OFF);
    CU_ASSERT_EQUAL(ss_choice_value(SS_CHOICE_PROXY, "auto"), SS_PROXY_AUTO);
    /* the names of one kind are not another's */
    CU_ASSERT_EQUAL(ss_choice_value(SS_CHOICE_MODE, "shared"), -1);
}

/* A kind that does not exist has no values and no names.  In a child: an
 * out-of-bounds read there is a sanitizer's abort. */
static int unknown_kinds(void)
{
    static const int bad[] = {SS_CHOICE_PROXY + 1, 99, -1};
    int failed = 0;
    for (size_t i = 0; i < COUNT(bad); i++) {
        ss_choice_t kind = (ss_choice_t)bad[i];
        int count = ss_choice_count(kind);
        if (count != 0) {
            fprintf(stderr, "kind %d: ss_choice_count is %d, not 0\n", bad[i],
                    count);
            failed = 1;
        }
        for (int v = 0; v <= 1; v++)
            if (ss_choice_name(kind, v) || ss_choice_summary(kind, v)) {
                fprintf(stderr, "kind %d: value %d has a name\n", bad[i], v);
                failed = 1;
            }
        if (ss_choice_value(kind, "thread") != -1) {
            fprintf(stderr, "kind %d: 'thread' has a value\n", bad[i]);
            failed = 1;
        }
    }
    return failed;
}

static void test_unknown_choice_kind(void)
{
    snprintf(ts_where, sizeof(ts_where), "unknown kinds %d, 99, -1",
             SS_CHOICE_PROXY + 1);
    int status = run_in_child(unknown_kinds, 10000);
    if (!CHECK(status == 0))
        ts_note("unknown ss_choice_t kinds: child status %d (1: wrong "
                "answers or a sanitizer's report, printed above; 139: "
                "SIGSEGV)",
                status);
}

void register_errors_tests(void)
{
    CU_pSuite s = ts_suite("errors");
    CU_add_test(s, "create: no handler", test_no_handler);
    CU_add_test(s, "create: no address", test_no_address);
    CU_add_test(s, "create: bad address syntax", test_bad_address);
    CU_add_test(s, "create: unresolvable host", test_unresolvable_host);
    CU_add_test(s, "create: address in use (tcp, udp, live unix socket)",
                test_address_in_use);
    CU_add_test(s, "create: unix path in a missing directory",
                test_unix_missing_directory);
    CU_add_test(s, "create: mode, accept, pool_accept, poller out of range",
                test_enum_out_of_range);
    CU_add_test(s, "create: workers above 256 or negative",
                test_workers_out_of_range);
    CU_add_test(s, "create: accept pass on datagrams, reuseport on unix",
                test_accept_mismatch);
    CU_add_test(s, "create: unknown user or group", test_unknown_user_group);
    CU_add_test(s, "create: refuse_root", test_refuse_root);
    CU_add_test(s, "create: the mode's open fails", test_mode_open_fails);
    CU_add_test(s, "create: prethread's threads cannot start",
                test_prethread_threads_fail);
    CU_add_test(s, "create: no memory for the datagram buffer",
                test_datagram_buffer_fails);
    CU_add_test(s, "create: the handler's open fails", test_handler_open_fails);
    CU_add_test(s, "create: socket activation, descriptor 3 of a wrong kind",
                test_activation_wrong_fd);
    CU_add_test(s, "ss_strerror: errno values and SS_EWORKERS", test_strerror);
    CU_add_test(s, "ss_choice_*: names, summaries, values, defaults",
                test_choices);
    CU_add_test(s, "ss_choice_*: an unknown kind has no values",
                test_unknown_choice_kind);
}
