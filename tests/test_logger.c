/* test_logger.c -- the logger handler (seed 001's select server, Twisted's
 * SimpleLogger), through the CLI as a real process: what it prints on its
 * standard output, line for line, with each client's own address; long
 * and hostile lines; many clients at once, in threads and in children,
 * without a log line broken or lost. */
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LINE 3840 /* logger.c: longest line logged whole */
#define CUT_MARK " [truncated]"

#define T TS_IO_TIMEOUT_MS
#define OUT_CAP (4 * 1024 * 1024) /* all a run may log */

static const char *const modes[] = {"sync", "fork", "thread", "prethread",
                                    "event"}; /* the CLI's --mode names */

/* ---- Checks that say which case failed --------------------------------- */

/* ---- The logger as a process, its output read as it comes --------------- *
 * A reader thread drains its standard output all along: a full pipe would
 * block the server's writes, and with them its clients. */

typedef struct logger_run {
    cli_proc_t p;
    pthread_t reader;
    pthread_mutex_t lock;
    char *out; /* after the "listening on" line */
    size_t len;
} logger_run_t;

/* Until end of file (the server and all its children gone) or 30 s. */
static void *drain_output(void *arg)
{
    logger_run_t *run = arg;
    char buf[65536];
    long long deadline = ts_now_ms() + 30000;
    while (ts_now_ms() < deadline) {
        struct pollfd pfd = {run->p.out, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = read(run->p.out, buf, sizeof(buf));
        if (n <= 0)
            break;
        pthread_mutex_lock(&run->lock);
        size_t take =
            (size_t)n < OUT_CAP - run->len ? (size_t)n : OUT_CAP - run->len;
        memcpy(run->out + run->len, buf, take);
        run->len += take;
        pthread_mutex_unlock(&run->lock);
    }
    return NULL;
}

/* The CLI serving logger at address in mode (extra: one more flag). */
static int logger_begin(logger_run_t *run, const char *mode,
                        const char *address, const char *extra)
{
    const char *args[] = {"--handler", "logger", "--mode",      mode,
                          "--listen",  address,  "--log-level", "error",
                          extra,       NULL};
    memset(run, 0, sizeof(*run));
    run->out = calloc(1, OUT_CAP + 1);
    if (!CHECK(run->out != NULL))
        return 0;
    if (!CHECK(ts_cli_start(&run->p, args, 1) == 0)) {
        free(run->out);
        return 0;
    }
    pthread_mutex_init(&run->lock, NULL);
    if (CHECK(pthread_create(&run->reader, NULL, drain_output, run) == 0))
        return 1;
    ts_cli_wait(&run->p, 100);
    free(run->out);
    return 0;
}

/* Wait until the output holds text: 1, or 0 after timeout_ms. */
static int logged(logger_run_t *run, const char *text, int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&run->lock);
        int found = strstr(run->out, text) != NULL;
        pthread_mutex_unlock(&run->lock);
        if (found || ts_now_ms() >= deadline)
            return found;
        ts_sleep_ms(10);
    }
}

/* SIGTERM, then everything it printed: the exit status must be 0.  The
 * caller frees run->out. */
static void logger_end(logger_run_t *run)
{
    kill(run->p.pid, SIGTERM);
    pthread_join(run->reader, NULL);
    pthread_mutex_destroy(&run->lock);
    if (!CHECK(ts_cli_wait(&run->p, T) == 0))
        ts_note("stderr: %s", run->p.errtext);
    CHECK(run->p.outlen == 0);      /* the reader got it all */
    if (!CHECK(run->p.errlen == 0)) /* nothing at --log-level error */
        ts_note("stderr: %s", run->p.errtext);
}

/* ---- Clients ------------------------------------------------------------ */

/* Send, half-close, and wait for the server to close: it sends nothing,
 * and by then it has logged the disconnection. */
static void talk_and_leave(int fd, const char *text, size_t len)
{
    char buf[64];
    CHECK(ts_send_bytes(fd, text, len) == 0);
    CHECK(shutdown(fd, SHUT_WR) == 0);
    CHECK(ts_read_all(fd, buf, sizeof(buf), T) == 0);
    ts_hang_up(fd);
}

/* ---- Expected output ---------------------------------------------------- */

typedef struct text {
    char *s;
    size_t len, cap;
} text_t;

static void text_add(text_t *t, const char *fmt, ...) SS_PRINTF(2, 3);
static void text_add(text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = (t->len + (size_t)n + 1) * 2;
        char *s = realloc(t->s, cap);
        if (!s)
            return;
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static void text_fill(text_t *t, char c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        text_add(t, "%c", c);
}

/* Compare the whole output; on a difference, say where it starts. */
static void output_is(const char *got, size_t len, const char *want)
{
    size_t i = 0, wlen = strlen(want);
    while (i < len && i < wlen && got[i] == want[i])
        i++;
    if (!CHECK(len == wlen && i == wlen))
        ts_note("output differs at byte %zu of %zu (wanted %zu):\n got: %.80s\n"
                "want: %.80s",
                i, len, wlen, got + i, want + i);
}

/* ---- One client, every stream transport --------------------------------- */

typedef struct dialogue {
    const char *send;          /* what the client sends... */
    size_t send_len;           /* ...this long; 0: strlen(send) */
    const char *const *logged; /* the lines logged after "ADDR: " */
} dialogue_t;

/* Run one client through the logger in mode on address, then compare the
 * whole output with the dialogue's. */
static void dialogue_case(const char *mode, const char *address,
                          const dialogue_t *d)
{
    logger_run_t run;
    if (!logger_begin(&run, mode, address, NULL))
        return;
    char name[128];
    text_t want = {0};
    int fd = ts_connect(run.p.address, 0);
    if (CHECK(fd >= 0)) {
        ts_client_name(fd, name, sizeof(name));
        text_add(&want, "%s connected\n", name);
        for (size_t i = 0; d->logged[i]; i++)
            text_add(&want, "%s: %s\n", name, d->logged[i]);
        text_add(&want, "%s disconnected\n", name);
        talk_and_leave(fd, d->send,
                       d->send_len ? d->send_len : strlen(d->send));
    }
    logger_end(&run);
    if (fd >= 0 && CHECK(want.s != NULL))
        output_is(run.out, run.len, want.s);
    free(want.s);
    free(run.out);
}

static const char *const basic_logged[] = {"hello",
                                           "with CRLF",
                                           "",
                                           "中文 UTF-8",
                                           "tab\there",
                                           "  spaces  ",
                                           "no newline at the end",
                                           NULL};
static const dialogue_t basic = {
    "hello\nwith CRLF\r\n\n中文 UTF-8\ntab\there\n  spaces  \n"
    "no newline at the end",
    0, basic_logged};

static void test_dialogue(void)
{
    static const struct {
        const char *kind, *address;
    } listens[] = {
        {"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}, {"unix", NULL}};
    for (size_t k = 0; k < COUNT(listens); k++)
        for (size_t m = 0; m < COUNT(modes); m++) {
            char unix_address[128], path[100];
            const char *address = listens[k].address;
            if (!address) {
                snprintf(unix_address, sizeof(unix_address), "unix:%s",
                         ts_unix_path(path, sizeof(path)));
                address = unix_address;
            }
            snprintf(ts_where, sizeof(ts_where), "%s/%s", listens[k].kind,
                     modes[m]);
            dialogue_case(modes[m], address, &basic);
        }
}

/* Control characters other than tab become '?': no forged lines, no
 * terminal escapes. */
static void test_control_characters(void)
{
    static const char sent[] = "a\001b\033[2Jc\177d\re\n"
                               "\r\r\n"
                               "x\0y\n";
    static const char *const logged[] = {"a?b?[2Jc?d?e", "?", "x?y", NULL};
    static const dialogue_t d = {sent, sizeof(sent) - 1, logged};
    for (size_t m = 0; m < COUNT(modes); m++) {
        snprintf(ts_where, sizeof(ts_where), "tcp4/%s", modes[m]);
        dialogue_case(modes[m], "127.0.0.1:0", &d);
    }
}

/* ---- Long lines --------------------------------------------------------- */

/* Lines at and over the cap: logged whole up to MAX_LINE bytes, beyond
 * that cut with the mark and the rest skipped; the next line is fine. */
static void test_long_lines(void)
{
    static const struct {
        size_t len;
        const char *end;
    } lines[] = {{MAX_LINE, "\n"},      {MAX_LINE, "\r\n"},
                 {MAX_LINE + 1, "\n"},  {MAX_LINE + 2, "\r\n"},
                 {MAX_LINE + 3, "\n"},  {20000, "\n"},
                 {MAX_LINE - 1, "\r\n"}};
    text_t sent = {0}, logged[COUNT(lines)];
    const char *items[COUNT(lines) + 2] = {NULL};
    for (size_t i = 0; i < COUNT(lines); i++) {
        char fill = (char)('a' + i);
        size_t keep = lines[i].len > MAX_LINE ? MAX_LINE : lines[i].len;
        text_fill(&sent, fill, lines[i].len);
        text_add(&sent, "%s", lines[i].end);
        logged[i] = (text_t){0};
        text_fill(&logged[i], fill, keep);
        text_add(&logged[i], "%s", lines[i].len > MAX_LINE ? CUT_MARK : "");
        items[i] = logged[i].s;
    }
    text_add(&sent, "after\n");
    items[COUNT(lines)] = "after";
    dialogue_t d = {sent.s, 0, items};
    for (size_t m = 0; m < COUNT(modes); m++) {
        snprintf(ts_where, sizeof(ts_where), "tcp4/%s", modes[m]);
        dialogue_case(modes[m], "127.0.0.1:0", &d);
    }
    free(sent.s);
    for (size_t i = 0; i < COUNT(lines); i++)
        free(logged[i].s);
}

/* ---- Many clients at once ------------------------------------------------ */

#define CLIENTS 4
#define LINES 60

/* Line i of client c: tagged with both, of a length that varies up to
 * over the cap. */
static size_t line_length(int c, int i)
{
    return i % 10 == 9 ? MAX_LINE + 500
                       : 7 + (size_t)(c * 997 + i * 331) % 3000;
}

typedef struct sender {
    int fd;
    int client;
    char name[128];
    text_t sent;
    int rc;
} sender_t;

static void build_lines(sender_t *s, text_t *logged)
{
    for (int i = 0; i < LINES; i++) {
        size_t len = line_length(s->client, i);
        size_t start = s->sent.len;
        text_add(&s->sent, "c%d-l%02d:", s->client, i);
        text_fill(&s->sent, (char)('A' + i % 26), len - 7);
        size_t keep = len > MAX_LINE ? MAX_LINE : len;
        text_add(logged, "%s: %.*s%s\n", s->name, (int)keep, s->sent.s + start,
                 len > MAX_LINE ? CUT_MARK : "");
        text_add(&s->sent, "\n");
    }
}

/* Each client on its own thread, in small pieces, so that the lines of
 * different clients reach the server interleaved. */
static void *send_lines(void *arg)
{
    sender_t *s = arg;
    for (size_t off = 0; off < s->sent.len && s->rc == 0; off += 700) {
        size_t n = s->sent.len - off < 700 ? s->sent.len - off : 700;
        s->rc = ts_send_bytes(s->fd, s->sent.s + off, n);
    }
    char buf[64];
    shutdown(s->fd, SHUT_WR);
    if (s->rc == 0 && ts_read_all(s->fd, buf, sizeof(buf), 15000) != 0)
        s->rc = -1;
    return NULL;
}

/* The client whose log line this is ("NAME connected", "NAME: ..."), or
 * -1. */
static int owner_of(const char *line, const sender_t *s)
{
    for (int c = 0; c < CLIENTS; c++) {
        size_t n = strlen(s[c].name);
        if (strncmp(line, s[c].name, n) == 0 &&
            (line[n] == ' ' || line[n] == ':'))
            return c;
    }
    return -1;
}

/* Every output line must be the next expected line of its client, and
 * every expected line must be there. */
static void lines_in_order(char *out, const sender_t *s, const text_t *want)
{
    const char *pos[CLIENTS];
    for (int c = 0; c < CLIENTS; c++)
        pos[c] = want[c].s ? want[c].s : "";
    size_t count = 0;
    for (char *line = out, *nl; *line; line = nl + 1, count++) {
        if (!CHECK((nl = strchr(line, '\n')) != NULL)) {
            ts_note("the output ends without a newline: %.100s", line);
            return;
        }
        *nl = '\0';
        int c = owner_of(line, s);
        size_t len = (size_t)(nl - line);
        if (!CHECK(c >= 0 && strncmp(pos[c], line, len) == 0 &&
                   pos[c][len] == '\n')) {
            ts_note("log line %zu not the next of any client: %.100s", count,
                    line);
            return;
        }
        pos[c] += len + 1;
    }
    for (int c = 0; c < CLIENTS; c++)
        if (!CHECK(*pos[c] == '\0'))
            ts_note("client %d: %zu bytes of its log missing", c,
                    strlen(pos[c]));
}

static void many_case(const char *mode)
{
    logger_run_t run;
    if (!logger_begin(&run, mode, "127.0.0.1:0", NULL))
        return;
    sender_t s[CLIENTS];
    text_t want[CLIENTS];
    pthread_t tid[CLIENTS];
    int started = 0;
    memset(s, 0, sizeof(s));
    memset(want, 0, sizeof(want));
    for (int c = 0; c < CLIENTS; c++) {
        s[c].client = c;
        s[c].fd = ts_connect(run.p.address, 0);
        if (!CHECK(s[c].fd >= 0))
            break;
        ts_client_name(s[c].fd, s[c].name, sizeof(s[c].name));
        text_add(&want[c], "%s connected\n", s[c].name);
        build_lines(&s[c], &want[c]);
        text_add(&want[c], "%s disconnected\n", s[c].name);
        started++;
    }
    for (int c = 0; c < started; c++)
        if (!CHECK(pthread_create(&tid[c], NULL, send_lines, &s[c]) == 0))
            s[c].rc = -2;
    for (int c = 0; c < started; c++) {
        if (s[c].rc != -2)
            pthread_join(tid[c], NULL);
        CHECK(s[c].rc == 0);
        ts_hang_up(s[c].fd);
    }
    logger_end(&run);
    if (started == CLIENTS)
        lines_in_order(run.out, s, want);
    for (int c = 0; c < CLIENTS; c++) {
        free(s[c].sent.s);
        free(want[c].s);
    }
    free(run.out);
}

static void test_many_clients(void)
{
    for (size_t m = 0; m < COUNT(modes); m++) {
        snprintf(ts_where, sizeof(ts_where), "tcp4/%s, %d clients", modes[m],
                 CLIENTS);
        many_case(modes[m]);
    }
}

/* ---- Datagrams and resets ----------------------------------------------- */

/* No connection: each line of each datagram, nothing else. */
static void test_datagrams(void)
{
    for (size_t m = 0; m < COUNT(modes); m++) {
        snprintf(ts_where, sizeof(ts_where), "udp4/%s", modes[m]);
        logger_run_t run;
        if (!logger_begin(&run, modes[m], "127.0.0.1:0", "--udp"))
            continue;
        char name[128], last[200];
        text_t want = {0};
        int fd = ts_connect(run.p.address, 1);
        if (CHECK(fd >= 0)) {
            ts_client_name(fd, name, sizeof(name));
            text_add(&want, "%s: one\n%s: two\n%s: three\n", name, name, name);
            CHECK(ts_send_bytes(fd, "one\r\ntwo\n", 9) == 0);
            CHECK(logged(&run, "two\n", T));
            CHECK(ts_send_bytes(fd, "three", 5) == 0);
            snprintf(last, sizeof(last), "%s: three\n", name);
            CHECK(logged(&run, last, T));
            ts_hang_up(fd);
        }
        logger_end(&run);
        if (fd >= 0 && CHECK(want.s != NULL))
            output_is(run.out, run.len, want.s);
        free(want.s);
        free(run.out);
    }
}

/* A client that resets the connection mid-line is still logged as
 * connected and then disconnected, and the next one is served. */
static void test_reset(void)
{
    for (size_t m = 0; m < COUNT(modes); m++) {
        snprintf(ts_where, sizeof(ts_where), "tcp4/%s", modes[m]);
        logger_run_t run;
        if (!logger_begin(&run, modes[m], "127.0.0.1:0", NULL))
            continue;
        char name[128], event[200];
        int fd = ts_connect(run.p.address, 0);
        if (CHECK(fd >= 0)) {
            ts_client_name(fd, name, sizeof(name));
            snprintf(event, sizeof(event), "%s connected\n", name);
            CHECK(logged(&run, event, T));
            CHECK(ts_send_bytes(fd, "half a li", 9) == 0);
            struct linger lg = {1, 0}; /* close with RST */
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(fd);
            snprintf(event, sizeof(event), "%s disconnected\n", name);
            CHECK(logged(&run, event, T));
        }
        int fd2 = ts_connect(run.p.address, 0);
        if (CHECK(fd2 >= 0)) {
            ts_client_name(fd2, name, sizeof(name));
            snprintf(event, sizeof(event), "%s: still here\n", name);
            talk_and_leave(fd2, "still here\n", 11);
            CHECK(logged(&run, event, T));
        }
        logger_end(&run);
        free(run.out);
    }
}

void register_logger_tests(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"logger: connected, each line, disconnected; every stream "
         "transport and mode",
         test_dialogue},
        {"logger: control characters logged as '?'", test_control_characters},
        {"logger: lines over the cap cut with a mark, the rest skipped",
         test_long_lines},
        {"logger: clients at once, every log line whole and in order",
         test_many_clients},
        {"logger: datagrams, each line and nothing else", test_datagrams},
        {"logger: a reset client disconnected, the next one served",
         test_reset},
    };
    CU_pSuite suite = ts_suite("logger");
    for (size_t i = 0; suite && i < COUNT(tests); i++)
        CU_add_test(suite, tests[i].name, tests[i].fn);
}
