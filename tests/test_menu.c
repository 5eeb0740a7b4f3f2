/* test_menu.c -- messages that end at a line end or at a pause: the
 * request function ss_read_message, and the 10086 bot answering seed
 * 003's client (each message sent with no line end, then a wait for the
 * answer) as well as line-based clients, in every mode.  Without the pause
 * the seed's client would wait for ever; every read here is bounded, so
 * such a server fails these tests instead of hanging them. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GREETING "欢迎致电 10086,请输入1xxx,0转人工服务.\n"
#define OPERATOR "通过可能会被录音.balabala一大推\n"
#define RETRY "请重新输入.\n"
#define TOO_LONG "输入过长,最多1024字节,再见.\n"

#define MENU_PAUSE_MS 300 /* handlers/menu10086.c's */
/* An answer to a message ended by the pause comes within this: the pause
 * and a generous margin for a loaded machine. */
#define ANSWER_MS 2000
#define PAST_PAUSE_MS 600 /* a client silence the pause surely ends */

static const ts_kind_t tcp4[] = {TS_TCP4};

/* ---- ss_read_message ----------------------------------------------------
 * A handler that reports each result with a cap of 8 and a pause of
 * TEST_PAUSE_MS: "M<n>:<message>|", "E:<first 7 bytes>|" past the cap,
 * "T|" on -ETIMEDOUT, "EOF|" at the end. */
#define TEST_PAUSE_MS 200

static int messages_handle(ss_request_t *req)
{
    char buf[8];
    for (;;) {
        ssize_t n = ss_read_message(req, buf, sizeof(buf), TEST_PAUSE_MS);
        if (n == -EMSGSIZE)
            return ss_sendf(req, "E:%s|", buf);
        if (n == -ETIMEDOUT)
            return ss_sendf(req, "T|");
        if (n < 0)
            return (int)n;
        if (n == 0)
            return ss_sendf(req, "EOF|");
        ss_sendf(req, "M%zd:%s|", n, buf);
    }
}

static const ss_handler_t messages = {.name = "messages",
                                      .handle = messages_handle};

/* What a client sends, then how long it is silent. */
typedef struct piece {
    const char *send;
    int then_ms;
} piece_t;

/* Run the messages handler in mode with the given timeouts; send the
 * pieces (NULL-terminated), half-close unless keep_open, and compare
 * everything read back with expect. */
static void check_messages(const char *mode, int timeout_ms, int deadline_ms,
                           const piece_t *pieces, int keep_open,
                           const char *expect)
{
    ss_config_t cfg;
    test_server_t ts;
    char out[512];
    ts_config(&cfg, TS_TCP4, mode, &messages);
    cfg.timeout_ms = timeout_ms;
    cfg.deadline_ms = deadline_ms;
    if (!CHECK(ts_start(&ts, &cfg) == 0))
        return;
    int fd = ts_connect(ts.address, 0);
    if (CHECK(fd >= 0)) {
        for (const piece_t *p = pieces; p->send; p++) {
            CHECK(ts_send_str(fd, p->send) == 0);
            ts_sleep_ms(p->then_ms);
        }
        if (!keep_open)
            shutdown(fd, SHUT_WR);
        ssize_t n = ts_read_all(fd, out, sizeof(out), 3000);
        if (!CHECK(n >= 0 && strcmp(out, expect) == 0))
            ts_note("expected \"%s\", got %zd bytes \"%s\"", expect, n,
                    n > 0 ? out : "");
        close(fd);
    }
    ts_stop(&ts);
}

#define P(s, ms)                                                               \
    {                                                                          \
        (s), (ms)                                                              \
    }
#define END                                                                    \
    {                                                                          \
        NULL, 0                                                                \
    }

static void test_message_pause(void)
{
    static const char *const modes[] = {"thread", "event"};
    for (size_t m = 0; m < COUNT(modes); m++) {
        snprintf(ts_where, sizeof(ts_where), "%s, pause", modes[m]);
        check_messages(modes[m], 0, 0,
                       (const piece_t[]){P("ab", 400), P("cd", 0), END}, 0,
                       "M2:ab|M2:cd|EOF|");
        snprintf(ts_where, sizeof(ts_where), "%s, pieces within", modes[m]);
        check_messages(
            modes[m], 0, 0,
            (const piece_t[]){P("a", 40), P("b", 40), P("c", 400), END}, 0,
            "M3:abc|EOF|");
        snprintf(ts_where, sizeof(ts_where), "%s, line then rest", modes[m]);
        check_messages(modes[m], 0, 0,
                       (const piece_t[]){P("ab\ncd", 400), P("e\n", 0), END}, 0,
                       "M3:ab\n|M2:cd|M2:e\n|EOF|");
    }
}

static void test_message_line_ends(void)
{
    snprintf(ts_where, sizeof(ts_where), "CRLF split by the pause");
    check_messages("thread", 0, 0,
                   (const piece_t[]){P("x\r", 400), P("\ny\n", 0), END}, 0,
                   "M2:x\r|M2:y\n|EOF|");
    snprintf(ts_where, sizeof(ts_where), "CRLF split within the pause");
    check_messages("event", 0, 0,
                   (const piece_t[]){P("x\r", 40), P("\n", 400), END}, 0,
                   "M3:x\r\n|EOF|");
    snprintf(ts_where, sizeof(ts_where), "CR, pause, CRLF");
    check_messages("thread", 0, 0,
                   (const piece_t[]){P("x\r", 400), P("\r\n", 0), END}, 0,
                   "M2:x\r|M2:\r\n|EOF|");
    snprintf(ts_where, sizeof(ts_where), "empty lines");
    check_messages("thread", 0, 0,
                   (const piece_t[]){P("\n", 400), P("\n\n", 0), END}, 0,
                   "M1:\n|M1:\n|M1:\n|EOF|");
}

static void test_message_bytes(void)
{
    snprintf(ts_where, sizeof(ts_where), "UTF-8 split across sends");
    check_messages(
        "event", 0, 0,
        (const piece_t[]){P("\xe4\xbd", 40), P("\xa0\xe5\xa5\xbd", 400), END},
        0, "M6:你好|EOF|");
    snprintf(ts_where, sizeof(ts_where), "the cap, no line end");
    check_messages("thread", 0, 0, (const piece_t[]){P("abcdefghij", 400), END},
                   0, "E:abcdefg|");
    snprintf(ts_where, sizeof(ts_where), "the cap, exactly");
    check_messages("thread", 0, 0, (const piece_t[]){P("abcdefg", 400), END}, 0,
                   "M7:abcdefg|EOF|");
}

/* The idle timeout bounds the wait for a message to begin; silence after
 * part of one ends it even when the timeout is the shorter.  The
 * connection's deadline is a timeout even mid-message. */
static void test_message_timeouts(void)
{
    snprintf(ts_where, sizeof(ts_where), "idle timeout 100 ms < pause");
    check_messages("thread", 100, 0, (const piece_t[]){P("ab", 0), END}, 1,
                   "M2:ab|T|");
    snprintf(ts_where, sizeof(ts_where), "event, idle timeout 100 ms < pause");
    check_messages("event", 100, 0, (const piece_t[]){P("ab", 0), END}, 1,
                   "M2:ab|T|");
    snprintf(ts_where, sizeof(ts_where), "deadline 100 ms < pause");
    check_messages("thread", 0, 100, (const piece_t[]){P("ab", 0), END}, 1,
                   "T|");
    snprintf(ts_where, sizeof(ts_where), "silent: idle timeout");
    check_messages("event", 300, 0, (const piece_t[]){END}, 1, "T|");
}

/* ---- The bot ------------------------------------------------------------ */

/* Exactly want arrives within ms, and nothing else. */
static int answer_is(int fd, const char *want, int ms)
{
    char buf[4096];
    size_t len = strlen(want);
    ssize_t n = ts_read_until(fd, buf, len + 1, NULL, ms);
    if (n == (ssize_t)len && memcmp(buf, want, len) == 0)
        return 1;
    ts_note("expected \"%s\" within %d ms, got %zd bytes \"%.*s\"", want, ms, n,
            n > 0 ? (int)n : 0, buf);
    return 0;
}

/* Connect and take the greeting: the descriptor, or -1. */
static int call_menu(const char *address)
{
    int fd = ts_connect(address, 0);
    if (!CHECK(fd >= 0))
        return -1;
    if (CHECK(answer_is(fd, GREETING, TS_IO_TIMEOUT_MS)))
        return fd;
    ts_hang_up(fd);
    return -1;
}

/* Seed 003's client, byte for byte: it sends what was typed with sendall
 * and no line end, then waits for the answer; after "exit" it closes (here:
 * the server must hang up first). */
static void seed_client(const char *address)
{
    static const struct {
        const char *typed, *answer;
    } call[] = {{"0", OPERATOR}, {"1001", RETRY}, {"你好", RETRY}, {"", NULL}};
    int fd = call_menu(address);
    if (fd < 0)
        return;
    for (size_t i = 0; call[i].answer; i++)
        if (!CHECK(ts_send_str(fd, call[i].typed) == 0) ||
            !CHECK(answer_is(fd, call[i].answer, ANSWER_MS))) {
            ts_note("...after sending \"%s\"", call[i].typed);
            ts_hang_up(fd);
            return;
        }
    CHECK(ts_send_str(fd, "exit") == 0);
    if (!CHECK(ts_expect_eof(fd, ANSWER_MS)))
        ts_note("\"exit\" with no line end: the server did not hang up");
    ts_hang_up(fd);
}

static void seed_client_case(ts_kind_t kind, const char *mode, const void *arg)
{
    (void)arg;
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_menu10086))
        return;
    seed_client(ts.address);
    ts_stop(&ts);
}

static void test_seed_client_every_mode(void)
{
    ts_each_case(tcp4, COUNT(tcp4), seed_client_case, NULL);
}

/* The CLI as nginx's shape: two event workers under a master. */
static void test_seed_client_workers(void)
{
    snprintf(ts_where, sizeof(ts_where), "cli --workers 2 --mode event");
    const char *args[] = {"--handler",   "menu10086", "--mode",   "event",
                          "--workers",   "2",         "--listen", "127.0.0.1:0",
                          "--log-level", "error",     NULL};
    cli_proc_t p;
    if (!CHECK(ts_cli_start(&p, args, 1) == 0))
        return;
    for (int i = 0; i < 3; i++) /* likely both workers */
        seed_client(p.address);
    kill(p.pid, SIGTERM);
    CHECK(ts_cli_wait(&p, 15000) == 0);
}

/* Line-based clients (nc, telnet) are answered at the line end, without
 * waiting for the pause, pipelined lines in order. */
static void line_client_case(ts_kind_t kind, const char *mode, const void *arg)
{
    (void)arg;
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_menu10086))
        return;
    int fd = call_menu(ts.address);
    if (fd >= 0) {
        CHECK(ts_send_str(fd, "0\r\n") == 0);
        CHECK(answer_is(fd, OPERATOR, ANSWER_MS));
        CHECK(ts_send_str(fd, "0\n1\nexit\n") == 0);
        CHECK(answer_is(fd, OPERATOR RETRY, ANSWER_MS));
        CHECK(ts_expect_eof(fd, ANSWER_MS));
        ts_hang_up(fd);
    }
    ts_stop(&ts);
}

static void test_line_clients_every_mode(void)
{
    ts_each_case(tcp4, COUNT(tcp4), line_client_case, NULL);
}

/* A line is answered at once: the pause is only for bytes without one. */
static void test_line_not_delayed(void)
{
    test_server_t ts;
    snprintf(ts_where, sizeof(ts_where), "thread, a line's answer");
    if (!ts_start_case(&ts, TS_TCP4, "thread", &ss_handler_menu10086))
        return;
    int fd = call_menu(ts.address);
    for (int i = 0; fd >= 0 && i < 3; i++) {
        long long t0 = ts_now_ms();
        CHECK(ts_send_str(fd, "0\n") == 0);
        CHECK(answer_is(fd, OPERATOR, ANSWER_MS));
        long long took = ts_now_ms() - t0;
        if (!CHECK(took < MENU_PAUSE_MS - 50))
            ts_note("a line took %lld ms to be answered", took);
    }
    if (fd >= 0)
        ts_hang_up(fd);
    ts_stop(&ts);
}

/* Bytes that come within the pause are one message; a CRLF split by the
 * pause ends one message, not two. */
static void test_pieces(void)
{
    test_server_t ts;
    snprintf(ts_where, sizeof(ts_where), "event, pieces");
    if (!ts_start_case(&ts, TS_TCP4, "event", &ss_handler_menu10086))
        return;
    int fd = call_menu(ts.address);
    if (fd >= 0) {
        CHECK(ts_send_str(fd, "0") == 0); /* then "1" within the pause */
        ts_sleep_ms(100);
        CHECK(ts_send_str(fd, "1") == 0); /* "01": asked again, once */
        CHECK(answer_is(fd, RETRY, ANSWER_MS));
        CHECK(ts_quiet(fd));
        CHECK(ts_send_str(fd, "0\r") == 0); /* the pause ends it... */
        CHECK(answer_is(fd, OPERATOR, ANSWER_MS));
        CHECK(ts_send_str(fd, "\n") == 0); /* ...and this ends no line */
        ts_sleep_ms(PAST_PAUSE_MS);
        CHECK(ts_quiet(fd));
        CHECK(ts_send_str(fd, "1\n") == 0);
        CHECK(answer_is(fd, RETRY, ANSWER_MS));
        CHECK(ts_quiet(fd));
        CHECK(ts_send_str(fd, " exit \r") == 0);
        CHECK(ts_expect_eof(fd, ANSWER_MS));
        ts_hang_up(fd);
    }
    ts_stop(&ts);
}

/* The 1024-byte cap holds for messages without a line end too. */
static void test_cap_without_line_end(void)
{
    static const struct {
        size_t len;
        char fill;
        const char *tail, *reply;
    } cases[] = {{1024, 'a', "", RETRY},
                 {1024, ' ', "0", OPERATOR},
                 {1025, 'a', "", TOO_LONG},
                 {5000, '1', "", TOO_LONG}};
    test_server_t ts;
    if (!ts_start_case(&ts, TS_TCP4, "event", &ss_handler_menu10086))
        return;
    for (size_t i = 0; i < COUNT(cases); i++) {
        snprintf(ts_where, sizeof(ts_where), "event, %zu bytes, no line end",
                 cases[i].len);
        char buf[5000];
        size_t tail = strlen(cases[i].tail);
        memset(buf, cases[i].fill, cases[i].len - tail);
        memcpy(buf + cases[i].len - tail, cases[i].tail, tail);
        int fd = call_menu(ts.address);
        if (fd < 0)
            continue;
        CHECK(ts_send_bytes(fd, buf, cases[i].len) == 0);
        CHECK(answer_is(fd, cases[i].reply, ANSWER_MS));
        if (strcmp(cases[i].reply, TOO_LONG) == 0)
            CHECK(ts_expect_eof(fd, ANSWER_MS));
        else
            CHECK(ts_quiet(fd));
        ts_hang_up(fd);
    }
    ts_stop(&ts);
}

/* ---- The seed's client itself, ported to Python 3 ----------------------- */
#define PY_CLIENT "examples/client_10086.py"

typedef struct py_run {
    const char *input; /* a file for its standard input */
    const char *host, *port;
} py_run_t;

static void run_python(void *arg)
{
    const py_run_t *r = arg;
    int in = open(r->input, O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0)
        _exit(126);
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    setenv("PYTHONIOENCODING", "utf-8", 1);
    execlp("python3", "python3", r->host ? PY_CLIENT : "-c",
           r->host ? r->host : "pass", r->port, (char *)NULL);
    _exit(127);
}

/* Run python3 with input; its exit status and output in p. */
static int python(cli_proc_t *p, const py_run_t *r)
{
    if (ts_fork_start(p, run_python, (void *)r, 0) < 0)
        return -1;
    return ts_cli_wait(p, 20000);
}

static void test_python_seed_client(void)
{
    snprintf(ts_where, sizeof(ts_where), "python3 " PY_CLIENT);
    cli_proc_t p;
    py_run_t probe = {"/dev/null", NULL, NULL};
    if (access(PY_CLIENT, R_OK) != 0 || python(&p, &probe) != 0) {
        ts_note("skipped: no python3, or not run from the source tree");
        CU_PASS("skipped: python3 or " PY_CLIENT " not available");
        return;
    }
    char input[] = "/tmp/ss-menu-input-XXXXXX";
    int fd = mkstemp(input);
    static const char typed[] = "0\n1001\n你好\nexit\n";
    if (!CHECK(fd >= 0))
        return;
    CHECK(write(fd, typed, strlen(typed)) == (ssize_t)strlen(typed));
    close(fd);
    test_server_t ts;
    if (ts_start_case(&ts, TS_TCP4, "thread", &ss_handler_menu10086)) {
        char host[sizeof(ts.address)];
        snprintf(host, sizeof(host), "%s", ts.address);
        char *colon = strrchr(host, ':');
        *colon = '\0';
        py_run_t run = {input, host, colon + 1};
        int status = python(&p, &run);
        if (!CHECK(status == 0))
            ts_note("exit status %d; stderr: %s", status, p.errtext);
        const char *want[] = {"receive: " GREETING, "receive: " OPERATOR,
                              "receive: " RETRY
                              "\nplease input:receive: " RETRY};
        for (size_t i = 0; i < COUNT(want); i++)
            if (!CHECK(strstr(p.outtext, want[i]) != NULL))
                ts_note("\"%s\" not in its output: %s", want[i], p.outtext);
        ts_stop(&ts);
    }
    unlink(input);
}

void register_menu_tests(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"ss_read_message: a pause ends a message, pieces within it join",
         test_message_pause},
        {"ss_read_message: line ends, a CRLF split by the pause",
         test_message_line_ends},
        {"ss_read_message: UTF-8 across sends, the cap", test_message_bytes},
        {"ss_read_message: idle timeout and deadline", test_message_timeouts},
        {"menu10086: seed 003's client's bytes, every mode",
         test_seed_client_every_mode},
        {"menu10086: seed 003's client, --workers 2 --mode event",
         test_seed_client_workers},
        {"menu10086: line clients, pipelined lines, every mode",
         test_line_clients_every_mode},
        {"menu10086: a line is answered without the pause",
         test_line_not_delayed},
        {"menu10086: pieces within the pause, CRLF split by it", test_pieces},
        {"menu10086: the 1024-byte cap without a line end",
         test_cap_without_line_end},
        {"menu10086: " PY_CLIENT " with piped input", test_python_seed_client},
    };
    CU_pSuite suite = ts_suite("menu");
    for (size_t i = 0; suite && i < COUNT(tests); i++)
        CU_add_test(suite, tests[i].name, tests[i].fn);
}
