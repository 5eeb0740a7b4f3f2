/* test_chat.c -- the chat handler (seed 001's chat room): three clients in
 * thread mode line by line (notices, /nick, /who, /quit), bad input, a
 * client that never reads while the others chat 2 MB, one client in sync
 * mode, and the modes and transports it refuses. */
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define T TS_IO_TIMEOUT_MS
#define QUIET_MS 150          /* "nothing arrives" means within this */
#define FLOOD_BYTES (2 << 20) /* what the others say past a slow one */
#define FLOOD_LINE 100        /* bytes per flood line, with its \n */
#define FLOOD_LAG (32 << 10)  /* the writer waits for the reader */
#define FLOOD_MS 20000        /* the whole flood within this */
#define PING_MS 1000          /* a line across the room within this */

#define WELCOME_FMT                                                            \
    "* welcome, %s: /nick NAME renames you, /who lists the room, /quit "       \
    "leaves\n"
#define TOO_LONG "* line too long (over 1024 bytes): not sent\n"
#define NICK_USAGE                                                             \
    "* usage: /nick NAME (1 to 32 bytes, no spaces or control "                \
    "characters)\n"
#define UNKNOWN "* unknown command: try /nick NAME, /who or /quit\n"

/* ---- Checks that say which case failed ----------------------------------- */

/* ---- Clients that read line by line -------------------------------------- */

typedef struct client {
    int fd;
    char name[80]; /* the default name: the server's ss_peer of us */
    char buf[8192];
    size_t len; /* received, not yet returned as a line */
} client_t;

/* "127.0.0.1:PORT" or "[::1]:PORT", as the server formats its peer. */
static void local_name(int fd, char *name, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(name, cap, "[%s]:%u", host, port);
        return;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    snprintf(name, cap, "%s:%u", host, ntohs(in->sin_port));
}

/* One line with its \n into line (NUL-terminated): its length, or -1 on
 * timeout, error or EOF first. */
static ssize_t read_line(client_t *c, char *line, size_t cap, int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf) + 1;
            size_t copy = n < cap - 1 ? n : cap - 1;
            memcpy(line, c->buf, copy);
            line[copy] = '\0';
            memmove(c->buf, c->buf + n, c->len - n);
            c->len -= n;
            return (ssize_t)n;
        }
        long long left = deadline - ts_now_ms();
        struct pollfd pfd = {c->fd, POLLIN, 0};
        if (c->len == sizeof(c->buf) || left <= 0 ||
            poll(&pfd, 1, (int)left) <= 0)
            return -1;
        ssize_t k = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (k <= 0 && !(k < 0 && errno == EINTR))
            return -1;
        c->len += k > 0 ? (size_t)k : 0;
    }
}

/* The next line is exactly want. */
static int expect(client_t *c, const char *want)
{
    char line[2048];
    ssize_t n = read_line(c, line, sizeof(line), T);
    if (n >= 0 && strcmp(line, want) == 0)
        return 1;
    ts_note("%s: expected \"%s\", got %s\"%s\"", c->name, want,
            n < 0 ? "nothing " : "", n < 0 ? "" : line);
    return 0;
}

static int expectf(client_t *c, const char *fmt, ...) SS_PRINTF(2, 3);
static int expectf(client_t *c, const char *fmt, ...)
{
    char want[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof(want), fmt, ap);
    va_end(ap);
    return expect(c, want);
}

/* Nothing arrives for QUIET_MS, and nothing is waiting. */
static int quiet(client_t *c)
{
    struct pollfd pfd = {c->fd, POLLIN, 0};
    if (c->len == 0 && poll(&pfd, 1, QUIET_MS) == 0)
        return 1;
    ts_note("%s: expected silence", c->name);
    return 0;
}

static int say(client_t *c, const char *text)
{
    size_t len = strlen(text);
    return send(c->fd, text, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static void clients_init(client_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        memset(&c[i], 0, sizeof(c[i]));
        c[i].fd = -1;
    }
}

/* shutdown() first: descriptors may be shared with forked children. */
static void hang_up(client_t *c)
{
    if (c->fd >= 0) {
        shutdown(c->fd, SHUT_RDWR);
        close(c->fd);
    }
    c->fd = -1;
}

/* Connect and read the welcome that names us.  rcvbuf > 0 shrinks the
 * receive buffer first (a slow reader that fills up early). */
static int join(client_t *c, const char *address, int rcvbuf)
{
    memset(c, 0, sizeof(*c));
    c->fd = ts_connect(address, 0);
    if (!CHECK(c->fd >= 0))
        return 0;
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    local_name(c->fd, c->name, sizeof(c->name));
    return CHECK(expectf(c, WELCOME_FMT, c->name));
}

/* Join, and every client already in the room hears of it. */
static int join_room(client_t *c, const char *address, client_t *others,
                     size_t n)
{
    if (!join(c, address, 0))
        return 0;
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= CHECK(expectf(&others[i], "* %s joined\n", c->name));
    return ok;
}

/* The mode the room tests run in; in_every_room_mode sets it. */
static const char *room_mode = "thread";

static int start(test_server_t *ts, ts_kind_t kind, const char *mode)
{
    ss_config_t cfg;
    ts_config(&cfg, kind, mode, &ss_handler_chat);
    return CHECK(ts_start(ts, &cfg) == 0);
}

/* ---- Three clients in thread mode ---------------------------------------- */

static void room_case(ts_kind_t kind)
{
    test_server_t ts;
    client_t c[3];
    clients_init(c, 3);
    if (!start(&ts, kind, room_mode))
        return;
    int ok = join_room(&c[0], ts.address, NULL, 0) &&
             join_room(&c[1], ts.address, c, 1) &&
             join_room(&c[2], ts.address, c, 2);
    if (ok) {
        char a[sizeof(c[0].name)], b[sizeof(c[0].name)];
        snprintf(a, sizeof(a), "%s", c[0].name);
        snprintf(b, sizeof(b), "%s", c[1].name);
        CHECK(say(&c[0], "hello\n") == 0); /* to the two others only */
        CHECK(expectf(&c[1], "%s: hello\n", a));
        CHECK(expectf(&c[2], "%s: hello\n", a));
        CHECK(quiet(&c[0]));
        CHECK(say(&c[0], "/nick alice\n") == 0); /* announced to all */
        for (int i = 0; i < 3; i++)
            CHECK(expectf(&c[i], "* %s is now alice\n", a));
        CHECK(say(&c[1], "/nick bob\n") == 0);
        for (int i = 0; i < 3; i++)
            CHECK(expectf(&c[i], "* %s is now bob\n", b));
        CHECK(say(&c[1], "hi there\r\n") == 0);
        CHECK(expect(&c[0], "bob: hi there\n"));
        CHECK(expect(&c[2], "bob: hi there\n"));
        CHECK(quiet(&c[1]));
        CHECK(say(&c[2], "/who\n") == 0); /* to the asker only */
        CHECK(expectf(&c[2], "* 3 in the room: alice bob %s\n", c[2].name));
        CHECK(quiet(&c[0]) && quiet(&c[1]));
        CHECK(say(&c[2], "/quit\n") == 0);
        CHECK(expect(&c[2], "* bye\n"));
        CHECK(ts_expect_eof(c[2].fd, T));
        CHECK(expectf(&c[0], "* %s left\n", c[2].name));
        CHECK(expectf(&c[1], "* %s left\n", c[2].name));
        hang_up(&c[1]); /* gone without /quit */
        CHECK(expect(&c[0], "* bob left\n"));
        CHECK(say(&c[0], "/who\n") == 0);
        CHECK(expect(&c[0], "* 1 in the room: alice\n"));
    }
    for (int i = 0; i < 3; i++)
        hang_up(&c[i]);
    ts_stop(&ts);
}

static void test_chat_room(void)
{
    static const ts_kind_t kinds[] = {TS_TCP4, TS_TCP6};
    for (size_t k = 0; k < COUNT(kinds); k++) {
        snprintf(ts_where, sizeof(ts_where), "%s/%s", ts_kind_name(kinds[k]),
                 room_mode);
        room_case(kinds[k]);
    }
}

/* ---- Bad input ----------------------------------------------------------- */

/* A line of len bytes of fill, then end. */
static char *long_line(size_t len, char fill, const char *end)
{
    char *line = malloc(len + strlen(end) + 1);
    if (line) {
        memset(line, fill, len);
        strcpy(line + len, end);
    }
    return line;
}

/* Each refused command gets its own answer; the other hears nothing. */
static void bad_commands(client_t *a, client_t *b)
{
    static const struct {
        const char *send, *answer;
    } cases[] = {
        {"/nick\n", NICK_USAGE},
        {"/nick   \n", NICK_USAGE},
        {"/nick two words\n", NICK_USAGE},
        {"/nick tab\there\n", NICK_USAGE},
        {"/nick 123456789012345678901234567890123\n", NICK_USAGE},
        {"/nick bob\n", "* the name bob is taken\n"},
        {"/frob\n", UNKNOWN},
        {"/\n", UNKNOWN},
        {"/nickname x\n", UNKNOWN},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        CHECK(say(a, cases[i].send) == 0);
        if (!CHECK(expect(a, cases[i].answer)))
            ts_note("...after \"%s\"", cases[i].send);
    }
    CHECK(say(a, "\n\r\n") == 0); /* empty lines: nothing at all */
    CHECK(quiet(a) && quiet(b));
    CHECK(say(a, "/nick 12345678901234567890123456789012\n") == 0);
    CHECK(
        expectf(a, "* %s is now 12345678901234567890123456789012\n", a->name));
    CHECK(
        expectf(b, "* %s is now 12345678901234567890123456789012\n", a->name));
    snprintf(a->name, sizeof(a->name), "12345678901234567890123456789012");
}

/* Over-long lines are refused whole, once each; the limit itself and
 * the next line pass. */
static void long_lines(client_t *a, client_t *b)
{
    char *max = long_line(1024, 'm', "\r\n");
    char *over = long_line(1025, 'o', "\n");
    char *huge = long_line(5000, 'h', "\n");
    if (CHECK(max && over && huge)) {
        CHECK(say(a, over) == 0);
        CHECK(expect(a, TOO_LONG));
        CHECK(say(a, huge) == 0);
        CHECK(expect(a, TOO_LONG));
        CHECK(quiet(a) && quiet(b));
        CHECK(say(a, max) == 0);
        max[1024] = '\0';
        CHECK(expectf(b, "%s: %s\n", a->name, max));
    }
    free(max);
    free(over);
    free(huge);
}

/* Split and batched lines, control bytes and UTF-8. */
static void odd_lines(client_t *a, client_t *b)
{
    CHECK(say(a, "par") == 0);
    CHECK(quiet(b));
    CHECK(say(a, "tial\none\ntwo\n") == 0);
    CHECK(expectf(b, "%s: partial\n", a->name));
    CHECK(expectf(b, "%s: one\n", a->name));
    CHECK(expectf(b, "%s: two\n", a->name));
    static const char raw[] = "a\x01"
                              "b\x1b[2J\tc\rd\x7f\xe4\xbd\xa0\xe5\xa5\xbd\n";
    CHECK(send(a->fd, raw, sizeof(raw) - 1, MSG_NOSIGNAL) ==
          (ssize_t)sizeof(raw) - 1);
    CHECK(expectf(b, "%s: a?b?[2J\tc?d?\xe4\xbd\xa0\xe5\xa5\xbd\n", a->name));
    static const char nul[] = "x\0y\n";
    CHECK(send(a->fd, nul, 4, MSG_NOSIGNAL) == 4);
    CHECK(expectf(b, "%s: x?y\n", a->name));
    CHECK(quiet(a));
}

static void test_chat_bad_input(void)
{
    snprintf(ts_where, sizeof(ts_where), "tcp4/%s, bad input", room_mode);
    test_server_t ts;
    client_t c[2];
    clients_init(c, 2);
    if (!start(&ts, TS_TCP4, room_mode))
        return;
    if (join_room(&c[0], ts.address, NULL, 0) &&
        join_room(&c[1], ts.address, c, 1)) {
        CHECK(say(&c[1], "/nick bob\n") == 0);
        CHECK(expectf(&c[0], "* %s is now bob\n", c[1].name));
        CHECK(expectf(&c[1], "* %s is now bob\n", c[1].name));
        bad_commands(&c[0], &c[1]);
        long_lines(&c[0], &c[1]);
        odd_lines(&c[0], &c[1]);
    }
    hang_up(&c[0]);
    hang_up(&c[1]);
    ts_stop(&ts);
}

/* ---- A client that never reads ------------------------------------------- */

typedef struct flood {
    client_t *talker;
    atomic_size_t heard; /* bytes the listener has read so far */
    size_t lines;
    int rc;
} flood_t;

static void flood_line(char *buf, size_t i)
{
    int n = snprintf(buf, FLOOD_LINE, "line %07zu ", i);
    memset(buf + n, 'x', FLOOD_LINE - 1 - (size_t)n);
    buf[FLOOD_LINE - 1] = '\n';
}

/* Say the flood, never more than FLOOD_LAG ahead of the listener: the
 * listener keeps up, only the one that never reads falls behind. */
static void *flood_writer(void *arg)
{
    flood_t *f = arg;
    char line[FLOOD_LINE];
    long long deadline = ts_now_ms() + FLOOD_MS;
    for (size_t i = 0; i < f->lines && f->rc == 0; i++) {
        size_t sent = i * FLOOD_LINE;
        while (sent > atomic_load(&f->heard) + FLOOD_LAG && f->rc == 0)
            if (ts_now_ms() > deadline)
                f->rc = -1;
            else
                ts_sleep_ms(1);
        flood_line(line, i);
        if (send(f->talker->fd, line, FLOOD_LINE, MSG_NOSIGNAL) != FLOOD_LINE)
            f->rc = -1;
    }
    return NULL;
}

/* The listener reads every flood line in order, and once the notice that
 * the slow one was dropped.  Returns the number of notices. */
static int hear_flood(client_t *b, flood_t *f, const char *prefix,
                      const char *notice)
{
    char want[sizeof(b->name) + FLOOD_LINE + 4], line[2048], text[FLOOD_LINE];
    int notices = 0;
    long long deadline = ts_now_ms() + FLOOD_MS;
    for (size_t i = 0; i < f->lines;) {
        ssize_t n =
            read_line(b, line, sizeof(line), (int)(deadline - ts_now_ms()));
        if (!CHECK(n > 0)) {
            ts_note("flood: heard %zu of %zu lines", i, f->lines);
            break;
        }
        if (strcmp(line, notice) == 0) {
            notices++;
            continue;
        }
        atomic_fetch_add(&f->heard, FLOOD_LINE);
        flood_line(text, i++);
        snprintf(want, sizeof(want), "%s%.*s", prefix, FLOOD_LINE, text);
        if (!CHECK(strcmp(line, want) == 0)) {
            ts_note("flood line %zu: got \"%.60s\"", i - 1, line);
            break;
        }
    }
    return notices;
}

/* The slow one's connection ends (EOF or reset) once drained. */
static int drained_to_end(int fd)
{
    char junk[65536];
    long long deadline = ts_now_ms() + T;
    while (ts_now_ms() < deadline) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) < 0)
            return 0;
        ssize_t k = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            return 1;
    }
    return 0;
}

static void slow_case(client_t *a, client_t *b, client_t *slow)
{
    char prefix[sizeof(a->name) + 2], notice[sizeof(a->name) + 64];
    flood_t f = {.talker = a, .lines = FLOOD_BYTES / FLOOD_LINE};
    atomic_init(&f.heard, 0);
    snprintf(prefix, sizeof(prefix), "%s: ", a->name);
    snprintf(notice, sizeof(notice), "* %s was too slow and was disconnected\n",
             slow->name);
    pthread_t tid;
    long long t0 = ts_now_ms();
    if (!CHECK(pthread_create(&tid, NULL, flood_writer, &f) == 0))
        return;
    int notices = hear_flood(b, &f, prefix, notice);
    pthread_join(tid, NULL);
    ts_note("%zu lines past a slow reader in %lld ms", f.lines,
            ts_now_ms() - t0);
    CHECK(f.rc == 0);
    CHECK(notices == 1);
    CHECK(expect(a, notice));
    t0 = ts_now_ms(); /* the room is still quick */
    CHECK(say(b, "ping\n") == 0);
    CHECK(expectf(a, "%s: ping\n", b->name));
    CHECK(ts_now_ms() - t0 < PING_MS);
    CHECK(say(a, "/who\n") == 0);
    CHECK(expectf(a, "* 2 in the room: %s %s\n", a->name, b->name));
    CHECK(drained_to_end(slow->fd));
}

static void test_chat_slow_reader(void)
{
    snprintf(ts_where, sizeof(ts_where), "tcp4/%s, slow reader", room_mode);
    test_server_t ts;
    client_t c[3];
    clients_init(c, 3);
    if (!start(&ts, TS_TCP4, room_mode))
        return;
    if (join_room(&c[0], ts.address, NULL, 0) &&
        join_room(&c[1], ts.address, c, 1) && join(&c[2], ts.address, 4096)) {
        CHECK(expectf(&c[0], "* %s joined\n", c[2].name));
        CHECK(expectf(&c[1], "* %s joined\n", c[2].name));
        slow_case(&c[0], &c[1], &c[2]);
    }
    for (int i = 0; i < 3; i++)
        hang_up(&c[i]);
    ts_stop(&ts);
}

/* ---- Sync mode: one client at a time ------------------------------------- */

static void test_chat_sync(void)
{
    snprintf(ts_where, sizeof(ts_where), "tcp4/sync");
    test_server_t ts;
    client_t c;
    clients_init(&c, 1);
    if (!start(&ts, TS_TCP4, "sync"))
        return;
    if (join(&c, ts.address, 0)) {
        CHECK(say(&c, "anyone?\n") == 0);
        CHECK(quiet(&c)); /* alone: nobody to tell */
        CHECK(say(&c, "/who\n") == 0);
        CHECK(expectf(&c, "* 1 in the room: %s\n", c.name));
        CHECK(say(&c, "/nick solo\n") == 0);
        CHECK(expectf(&c, "* %s is now solo\n", c.name));
        CHECK(say(&c, "/quit\n") == 0);
        CHECK(expect(&c, "* bye\n"));
        CHECK(ts_expect_eof(c.fd, T));
    }
    hang_up(&c);
    /* The next one is served; after its EOF it still gets its answer. */
    if (join(&c, ts.address, 0)) {
        CHECK(say(&c, "/who") == 0);
        CHECK(shutdown(c.fd, SHUT_WR) == 0);
        CHECK(expectf(&c, "* 1 in the room: %s\n", c.name));
        CHECK(ts_expect_eof(c.fd, T));
    }
    hang_up(&c);
    ts_stop(&ts);
}

/* ---- What it refuses ----------------------------------------------------- */

static void test_chat_refused(void)
{
    snprintf(ts_where, sizeof(ts_where), "fork, workers, datagram refused");
    static const struct {
        ts_kind_t kind;
        const char *mode;
        int workers;
        const char *want;
    } cases[] = {
        {TS_TCP4, "fork", 0,
         "chat: needs one shared room; run it in thread or sync mode in one "
         "process (fork gives clients processes of their own)"},
        {TS_TCP4, "thread", 2,
         "chat: needs one shared room; run it in thread or sync mode in one "
         "process (--workers gives clients processes of their own)"},
        {TS_UDP4, "thread", 0, "chat: needs stream connections"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        ss_config_t cfg;
        ss_server_t *srv = NULL;
        char err[256] = "";
        ts_config(&cfg, cases[i].kind, cases[i].mode, &ss_handler_chat);
        cfg.workers = cases[i].workers;
        int rc = ss_server_create(&srv, &cfg, err, sizeof(err));
        if (srv)
            ss_server_close(srv);
        if (!CHECK(rc == -EINVAL && strstr(err, cases[i].want)))
            ts_note("%s: rc %d, err \"%s\"", cases[i].mode, rc, err);
    }
    static const char *const args[] = {
        "--handler", "chat", "--mode", "fork", "--listen", "127.0.0.1:0", NULL};
    cli_proc_t p;
    if (CHECK(ts_cli_start(&p, args, 0) == 0)) {
        CHECK(ts_cli_wait(&p, T) == 1);
        if (!CHECK(strstr(p.errtext, "chat: needs one shared room")))
            ts_note("stderr: %s", p.errtext);
    }
}

/* Run a room test in every mode with one shared room in one process. */
static void in_every_room_mode(CU_TestFunc fn)
{
    static const char *const modes[] = {"thread",         "prethread",
                                        "prethread-lock", "event",
                                        "event-poll",     "event-select"};
    for (size_t i = 0; i < COUNT(modes); i++) {
        room_mode = modes[i];
        fn();
    }
    room_mode = "thread";
}

static void test_room_every_mode(void)
{
    in_every_room_mode(test_chat_room);
}
static void test_bad_input_every_mode(void)
{
    in_every_room_mode(test_chat_bad_input);
}
static void test_slow_reader_every_mode(void)
{
    in_every_room_mode(test_chat_slow_reader);
}

void register_chat_tests(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"three clients: lines, notices, /nick, /who, /quit (thread, "
         "prethread, event)",
         test_room_every_mode},
        {"bad commands, long lines, control bytes (thread, prethread, event)",
         test_bad_input_every_mode},
        {"a client that never reads is dropped, the room goes on (thread, "
         "prethread, event)",
         test_slow_reader_every_mode},
        {"one client at a time (sync)", test_chat_sync},
        {"fork mode and datagrams refused", test_chat_refused},
    };
    CU_pSuite suite = ts_suite("chat");
    for (size_t i = 0; suite && i < COUNT(tests); i++)
        CU_add_test(suite, tests[i].name, tests[i].fn);
}
