/* test_poetry.c -- the poetry handler (seed 000's slow poetry server) and
 * its two example clients: the poem byte for byte and paced, --poem files
 * and their errors, the one-line datagram reply, and the point of it all:
 * sync mode serves clients one poem after another, fork and thread at
 * once; the async client fetches three poems in one poem's time. */
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE1 "床前明月光，\n"
#define POEM LINE1 "疑是地上霜。\n举头望明月，\n低头思故乡。\n"
#define POEM_LINES 4
#define MAX_DGRAM_REPLY 512 /* poetry.c: a datagram reply's cap */
#define MAX_FILE (1024 * 1024)

#define T TS_IO_TIMEOUT_MS

static const ts_kind_t streams[] = {TS_TCP4, TS_TCP6, TS_UNIX};
static const ts_kind_t tcp4[] = {TS_TCP4};
static const ts_kind_t dgrams[] = {TS_UDP4, TS_UNIX_DGRAM};

/* ---- Checks that say which case failed --------------------------------- */

/* The options and mode of one case. */
typedef struct poetry_case {
    struct {
        int delay_ms;     /* --delay; < 0: not given */
        const char *poem; /* --poem; NULL: not given */
    } opts;
    char delay[16];
    ss_option_value_t values[3]; /* opts as the server's handler options */
    const char *mode;
    ts_kind_t kind;
    int grace_ms; /* 0: ts_config's */
} poetry_case_t;

typedef void (*case_fn)(poetry_case_t *c, const void *arg);

/* Run fn for every kind in kinds and every mode, with --delay delay_ms
 * and --poem poem. */
static void each_case(const ts_kind_t *kinds, size_t nkinds, int delay_ms,
                      const char *poem, case_fn fn, const void *arg)
{
    for (size_t k = 0; k < nkinds; k++)
        for (size_t m = 0; m < TS_NMODES; m++) {
            poetry_case_t c = {.mode = ts_modes[m], .kind = kinds[k]};
            c.opts.delay_ms = delay_ms;
            c.opts.poem = poem;
            snprintf(ts_where, sizeof(ts_where), "%s/%s",
                     ts_kind_name(kinds[k]), ts_modes[m]);
            fn(&c, arg);
        }
}

/* The case's options as the server's handler options. */
static const ss_option_value_t *values_of(poetry_case_t *c)
{
    int n = 0;
    snprintf(c->delay, sizeof(c->delay), "%d", c->opts.delay_ms);
    if (c->opts.delay_ms >= 0)
        c->values[n++] = (ss_option_value_t){"delay", c->delay};
    if (c->opts.poem)
        c->values[n++] = (ss_option_value_t){"poem", c->opts.poem};
    c->values[n] = (ss_option_value_t){NULL, NULL};
    return c->values;
}

static int start(test_server_t *ts, poetry_case_t *c)
{
    ss_config_t cfg;
    ts_config(&cfg, c->kind, c->mode, &ss_handler_poetry);
    cfg.options = values_of(c);
    cfg.pool_threads = 8; /* a pool as large as any case's client count */
    if (c->grace_ms)
        cfg.grace_ms = c->grace_ms;
    return CHECK(ts_start(ts, &cfg) == 0);
}

/* ---- Client side -------------------------------------------------------- */

static int read_all_is(int fd, const char *want, size_t len)
{
    char *buf = malloc(len + 2);
    if (!buf)
        return 0;
    ssize_t n = ts_read_all(fd, buf, len + 2, T);
    int ok = n == (ssize_t)len && memcmp(buf, want, len) == 0;
    if (!ok)
        ts_note("read %zd bytes, wanted %zu", n, len);
    free(buf);
    return ok;
}

/* ---- Poem files --------------------------------------------------------- */

/* Write len bytes to a fresh file under /tmp; its path goes into path. */
static int write_file(char *path, size_t cap, const void *data, size_t len)
{
    static int counter;
    snprintf(path, cap, "/tmp/ss-test-poem-%ld-%d.txt", (long)getpid(),
             ++counter);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = fwrite(data, 1, len, f);
    return fclose(f) == 0 && put == len ? 0 : -1;
}

/* ---- The poem, byte for byte -------------------------------------------- */

static void whole_poem_case(poetry_case_t *c, const void *want)
{
    test_server_t ts;
    if (!start(&ts, c))
        return;
    for (int i = 0; i < 2; i++) {
        int fd = ts_connect(ts.address, 0);
        if (CHECK(fd >= 0)) {
            CHECK(read_all_is(fd, want, strlen(want)));
            ts_hang_up(fd);
        }
    }
    ts_stop(&ts);
}

static void test_builtin_poem(void)
{
    each_case(streams, COUNT(streams), 10, NULL, whole_poem_case, POEM);
}

/* One line, then a pause of about the delay, then the next: the first
 * line arrives alone and at once, the poem ends after the pauses. */
static void paced_case(poetry_case_t *c, const void *arg)
{
    (void)arg;
    test_server_t ts;
    if (!start(&ts, c))
        return;
    int fd = ts_connect(ts.address, 0);
    if (CHECK(fd >= 0)) {
        char buf[512];
        long long t0 = ts_now_ms();
        ssize_t n = ts_read_until(fd, buf, sizeof(buf), "\n", T);
        long long first = ts_now_ms() - t0;
        CHECK(n == (ssize_t)strlen(LINE1) && strcmp(buf, LINE1) == 0);
        CHECK(first < c->opts.delay_ms);
        n = ts_read_all(fd, buf, sizeof(buf), T);
        long long total = ts_now_ms() - t0;
        static const char rest[] = POEM;
        CHECK(n == (ssize_t)(strlen(POEM) - strlen(LINE1)) &&
              strcmp(buf, &rest[strlen(LINE1)]) == 0);
        if (!CHECK(total >= (POEM_LINES - 1) * c->opts.delay_ms * 9 / 10 &&
                   total < (POEM_LINES - 1) * c->opts.delay_ms * 3))
            ts_note("first line after %lld ms, poem after %lld ms", first,
                    total);
        ts_hang_up(fd);
    }
    ts_stop(&ts);
}

static void test_paced(void)
{
    each_case(tcp4, 1, 100, NULL, paced_case, NULL);
}

/* ---- --poem FILE ------------------------------------------------------ */

static void test_poem_file(void)
{
    static const char text[] = "one\r\ntwo\n\n  three, and UTF-8: 诗\nlast";
    static const char served[] = "one\r\ntwo\n\n  three, and UTF-8: 诗\nlast\n";
    char path[128];
    if (!CHECK(write_file(path, sizeof(path), text, strlen(text)) == 0))
        return;
    each_case(streams, COUNT(streams), 5, path, whole_poem_case, served);
    unlink(path);
}

/* The largest poem file allowed, 1 MiB of 1 KiB lines, in full. */
static void test_poem_file_limit(void)
{
    char *text = malloc(MAX_FILE);
    char path[128];
    if (!CHECK(text != NULL))
        return;
    for (size_t i = 0; i < MAX_FILE; i++)
        text[i] = i % 1024 == 1023 ? '\n' : (char)('a' + i % 26);
    if (CHECK(write_file(path, sizeof(path), text, MAX_FILE) == 0)) {
        poetry_case_t c = {.mode = "thread", .kind = TS_TCP4};
        c.opts.delay_ms = 0;
        c.opts.poem = path;
        snprintf(ts_where, sizeof(ts_where), "tcp4/thread, 1 MiB poem");
        test_server_t ts;
        if (start(&ts, &c)) {
            int fd = ts_connect(ts.address, 0);
            if (CHECK(fd >= 0)) {
                CHECK(read_all_is(fd, text, MAX_FILE));
                ts_hang_up(fd);
            }
            ts_stop(&ts);
        }
        unlink(path);
    }
    free(text);
}

/* open fails, naming the file and the reason; nothing is left behind. */
static void expect_open_fails(const char *path, const char *reason)
{
    ss_option_value_t opts[] = {{"poem", path}, {NULL, NULL}};
    ss_config_t cfg;
    ts_config(&cfg, TS_TCP4, "thread", &ss_handler_poetry);
    cfg.options = opts;
    ss_server_t *srv = NULL;
    char err[512] = "";
    snprintf(ts_where, sizeof(ts_where), "--poem %.60s", path);
    int fds = ts_count_fds();
    int rc = ss_server_create(&srv, &cfg, err, sizeof(err));
    CHECK(rc < 0 && srv == NULL);
    if (!CHECK(strstr(err, path) && strstr(err, reason)))
        ts_note("message: %s", err);
    CHECK(ts_count_fds() == fds);
}

static void test_poem_file_errors(void)
{
    char big[128], empty[128], dir[128];
    char *text = calloc(1, MAX_FILE + 1);
    if (!CHECK(text != NULL))
        return;
    memset(text, 'x', MAX_FILE + 1);
    int ok = CHECK(write_file(big, sizeof(big), text, MAX_FILE + 1) == 0) &&
             CHECK(write_file(empty, sizeof(empty), "", 0) == 0);
    free(text);
    snprintf(dir, sizeof(dir), "/tmp/ss-test-poem-dir-%ld", (long)getpid());
    if (ok && CHECK(mkdir(dir, 0700) == 0)) {
        expect_open_fails("/nonexistent/poem.txt", strerror(ENOENT));
        expect_open_fails(dir, "not a regular file");
        expect_open_fails(big, "1 MiB");
        expect_open_fails(empty, "empty");
        rmdir(dir);
    }
    unlink(big);
    unlink(empty);
}

/* The CLI reports it and exits 1. */
static void test_cli_poem_error(void)
{
    static const char *const args[] = {"--handler", "poetry",
                                       "--listen",  "127.0.0.1:0",
                                       "--poem",    "/nonexistent/poem.txt",
                                       NULL};
    cli_proc_t p;
    snprintf(ts_where, sizeof(ts_where), "CLI --poem /nonexistent/poem.txt");
    if (!CHECK(ts_cli_start(&p, args, 0) == 0))
        return;
    CHECK(ts_cli_wait(&p, T) == 1);
    if (!CHECK(strstr(p.errtext, "/nonexistent/poem.txt") &&
               strstr(p.errtext, strerror(ENOENT))))
        ts_note("stderr: %s", p.errtext);
    CHECK(strstr(p.outtext, "listening") == NULL);
}

/* ---- Datagrams: the first line only ------------------------------------ */

static void dgram_case(poetry_case_t *c, const void *want_text)
{
    const char *want = want_text;
    test_server_t ts;
    if (!start(&ts, c))
        return;
    int fd = ts_connect(ts.address, 1);
    if (CHECK(fd >= 0)) {
        static const char *const sends[] = {"", "poem please", "x\n"};
        char buf[8192];
        for (size_t i = 0; i < COUNT(sends); i++) {
            CHECK(send(fd, sends[i], strlen(sends[i]), 0) ==
                  (ssize_t)strlen(sends[i]));
            ssize_t n = ts_recv_dgram(fd, buf, sizeof(buf));
            if (!CHECK(n == (ssize_t)strlen(want) &&
                       memcmp(buf, want, strlen(want)) == 0))
                ts_note("reply to \"%s\": %zd bytes", sends[i], n);
        }
        CHECK(ts_quiet(fd)); /* one reply per datagram, no more */
        ts_hang_up(fd);
    }
    ts_stop(&ts);
}

static void test_dgram_first_line(void)
{
    each_case(dgrams, COUNT(dgrams), 100, NULL, dgram_case, LINE1);
}

/* A first line over the cap is cut, and never inside a UTF-8 character:
 * "a" then 2-byte "é"s puts byte 512 inside one, so 511 bytes go. */
static void test_dgram_long_first_line(void)
{
    char text[4096], want[MAX_DGRAM_REPLY];
    size_t len = 0;
    text[len++] = 'a';
    while (len < 2001)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "é");
    text[len++] = '\n';
    memcpy(text + len, "second\n", 7);
    len += 7;
    snprintf(want, sizeof(want), "%.*s", MAX_DGRAM_REPLY - 1, text);
    char path[128];
    if (!CHECK(write_file(path, sizeof(path), text, len) == 0))
        return;
    each_case(dgrams, COUNT(dgrams), 0, path, dgram_case, want);
    unlink(path);
}

/* ---- Clients gone, server stopping ------------------------------------- */

/* A client that leaves after the first line does not keep the server
 * from the next one (in sync mode there is only the one loop): with a
 * 20-line poem, the next client's first line comes long before the
 * 19 pauses of the gone client's poem would be over. */
#define LONG_POEM_LINES 20

static void gone_case(poetry_case_t *c, const void *poem)
{
    test_server_t ts;
    if (!start(&ts, c))
        return;
    char buf[512];
    int fd = ts_connect(ts.address, 0);
    if (CHECK(fd >= 0)) {
        CHECK(ts_read_until(fd, buf, sizeof(buf), "\n", T) > 0);
        ts_hang_up(fd);
    }
    long long t0 = ts_now_ms();
    fd = ts_connect(ts.address, 0);
    if (CHECK(fd >= 0)) {
        CHECK(ts_read_until(fd, buf, sizeof(buf), "\n", T) > 0);
        long long first = ts_now_ms() - t0;
        if (!CHECK(first < (LONG_POEM_LINES - 1) * c->opts.delay_ms / 2))
            ts_note("the next client's first line after %lld ms", first);
        size_t len = strlen(buf);
        CHECK(len < strlen(poem) && memcmp(buf, poem, len) == 0 &&
              read_all_is(fd, (const char *)poem + len, strlen(poem) - len));
        ts_hang_up(fd);
    }
    ts_stop(&ts);
}

static void test_client_gone(void)
{
    char text[LONG_POEM_LINES * 16], path[128];
    size_t len = 0;
    for (int i = 1; i <= LONG_POEM_LINES; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "line %d\n", i);
    if (!CHECK(write_file(path, sizeof(path), text, len) == 0))
        return;
    each_case(tcp4, 1, 25, path, gone_case, text);
    unlink(path);
}

/* A pause is a wait like any other: when the server stops, the grace
 * period over, the poem ends there. */
static void stop_case(poetry_case_t *c, const void *arg)
{
    (void)arg;
    c->grace_ms = 200;
    test_server_t ts;
    if (!start(&ts, c))
        return;
    int fd = ts_connect(ts.address, 0);
    char buf[512];
    if (CHECK(fd >= 0) && CHECK(ts_read_until(fd, buf, sizeof(buf), "\n", T) ==
                                (ssize_t)strlen(LINE1))) {
        long long t0 = ts_now_ms();
        ts_stop(&ts);
        long long took = ts_now_ms() - t0;
        if (!CHECK(took < 3000))
            ts_note("stopping took %lld ms", took);
        CHECK(ts_read_all(fd, buf, sizeof(buf), T) == 0); /* no more */
    } else {
        ts_stop(&ts);
    }
    if (fd >= 0)
        ts_hang_up(fd);
}

static void test_stop_mid_poem(void)
{
    each_case(tcp4, 1, 60000, NULL, stop_case, NULL);
}

/* ---- Modes: one after another, or all at once --------------------------- */

#define CLIENTS 5

typedef struct reader {
    int fd;
    char buf[256];
    size_t len;
} reader_t;

/* Read every client to its end at once (poll), closing each at its EOF
 * so that a sync server is not kept waiting for it.  0 when all ended. */
static int read_all_clients(reader_t *r, int n, int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    for (int open = n; open > 0;) {
        struct pollfd pfd[CLIENTS];
        for (int i = 0; i < n; i++)
            pfd[i] = (struct pollfd){r[i].fd, POLLIN, 0};
        long long left = deadline - ts_now_ms();
        if (left <= 0 || poll(pfd, (nfds_t)n, (int)left) <= 0)
            return -1;
        for (int i = 0; i < n; i++) {
            if (!pfd[i].revents)
                continue;
            ssize_t k = recv(r[i].fd, r[i].buf + r[i].len,
                             sizeof(r[i].buf) - 1 - r[i].len, 0);
            if (k > 0) {
                r[i].len += (size_t)k;
                continue;
            }
            ts_hang_up(r[i].fd);
            r[i].fd = -1; /* poll skips it */
            open--;
        }
    }
    return 0;
}

/* CLIENTS connect together; the time until the last poem has ended. */
static long long serve_clients(poetry_case_t *c)
{
    test_server_t ts;
    reader_t r[CLIENTS];
    if (!start(&ts, c))
        return -1;
    long long t0 = ts_now_ms();
    int ok = 1;
    for (int i = 0; i < CLIENTS; i++) {
        r[i] = (reader_t){ts_connect(ts.address, 0), "", 0};
        ok = CHECK(r[i].fd >= 0) && ok;
    }
    ok = ok && CHECK(read_all_clients(r, CLIENTS, 15000) == 0);
    long long took = ts_now_ms() - t0;
    for (int i = 0; i < CLIENTS; i++) {
        if (ok)
            CHECK(r[i].len == strlen(POEM) &&
                  memcmp(r[i].buf, POEM, r[i].len) == 0);
        if (r[i].fd >= 0)
            ts_hang_up(r[i].fd);
    }
    ts_stop(&ts);
    return ok ? took : -1;
}

static void modes_case(poetry_case_t *c, const void *arg)
{
    (void)arg;
    long long poem_ms = (POEM_LINES - 1) * c->opts.delay_ms;
    long long took = serve_clients(c);
    int sync = strcmp(c->mode, "sync") == 0;
    if (took >= 0 &&
        !CHECK(sync ? took >= CLIENTS * poem_ms * 9 / 10 : took < 2 * poem_ms))
        ts_note("%d clients took %lld ms; one poem is %lld ms", CLIENTS, took,
                poem_ms);
}

static void test_modes(void)
{
    each_case(tcp4, 1, 50, NULL, modes_case, NULL);
}

/* ---- The example clients ------------------------------------------------ */

#define SERVERS 3
#define EXAMPLE_DELAY "100"
#define EXAMPLE_POEM_MS ((POEM_LINES - 1) * 100)

/* Run an example client against the servers: its reported elapsed time
 * in ms, or -1 with the reason checked.  Every task must report the whole
 * poem. */
static long long run_client(const char *name, cli_proc_t *servers)
{
    char path[512];
    const char *args[SERVERS + 2] = {"--quiet"};
    for (int i = 0; i < SERVERS; i++)
        args[i + 1] = servers[i].address;
    cli_proc_t p;
    snprintf(ts_where, sizeof(ts_where), "%s", name);
    if (!CHECK(ts_proc_start(&p, ts_example_path(path, sizeof(path), name),
                             args, 0) == 0))
        return -1;
    if (!CHECK(ts_cli_wait(&p, 15000) == 0 && p.errlen == 0)) {
        ts_note("stdout: %s\nstderr: %s", p.outtext, p.errtext);
        return -1;
    }
    for (int i = 0; i < SERVERS; i++) {
        char line[320];
        snprintf(line, sizeof(line), "task %d: %zu bytes from %s\n", i + 1,
                 strlen(POEM), servers[i].address);
        if (!CHECK(strstr(p.outtext, line)))
            ts_note("no \"%.*s\" in:\n%s", (int)strlen(line) - 1, line,
                    p.outtext);
    }
    char want[64];
    double seconds = -1;
    snprintf(want, sizeof(want), "total: %d of %d poems, %zu bytes in ",
             SERVERS, SERVERS, SERVERS * strlen(POEM));
    const char *total = strstr(p.outtext, want);
    if (!CHECK(total && sscanf(total + strlen(want), "%lf s", &seconds) == 1))
        ts_note("no summary in:\n%s", p.outtext);
    return seconds < 0 ? -1 : (long long)(seconds * 1000);
}

static void test_examples(void)
{
    cli_proc_t servers[SERVERS];
    int started = 0;
    for (; started < SERVERS; started++) {
        static const char *const args[] = {
            "--handler",   "poetry",      "--listen", "127.0.0.1:0", "--delay",
            EXAMPLE_DELAY, "--log-level", "error",    NULL};
        if (!CHECK(ts_cli_start(&servers[started], args, 1) == 0))
            break;
    }
    if (started == SERVERS) {
        long long sync_ms = run_client("poetry_client_sync", servers);
        long long async_ms = run_client("poetry_client_async", servers);
        snprintf(ts_where, sizeof(ts_where), "examples");
        if (!CHECK(sync_ms >= SERVERS * EXAMPLE_POEM_MS * 9 / 10 &&
                   async_ms >= 0 && async_ms < 2 * EXAMPLE_POEM_MS))
            ts_note("sync client %lld ms, async %lld ms; one poem is %d ms",
                    sync_ms, async_ms, EXAMPLE_POEM_MS);
    }
    for (int i = 0; i < started; i++) {
        kill(servers[i].pid, SIGTERM);
        CHECK(ts_cli_wait(&servers[i], T) == 0);
        if (!CHECK(servers[i].errlen == 0)) /* at --log-level error */
            ts_note("server stderr: %s", servers[i].errtext);
    }
}

void register_poetry_tests(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"poetry: built-in poem, every stream transport and mode",
         test_builtin_poem},
        {"poetry: one line at a time, --delay apart", test_paced},
        {"poetry: --poem file served, a last \\n added", test_poem_file},
        {"poetry: a 1 MiB poem file, in full", test_poem_file_limit},
        {"poetry: missing, directory, too big, empty file: open fails",
         test_poem_file_errors},
        {"poetry: CLI --poem missing file exits 1 naming it",
         test_cli_poem_error},
        {"poetry: a datagram gets the first line only", test_dgram_first_line},
        {"poetry: datagram reply cut at 512 bytes, whole characters",
         test_dgram_long_first_line},
        {"poetry: a client gone mid-poem, the next one served",
         test_client_gone},
        {"poetry: stopping the server ends a paced poem", test_stop_mid_poem},
        {"poetry: sync serves one poem after another, fork/thread at once",
         test_modes},
        {"poetry: async example client in one poem's time, sync in three",
         test_examples},
    };
    CU_pSuite suite = ts_suite("poetry");
    for (size_t i = 0; suite && i < COUNT(tests); i++)
        CU_add_test(suite, tests[i].name, tests[i].fn);
}
