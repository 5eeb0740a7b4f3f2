/* test_handlers.c -- the built-in handlers, byte for byte: menu10086,
 * thankyou and echo over every transport and in every mode. */
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GREETING "欢迎致电 10086,请输入1xxx,0转人工服务.\n"
#define OPERATOR "通过可能会被录音.balabala一大推\n"
#define RETRY "请重新输入.\n"
#define TOO_LONG "输入过长,最多1024字节,再见.\n"
#define THANKS "Thank you for connecting\n"

#define T TS_IO_TIMEOUT_MS

#define BIG (1024 * 1024)    /* the binary echo payload */
#define BIG_TIMEOUT_MS 15000 /* ...all of it back within this */
#define MAX_DGRAM 8192       /* the server's default max_datagram */

static const ts_kind_t streams[] = {TS_TCP4, TS_TCP6, TS_UNIX};
static const ts_kind_t tcp4[] = {TS_TCP4};
static const ts_kind_t dgrams[] = {TS_UDP4, TS_UNIX_DGRAM};

/* ---- Checks that say which case failed --------------------------------- */

/* ---- Client side -------------------------------------------------------- */

/* Read exactly len bytes within T and compare them with want. */
static int read_is(int fd, const void *want, size_t len)
{
    char buf[8192];
    if (len >= sizeof(buf)) {
        ts_note("read_is: %zu bytes is more than it can hold", len);
        return 0;
    }
    ssize_t n = ts_read_until(fd, buf, len + 1, NULL, T);
    if (n == (ssize_t)len && memcmp(buf, want, len) == 0)
        return 1;
    ts_note("expected %zu bytes \"%.*s\", got %zd \"%.*s\"", len, (int)len,
            (const char *)want, n, n > 0 ? (int)n : 0, buf);
    return 0;
}

/* Read everything up to EOF: it must be exactly want. */
static int read_all_is(int fd, const char *want)
{
    char buf[8192];
    ssize_t n = ts_read_all(fd, buf, sizeof(buf), T);
    if (n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0)
        return 1;
    ts_note("expected \"%s\" then EOF, got %zd bytes \"%.*s\"", want, n,
            n > 0 ? (int)n : 0, buf);
    return 0;
}

/* All 256 byte values in every 256-byte block, each block rotated
 * differently, so a lost, repeated or reordered block shows. */
/* ---- menu10086 ---------------------------------------------------------- */

/* One step of a call: send (unless NULL), then expect a reply.  An empty
 * expect means no reply for TS_QUIET_MS; HANGUP means EOF with nothing
 * before it.  A script ends with {NULL, NULL}. */
typedef struct step {
    const char *send;
    const char *expect;
} step_t;
static const char HANGUP[] = "(hang-up)";

/* Dial the menu: the connection after the exact greeting, or -1. */
static int dial(const test_server_t *ts)
{
    int fd = ts_connect(ts->address, 0);
    if (!CHECK(fd >= 0))
        return -1;
    if (CHECK(read_is(fd, GREETING, strlen(GREETING))))
        return fd;
    ts_hang_up(fd);
    return -1;
}

static void converse(int fd, const step_t *s)
{
    for (; s->send || s->expect; s++) {
        int ok = !s->send || CHECK(ts_send_str(fd, s->send) == 0);
        if (ok && s->expect == HANGUP)
            ok = CHECK(ts_expect_eof(fd, T));
        else if (ok && !*s->expect)
            ok = CHECK(ts_quiet(fd));
        else if (ok)
            ok = CHECK(read_is(fd, s->expect, strlen(s->expect)));
        if (!ok) {
            ts_note("...at the step sending \"%s\"", s->send ? s->send : "");
            return;
        }
    }
}

static void menu_script_case(ts_kind_t kind, const char *mode,
                             const void *script)
{
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_menu10086))
        return;
    int fd = dial(&ts);
    if (fd >= 0) {
        converse(fd, script);
        ts_hang_up(fd);
    }
    ts_stop(&ts);
}

static const step_t dialogue[] = {
    {"0\n", OPERATOR},   {"1234\n", RETRY},        {"1\n", RETRY},
    {"0\r\n", OPERATOR}, {"hello 10086\n", RETRY}, {"exit\n", HANGUP},
    {NULL, NULL}};

static void test_menu_dialogue(void)
{
    ts_each_case(streams, COUNT(streams), menu_script_case, dialogue);
}

static void test_menu_whitespace(void)
{
    static const step_t script[] = {
        {"  0 \r\n", OPERATOR}, {"\t0\t\n", OPERATOR},     {"\n", RETRY},
        {"\r\n", RETRY},        {" \t \r\n", RETRY},       {"00\n", RETRY},
        {"exitx\n", RETRY},     {"exit   \t\r\n", HANGUP}, {NULL, NULL}};
    static const step_t exit_spaces[] = {{"exit   \n", HANGUP}, {NULL, NULL}};
    ts_each_case(tcp4, 1, menu_script_case, script);
    ts_each_case(tcp4, 1, menu_script_case, exit_spaces);
}

static void test_menu_pipelined(void)
{
    static const step_t script[] = {
        {"0\n1\n\r\n  0  \r\nfoo\n", OPERATOR RETRY RETRY OPERATOR RETRY},
        {"1\n0\n", RETRY OPERATOR},
        {"0\nexit\n0\n1\n", OPERATOR}, /* nothing after the hang-up */
        {NULL, HANGUP},
        {NULL, NULL}};
    ts_each_case(tcp4, 1, menu_script_case, script);
}

static void test_menu_split_lines(void)
{
    static const step_t script[] = {
        {"0", ""},   {"\n", OPERATOR}, {" ", ""},      {" 0", ""},
        {" \r", ""}, {"\n", OPERATOR}, {"12", ""},     {"34\r\n", RETRY},
        {"ex", ""},  {"it \r", ""},    {"\n", HANGUP}, {NULL, NULL}};
    ts_each_case(tcp4, 1, menu_script_case, script);
}

/* A line of len bytes (fill, then tail) and its terminator, and the one
 * reply it gets; TOO_LONG replies end the call. */
typedef struct line_case {
    size_t len;
    char fill;
    const char *tail, *end, *reply;
} line_case_t;

static void menu_line_case(ts_kind_t kind, const char *mode, const void *arg)
{
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_menu10086))
        return;
    char base[40];
    snprintf(base, sizeof(base), "%.39s", ts_where);
    for (const line_case_t *c = arg; c->len; c++) {
        size_t tail = strlen(c->tail), end = strlen(c->end);
        snprintf(ts_where, sizeof(ts_where), "%s, %zu-byte line '%c..%s' + %s",
                 base, c->len, c->fill, c->tail, end == 1 ? "LF" : "CRLF");
        char *line = malloc(c->len + end);
        int fd = dial(&ts);
        if (!CHECK(line != NULL) || fd < 0) {
            free(line);
            if (fd >= 0)
                ts_hang_up(fd);
            break;
        }
        memset(line, c->fill, c->len - tail);
        memcpy(line + c->len - tail, c->tail, tail);
        memcpy(line + c->len, c->end, end);
        int sent = CHECK(ts_send_bytes(fd, line, c->len + end) == 0);
        if (sent && strcmp(c->reply, TOO_LONG) == 0)
            CHECK(read_all_is(fd, TOO_LONG));
        else if (sent && CHECK(read_is(fd, c->reply, strlen(c->reply))))
            converse(fd, (const step_t[]){{"0\n", OPERATOR},
                                          {"exit\n", HANGUP},
                                          {NULL, NULL}});
        ts_hang_up(fd);
        free(line);
    }
    ts_stop(&ts);
}

static void test_menu_line_limit(void)
{
    static const line_case_t cases[] = {
        {1024, 'a', "", "\n", RETRY},     {1024, 'a', "", "\r\n", RETRY},
        {1024, ' ', "0", "\n", OPERATOR}, {1024, ' ', "0", "\r\n", OPERATOR},
        {1025, 'a', "", "\n", TOO_LONG},  {1025, 'a', "", "\r\n", TOO_LONG},
        {1025, ' ', "0", "\n", TOO_LONG}, {0, 0, NULL, NULL, NULL}};
    ts_each_case(tcp4, 1, menu_line_case, cases);
}

static void test_menu_huge_line(void)
{
    static const line_case_t cases[] = {{5000, '1', "", "\n", TOO_LONG},
                                        {0, 0, NULL, NULL, NULL}};
    ts_each_case(tcp4, 1, menu_line_case, cases);
}

/* Callers that go away mid-line must not keep the server from the next
 * caller -- in sync mode there is only the one server loop. */
static void menu_hangup_case(ts_kind_t kind, const char *mode, const void *arg)
{
    (void)arg;
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_menu10086))
        return;
    int fd = ts_connect(ts.address, 0); /* gone before the greeting */
    if (CHECK(fd >= 0))
        ts_hang_up(fd);
    if ((fd = dial(&ts)) >= 0) { /* gone mid-line */
        CHECK(ts_send_str(fd, "12") == 0);
        ts_hang_up(fd);
    }
    if ((fd = dial(&ts)) >= 0) { /* a long partial line, then gone */
        char part[600];
        memset(part, '9', sizeof(part));
        CHECK(ts_send_bytes(fd, part, sizeof(part)) == 0);
        ts_hang_up(fd);
    }
    if ((fd = dial(&ts)) >= 0) { /* half-closed mid-line: the call ends, */
        char buf[4096];          /* the unended "0" answered once or not */
        CHECK(ts_send_str(fd, "0") == 0);
        CHECK(shutdown(fd, SHUT_WR) == 0);
        ssize_t n = ts_read_all(fd, buf, sizeof(buf), T);
        CHECK(n == 0 || (n == (ssize_t)strlen(OPERATOR) &&
                         memcmp(buf, OPERATOR, (size_t)n) == 0));
        ts_hang_up(fd);
    }
    if ((fd = dial(&ts)) >= 0) { /* and the next caller is served */
        converse(fd, dialogue);
        ts_hang_up(fd);
    }
    ts_stop(&ts);
}

static void test_menu_client_gone(void)
{
    ts_each_case(tcp4, 1, menu_hangup_case, NULL);
}

/* ---- thankyou ----------------------------------------------------------- */

static void thankyou_stream_case(ts_kind_t kind, const char *mode,
                                 const void *arg)
{
    (void)arg;
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_thankyou))
        return;
    for (int i = 0; i < 2; i++) {
        int fd = ts_connect(ts.address, 0);
        if (CHECK(fd >= 0)) {
            CHECK(read_all_is(fd, THANKS));
            ts_hang_up(fd);
        }
    }
    ts_stop(&ts);
}

static void test_thankyou_stream(void)
{
    ts_each_case(streams, COUNT(streams), thankyou_stream_case, NULL);
}

static void thankyou_dgram_case(ts_kind_t kind, const char *mode,
                                const void *arg)
{
    (void)arg;
    static const char *const sends[] = {"hello", "", "a line\n", "x"};
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_thankyou))
        return;
    int fd = ts_connect(ts.address, 1);
    if (CHECK(fd >= 0)) {
        char buf[MAX_DGRAM * 2];
        for (size_t i = 0; i < COUNT(sends); i++) {
            CHECK(ts_send_bytes(fd, sends[i], strlen(sends[i])) == 0);
            ssize_t n = ts_recv_dgram(fd, buf, sizeof(buf));
            if (!CHECK(n == (ssize_t)strlen(THANKS) &&
                       memcmp(buf, THANKS, strlen(THANKS)) == 0))
                ts_note("after \"%s\": got %zd bytes", sends[i], n);
        }
        CHECK(ts_quiet(fd)); /* one reply per datagram, no more */
        ts_hang_up(fd);
    }
    ts_stop(&ts);
}

static void test_thankyou_dgram(void)
{
    ts_each_case(dgrams, COUNT(dgrams), thankyou_dgram_case, NULL);
}

/* ---- echo --------------------------------------------------------------- */

static void echo_stream_case(ts_kind_t kind, const char *mode, const void *arg)
{
    const unsigned char *out = arg;
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_echo))
        return;
    int fd = ts_connect(ts.address, 0);
    if (CHECK(fd >= 0)) {
        static const step_t small[] = {
            {"hello\r\n", "hello\r\n"}, {"a", "a"}, {"\n", "\n"}, {NULL, NULL}};
        converse(fd, small);
        ts_echo_check(fd, out, BIG, BIG_TIMEOUT_MS);
        ts_hang_up(fd);
    }
    ts_stop(&ts);
}

static void test_echo_stream(void)
{
    unsigned char *out = malloc(BIG);
    if (!CHECK(out != NULL))
        return;
    ts_fill_pattern(out, BIG, 0);
    ts_each_case(streams, COUNT(streams), echo_stream_case, out);
    free(out);
}

/* Two clients, so each reply must go to its own sender. */
static void echo_dgram_case(ts_kind_t kind, const char *mode, const void *arg)
{
    (void)arg;
    static const size_t sizes[] = {1, 1000, 8000, MAX_DGRAM};
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_echo))
        return;
    int fd[2] = {ts_connect(ts.address, 1), ts_connect(ts.address, 1)};
    unsigned char out[2][MAX_DGRAM], in[MAX_DGRAM * 2];
    int ready = CHECK(fd[0] >= 0 && fd[1] >= 0);
    for (size_t s = 0; ready && s < COUNT(sizes); s++) {
        for (int c = 0; c < 2; c++) {
            ts_fill_pattern(out[c], sizes[s], (unsigned)(c * 101 + s));
            CHECK(ts_send_bytes(fd[c], out[c], sizes[s]) == 0);
        }
        for (int c = 0; c < 2; c++) {
            ssize_t n = ts_recv_dgram(fd[c], in, sizeof(in));
            if (!CHECK(n == (ssize_t)sizes[s] &&
                       memcmp(in, out[c], sizes[s]) == 0))
                ts_note("client %d sent %zu bytes, got %zd back", c, sizes[s],
                        n);
        }
    }
    for (int c = 0; c < 2; c++)
        if (fd[c] >= 0) {
            CHECK(ts_quiet(fd[c])); /* one reply per datagram, no more */
            ts_hang_up(fd[c]);
        }
    ts_stop(&ts);
}

static void test_echo_dgram(void)
{
    ts_each_case(dgrams, COUNT(dgrams), echo_dgram_case, NULL);
}

void register_handlers_tests(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"menu10086: dialogue, every stream transport and mode",
         test_menu_dialogue},
        {"menu10086: white space trimmed, empty lines, exit + spaces",
         test_menu_whitespace},
        {"menu10086: pipelined lines answered in order", test_menu_pipelined},
        {"menu10086: lines split across sends", test_menu_split_lines},
        {"menu10086: 1024-byte line ok, 1025 too long", test_menu_line_limit},
        {"menu10086: 5000-byte line: one error line, then EOF",
         test_menu_huge_line},
        {"menu10086: callers gone mid-line, next one served",
         test_menu_client_gone},
        {"thankyou: stream transports", test_thankyou_stream},
        {"thankyou: a reply per datagram", test_thankyou_dgram},
        {"echo: stream transports, 1 MiB binary", test_echo_stream},
        {"echo: datagrams back whole to their sender", test_echo_dgram},
    };
    CU_pSuite suite = ts_suite("handlers");
    for (size_t i = 0; suite && i < COUNT(tests); i++)
        CU_add_test(suite, tests[i].name, tests[i].fn);
}
