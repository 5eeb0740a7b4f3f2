/* test_robot.c -- the robot handler (seed 003's UDP robot) over UDP and
 * Unix datagrams in every mode, its size limit and its refusal of streams;
 * and the robot_client and echo_client_many examples as real processes. */
#include "helpers.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HELLO_ZH "你好!我是机器人.\n"
#define HELLO_EN "Hello! I am a robot.\n"
#define KEYWORDS "你好 hello hi 时间 time 帮助 help 再见 bye\n"
#define HELP_ZH "我懂: " KEYWORDS
#define HELP_EN "I know: " KEYWORDS
#define BYE_ZH "再见!\n"
#define BYE_EN "Bye!\n"
#define HUH "我不明白. Say 'help'.\n"
#define REFUSED "robot: answers datagrams only; use --udp"

#define T TS_IO_TIMEOUT_MS
#define MAX_DGRAM 8192    /* the server's default max_datagram */
#define REPLY_FLOOR 64    /* the robot's limit: max(3 * asked, 64) bytes */
#define CLIENT_TRIES 3    /* robot_client: tries per question... */
#define CLIENT_TRY_MS 500 /* ...of this long each */

static const ts_kind_t dgrams[] = {TS_UDP4, TS_UNIX_DGRAM};
static const ts_kind_t udp4[] = {TS_UDP4};
static const ts_kind_t tcp4[] = {TS_TCP4};
static const ts_kind_t streams[] = {TS_TCP4, TS_TCP6, TS_UNIX};

/* ---- Checks that say which case failed --------------------------------- */

/* ---- Datagram clients --------------------------------------------------- */

/* A question with its exact length, so that "" and embedded NULs work. */
typedef struct qa {
    const char *q;
    size_t qlen;
    const char *a; /* the exact reply */
} qa_t;
/* clang-format off */
#define QA(q, a) {(q), sizeof(q) - 1, (a)}
/* clang-format on */

/* Send one datagram, then wait up to T for one back: its length or -1. */
static ssize_t ask(int fd, const void *q, size_t qlen, char *buf, size_t cap)
{
    if (send(fd, q, qlen, 0) != (ssize_t)qlen)
        return -1;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, T) <= 0)
        return -1;
    ssize_t n = recv(fd, buf, cap - 1, 0);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

/* How many continuation bytes follow a UTF-8 lead byte; -1: not one. */
static int utf8_more(unsigned char lead)
{
    static const struct {
        unsigned char mask, bits;
    } leads[] = {{0x80, 0x00}, {0xE0, 0xC0}, {0xF0, 0xE0}, {0xF8, 0xF0}};
    for (int more = 0; more < 4; more++)
        if ((lead & leads[more].mask) == leads[more].bits)
            return more;
    return -1;
}

/* Well-formed UTF-8 (overlong forms not checked): no character cut. */
static int valid_utf8(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        int more = utf8_more(s[i]);
        if (more < 0 || (size_t)more >= len - i)
            return 0;
        for (int k = 1; k <= more; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += (size_t)more + 1;
    }
    return 1;
}

/* The robot's promise for an asked-byte datagram. */
static size_t reply_limit(size_t asked)
{
    return asked * 3 > REPLY_FLOOR ? asked * 3 : REPLY_FLOOR;
}

/* Ask, and check the reply is exactly want, within the limit, UTF-8. */
static void expect_reply(int fd, const qa_t *c)
{
    char buf[MAX_DGRAM * 2];
    ssize_t n = ask(fd, c->q, c->qlen, buf, sizeof(buf));
    size_t want = strlen(c->a);
    if (!CHECK(n == (ssize_t)want && memcmp(buf, c->a, want) == 0))
        ts_note("asked \"%.*s\" (%zu bytes): expected \"%s\", got %zd \"%s\"",
                (int)(c->qlen < 40 ? c->qlen : 40), c->q, c->qlen, c->a, n,
                n >= 0 ? buf : "");
    CHECK(n >= 0 && (size_t)n <= reply_limit(c->qlen));
    CHECK(n >= 0 && valid_utf8((const unsigned char *)buf, (size_t)n));
}

/* ---- The robot, datagram by datagram ------------------------------------ */

/* clang-format off */
static const qa_t dialogue[] = {
    QA("你好", HELLO_ZH), QA("hello", HELLO_EN), QA("hi", HELLO_EN),
    QA("帮助", HELP_ZH), QA("help", HELP_EN), QA("再见", BYE_ZH),
    QA("bye", BYE_EN), QA("HELLO", HELLO_EN), QA("Hi", HELLO_EN),
    QA("hI", HELLO_EN), QA("HeLp", HELP_EN), QA("BYE", BYE_EN),
    QA(" hi \r\n", HELLO_EN), QA("\t你好\n", HELLO_ZH),
    QA("\n\n帮助 ", HELP_ZH), QA("bye\r\n", BYE_EN),
    QA("?", HUH), QA("", HUH), QA(" \t\r\n", HUH),
    QA("hello there", HUH), QA("hi!", HUH), QA("hhi", HUH),
    QA("你好吗", HUH), QA("hi hi", HUH), QA("hi\0", HUH),
    QA("\0hi", HUH), QA("h\0i", HUH), QA("你", HUH),
    QA("ＨＩ", HUH), QA("\xff\xfehi", HUH), QA("exit", HUH),
    QA("0", HUH)};
/* clang-format on */

/* Two clients, questions interleaved: each reply goes to its own asker. */
static void robot_dialogue_case(ts_kind_t kind, const char *mode,
                                const void *arg)
{
    (void)arg;
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_robot))
        return;
    int fd[2] = {ts_connect(ts.address, 1), ts_connect(ts.address, 1)};
    if (CHECK(fd[0] >= 0 && fd[1] >= 0))
        for (size_t i = 0; i < COUNT(dialogue); i++)
            expect_reply(fd[i % 2], &dialogue[i]);
    for (int c = 0; c < 2; c++)
        if (fd[c] >= 0) {
            CHECK(ts_quiet(fd[c]));
            ts_hang_up(fd[c]);
        }
    ts_stop(&ts);
}

static void test_robot_dialogue(void)
{
    ts_each_case(dgrams, COUNT(dgrams), robot_dialogue_case, NULL);
}

/* Seconds since local midnight of the "HH:MM:SS\n" s starts with, or -1
 * (a NUL fails the checks before anything past it is read). */
static int clock_seconds(const char *s)
{
    for (int i = 0; i < 8; i++)
        if (i % 3 == 2 ? s[i] != ':' : !isdigit((unsigned char)s[i]))
            return -1;
    int h = (s[0] - '0') * 10 + s[1] - '0';
    int m = (s[3] - '0') * 10 + s[4] - '0';
    int sec = (s[6] - '0') * 10 + s[7] - '0';
    if (s[8] != '\n' || h > 23 || m > 59 || sec > 60)
        return -1;
    return h * 3600 + m * 60 + sec;
}

static int local_seconds_now(void)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    return tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

/* The reply is prefix + the local time now (within 2 s, across midnight
 * too) + "\n". */
static int is_time_reply(const char *reply, const char *prefix)
{
    size_t p = strlen(prefix);
    if (strncmp(reply, prefix, p) != 0)
        return 0;
    int said = clock_seconds(reply + p);
    int diff = abs(said - local_seconds_now());
    return said >= 0 && reply[p + 9] == '\0' &&
           (diff <= 2 || diff >= 86400 - 2);
}

static void robot_time_case(ts_kind_t kind, const char *mode, const void *arg)
{
    (void)arg;
    static const struct {
        const char *q, *prefix;
    } asks[] = {{"时间", "现在是 "},
                {"time", "It is "},
                {"TIME\n", "It is "},
                {" 时间\r\n", "现在是 "}};
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_robot))
        return;
    int fd = ts_connect(ts.address, 1);
    char buf[256];
    for (size_t i = 0; fd >= 0 && i < COUNT(asks); i++) {
        ssize_t n = ask(fd, asks[i].q, strlen(asks[i].q), buf, sizeof(buf));
        if (!CHECK(n > 0 && is_time_reply(buf, asks[i].prefix)))
            ts_note("asked \"%s\": got %zd \"%s\"", asks[i].q, n,
                    n > 0 ? buf : "");
        CHECK(n >= 0 && (size_t)n <= REPLY_FLOOR);
    }
    if (CHECK(fd >= 0))
        ts_hang_up(fd);
    ts_stop(&ts);
}

static void test_robot_time(void)
{
    ts_each_case(dgrams, COUNT(dgrams), robot_time_case, NULL);
}

/* The limit on the smallest questions, then hostile bytes of every size:
 * each gets the fixed reply and the robot goes on answering. */
static void robot_limit_case(ts_kind_t kind, const char *mode, const void *arg)
{
    (void)arg;
    static const qa_t smallest[] = {QA("?", HUH), QA("", HUH),
                                    QA("hi", HELLO_EN)};
    static const size_t sizes[] = {1, 3, 100, 4000, MAX_DGRAM};
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_robot))
        return;
    int fd = ts_connect(ts.address, 1);
    unsigned char *junk = malloc(MAX_DGRAM);
    if (CHECK(fd >= 0) && CHECK(junk != NULL)) {
        for (size_t i = 0; i < COUNT(smallest); i++)
            expect_reply(fd, &smallest[i]);
        for (size_t s = 0; s < COUNT(sizes); s++) {
            for (size_t i = 0; i < sizes[s]; i++)
                junk[i] = (unsigned char)(0xff - i * 7); /* NULs, 0xff... */
            expect_reply(fd, &(qa_t){(char *)junk, sizes[s], HUH});
        }
        expect_reply(fd, &dialogue[0]);
    }
    free(junk);
    if (fd >= 0)
        ts_hang_up(fd);
    ts_stop(&ts);
}

static void test_robot_limit(void)
{
    ts_each_case(dgrams, COUNT(dgrams), robot_limit_case, NULL);
}

/* ---- Streams refused ---------------------------------------------------- */

/* ss_server_create fails with the message and leaves nothing behind: no
 * server, no descriptor, no socket file. */
static void robot_refuse_case(ts_kind_t kind, const char *mode, const void *arg)
{
    (void)arg;
    ss_config_t cfg;
    ts_config(&cfg, kind, mode, &ss_handler_robot);
    ss_server_t *srv = NULL;
    char err[256] = "";
    int fds = ts_count_fds();
    int rc = ss_server_create(&srv, &cfg, err, sizeof(err));
    if (!CHECK(rc == -EINVAL && strcmp(err, REFUSED) == 0))
        ts_note("rc %d, err \"%s\"", rc, err);
    if (rc == 0 && srv)
        ss_server_close(srv);
    CHECK(ts_count_fds() == fds);
    if (kind == TS_UNIX)
        CHECK(access(cfg.address + strlen("unix:"), F_OK) != 0);
}

static void test_robot_refuses_streams(void)
{
    ts_each_case(streams, COUNT(streams), robot_refuse_case, NULL);
}

/* The CLI prints open's message and exits 1; with --udp it answers. */
static void test_robot_cli(void)
{
    snprintf(ts_where, sizeof(ts_where), "cli");
    cli_proc_t p;
    const char *tcp[] = {"--handler", "robot", "--listen", "127.0.0.1:0", NULL};
    if (CHECK(ts_cli_start(&p, tcp, 0) == 0)) {
        CHECK(ts_cli_wait(&p, T) == 1);
        if (!CHECK(strstr(p.errtext, REFUSED) != NULL))
            ts_note("stderr: %s", p.errtext);
    }
    const char *udp[] = {"--handler", "robot",       "--udp",
                         "--listen",  "127.0.0.1:0", NULL};
    if (!CHECK(ts_cli_start(&p, udp, 1) == 0))
        return;
    int fd = ts_connect(p.address, 1);
    if (CHECK(fd >= 0)) {
        expect_reply(fd, &dialogue[1]);
        ts_hang_up(fd);
    }
    kill(p.pid, SIGTERM);
    CHECK(ts_cli_wait(&p, T) == 0);
}

/* ---- Examples as processes ---------------------------------------------- */

/* Run example name with args (address first) to its exit, within
 * timeout_ms: its exit status; *ms how long it took. */
static int run_example(cli_proc_t *p, const char *name, const char *const *args,
                       int timeout_ms, long long *ms)
{
    char path[512];
    long long t0 = ts_now_ms();
    if (!CHECK(ts_proc_start(p, ts_example_path(path, sizeof(path), name), args,
                             0) == 0))
        return -1;
    int status = ts_cli_wait(p, timeout_ms);
    if (ms)
        *ms = ts_now_ms() - t0;
    return status;
}

/* A loopback port with nothing bound on it (just released). */
static int free_port(int type, char *address, size_t cap)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    socklen_t len = sizeof(in);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, type, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&in, sizeof(in)) < 0 ||
        getsockname(fd, (struct sockaddr *)&in, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(address, cap, "127.0.0.1:%d", ntohs(in.sin_port));
    return fd;
}

/* Each line of want (a '*' line ends with "HH:MM:SS") is in out, in
 * order, and nothing else. */
static int output_is(const char *out, const char *const *want)
{
    for (; *want; want++) {
        const char *star = strchr(*want, '*');
        size_t fixed = star ? (size_t)(star - *want) : strlen(*want);
        if (strncmp(out, *want, fixed) != 0)
            return 0;
        out += fixed;
        if (star && clock_seconds(out) < 0)
            return 0;
        out += star ? 9 : 0;
    }
    return *out == '\0';
}

static void robot_client_case(ts_kind_t kind, const char *mode, const void *arg)
{
    (void)arg;
    static const char *const want[] = {"你好 -> 你好!我是机器人.\n",
                                       "时间 -> 现在是 *", "bye -> Bye!\n",
                                       "? -> 我不明白. Say 'help'.\n", NULL};
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &ss_handler_robot))
        return;
    cli_proc_t p;
    const char *args[] = {ts.address, "你好", "时间", "bye", "?", NULL};
    CHECK(run_example(&p, "robot_client", args, T, NULL) == 0);
    if (!CHECK(output_is(p.outtext, want)))
        ts_note("stdout: %s\nstderr: %s", p.outtext, p.errtext);
    ts_stop(&ts);
}

static void test_robot_client(void)
{
    ts_each_case(udp4, COUNT(udp4), robot_client_case, NULL);
}

/* Without questions on the command line it reads them from stdin. */
static void test_robot_client_stdin(void)
{
    snprintf(ts_where, sizeof(ts_where), "udp4/thread, stdin");
    static const char *const want[] = {"hello -> Hello! I am a robot.\n",
                                       "HELP -> " HELP_EN, "再见 -> 再见!\n",
                                       NULL};
    test_server_t ts;
    if (!ts_start_case(&ts, TS_UDP4, "thread", &ss_handler_robot))
        return;
    char path[512];
    cli_proc_t p;
    const char *args[] = {
        "-c", "printf 'hello\\nHELP\\r\\n再见' | \"$0\" \"$1\"",
        ts_example_path(path, sizeof(path), "robot_client"), ts.address, NULL};
    if (CHECK(ts_proc_start(&p, "/bin/sh", args, 0) == 0)) {
        CHECK(ts_cli_wait(&p, T) == 0);
        if (!CHECK(output_is(p.outtext, want)))
            ts_note("stdout: %s\nstderr: %s", p.outtext, p.errtext);
    }
    ts_stop(&ts);
}

/* Nothing listens: each try is refused, and it still gives up only after
 * all of them -- within a bounded time. */
static void test_robot_client_refused(void)
{
    snprintf(ts_where, sizeof(ts_where), "udp4, nothing listening");
    char address[64];
    int fd = free_port(SOCK_DGRAM, address, sizeof(address));
    if (!CHECK(fd >= 0))
        return;
    close(fd);
    cli_proc_t p;
    long long ms;
    const char *args[] = {address, "你好", NULL};
    CHECK(run_example(&p, "robot_client", args, T, &ms) == 1);
    if (!CHECK(ms >= CLIENT_TRIES * CLIENT_TRY_MS - 100 &&
               ms < CLIENT_TRIES * CLIENT_TRY_MS + 1500))
        ts_note("gave up after %lld ms", ms);
    if (!CHECK(strstr(p.errtext, "no answer to \"你好\"") &&
               strstr(p.errtext, "after 3 tries of 500 ms") &&
               strstr(p.errtext, "nothing listens")))
        ts_note("stderr: %s", p.errtext);
    CHECK(p.outlen == 0);
}

/* A server that reads but never answers: exactly CLIENT_TRIES copies of
 * the question arrive, then the client gives up. */
static void test_robot_client_silent(void)
{
    snprintf(ts_where, sizeof(ts_where), "udp4, silent server");
    char address[64], buf[256];
    int fd = free_port(SOCK_DGRAM, address, sizeof(address));
    if (!CHECK(fd >= 0))
        return;
    cli_proc_t p;
    long long ms;
    const char *args[] = {address, "时间", NULL};
    CHECK(run_example(&p, "robot_client", args, T, &ms) == 1);
    CHECK(ms < CLIENT_TRIES * CLIENT_TRY_MS + 1500);
    int copies = 0;
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0)
        copies += n == (ssize_t)strlen("时间") && memcmp(buf, "时间", n) == 0;
    if (!CHECK(copies == CLIENT_TRIES))
        ts_note("%d copies of the question arrived", copies);
    if (!CHECK(strstr(p.errtext, "no answer") &&
               !strstr(p.errtext, "nothing listens")))
        ts_note("stderr: %s", p.errtext);
    close(fd);
}

/* A server that stays silent at the first copy of each question and
 * answers the second copy twice: the spare answer is stale, and waits in
 * the client's socket when it asks its next question.  The client is
 * stopped while both copies are queued, so it cannot read the first one
 * before the second is there. */
typedef struct doubler {
    int fd;
    pid_t client;
    int answered;
} doubler_t;

static void *answer_late_twice(void *arg)
{
    doubler_t *d = arg;
    char q[256], a[300];
    struct sockaddr_storage from;
    for (int copy = 0; copy < 2 * 2; copy++) { /* 2 questions, 2 copies */
        socklen_t len = sizeof(from);
        struct pollfd pfd = {d->fd, POLLIN, 0};
        ssize_t n = poll(&pfd, 1, T) == 1
                        ? recvfrom(d->fd, q, sizeof(q), 0,
                                   (struct sockaddr *)&from, &len)
                        : -1;
        if (n < 0)
            return NULL;
        if (copy % 2 == 0)
            continue;
        int alen = snprintf(a, sizeof(a), "answer to %.*s\n", (int)n, q);
        kill(d->client, SIGSTOP);
        for (int k = 0; k < 2; k++)
            sendto(d->fd, a, (size_t)alen, 0, (struct sockaddr *)&from, len);
        kill(d->client, SIGCONT);
        d->answered++;
    }
    return NULL;
}

static void test_robot_client_stale(void)
{
    snprintf(ts_where, sizeof(ts_where), "udp4, answers late and twice");
    static const char *const want[] = {"one -> answer to one\n",
                                       "two -> answer to two\n", NULL};
    char address[64], path[512];
    doubler_t d = {free_port(SOCK_DGRAM, address, sizeof(address)), 0, 0};
    const char *args[] = {address, "one", "two", NULL};
    cli_proc_t p;
    pthread_t tid;
    if (!CHECK(d.fd >= 0) ||
        !CHECK(ts_proc_start(
                   &p, ts_example_path(path, sizeof(path), "robot_client"),
                   args, 0) == 0)) {
        if (d.fd >= 0)
            close(d.fd);
        return;
    }
    d.client = p.pid;
    int started = CHECK(pthread_create(&tid, NULL, answer_late_twice, &d) == 0);
    CHECK(ts_cli_wait(&p, T) == 0);
    if (started)
        pthread_join(tid, NULL);
    CHECK(d.answered == 2);
    if (!CHECK(output_is(p.outtext, want)))
        ts_note("stdout: %s\nstderr: %s", p.outtext, p.errtext);
    close(d.fd);
}

static void test_robot_client_usage(void)
{
    snprintf(ts_where, sizeof(ts_where), "robot_client usage");
    static const char *const bad[][2] = {{NULL}, {"8002"}, {"127.0.0.1:"}};
    for (size_t i = 0; i < COUNT(bad); i++) {
        cli_proc_t p;
        CHECK(run_example(&p, "robot_client", bad[i], T, NULL) == 2);
        CHECK(strstr(p.errtext, "usage: robot_client") != NULL);
    }
}

/* ---- echo_client_many --------------------------------------------------- */

typedef struct many_case {
    const ss_handler_t *handler;
    const char *const *args; /* after the address */
    int status;
    const char *summary; /* how stdout starts */
    const char *err;     /* in stderr, or NULL: stderr is empty */
} many_case_t;

static void echo_many_case(ts_kind_t kind, const char *mode, const void *arg)
{
    const many_case_t *c = arg;
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, c->handler))
        return;
    const char *args[16] = {ts.address};
    for (size_t i = 0; c->args[i] && i + 2 < COUNT(args); i++)
        args[i + 1] = c->args[i];
    cli_proc_t p;
    long long ms;
    CHECK(run_example(&p, "echo_client_many", args, 15000, &ms) == c->status);
    int out_ok =
        CHECK(strncmp(p.outtext, c->summary, strlen(c->summary)) == 0 &&
              strstr(p.outtext, " s\n") != NULL);
    int err_ok =
        CHECK(c->err ? strstr(p.errtext, c->err) != NULL : p.errlen == 0);
    if (!out_ok || !err_ok)
        ts_note("stdout: %s\nstderr: %s", p.outtext, p.errtext);
    ts_stop(&ts);
}

static void test_echo_many(void)
{
    static const char *const args[] = {"-n", "100", "-m", "hello", NULL};
    static const many_case_t c = {&ss_handler_echo, args, 0,
                                  "100 ok, 0 failed, ", NULL};
    ts_each_case(tcp4, COUNT(tcp4), echo_many_case, &c);
}

/* A long message comes back in several reads; the default count. */
static void test_echo_many_long(void)
{
    static const char piece[] = "你好, echo! 12345\n";
    static char msg[6000];
    size_t len = 0;
    for (; len + sizeof(piece) <= sizeof(msg); len += sizeof(piece) - 1)
        memcpy(msg + len, piece, sizeof(piece) - 1);
    msg[len] = '\0';
    static const char *const args[] = {"-m", msg, NULL};
    static const many_case_t c = {&ss_handler_echo, args, 0,
                                  "40 ok, 0 failed, ", NULL};
    ts_each_case(tcp4, COUNT(tcp4), echo_many_case, &c);
}

/* The check can fail: a server that says something else. */
static void test_echo_many_wrong_reply(void)
{
    static const char *const args[] = {"-n", "5", "-m", "hello", NULL};
    static const many_case_t c = {&ss_handler_thankyou, args, 1,
                                  "0 ok, 5 failed, ", "reply differs"};
    snprintf(ts_where, sizeof(ts_where), "tcp4/thread, thankyou");
    echo_many_case(TS_TCP4, "thread", &c);
}

static void test_echo_many_refused(void)
{
    snprintf(ts_where, sizeof(ts_where), "tcp4, nothing listening");
    char address[64];
    int fd = free_port(SOCK_STREAM, address, sizeof(address));
    if (!CHECK(fd >= 0))
        return;
    close(fd);
    cli_proc_t p;
    const char *args[] = {address, "-n", "3", NULL};
    CHECK(run_example(&p, "echo_client_many", args, T, NULL) == 1);
    CHECK(strncmp(p.outtext, "0 ok, 3 failed, ", 16) == 0);
    if (!CHECK(strstr(p.errtext, "connection 1: connect: ") != NULL))
        ts_note("stderr: %s", p.errtext);
}

static void test_echo_many_usage(void)
{
    snprintf(ts_where, sizeof(ts_where), "echo_client_many usage");
    static const char *const bad[][5] = {{NULL},
                                         {"127.0.0.1:1", "-n", "0", NULL},
                                         {"127.0.0.1:1", "-n", "12x", NULL},
                                         {"127.0.0.1:1", "-n", "100001", NULL},
                                         {"127.0.0.1:1", "extra", NULL},
                                         {"127.0.0.1:1", "-x", NULL},
                                         {"-n", "5", NULL}};
    for (size_t i = 0; i < COUNT(bad); i++) {
        cli_proc_t p;
        if (!CHECK(run_example(&p, "echo_client_many", bad[i], T, NULL) == 2))
            ts_note("case %zu: stdout %s", i, p.outtext);
        CHECK(strstr(p.errtext, "usage: echo_client_many") != NULL);
    }
}

void register_robot_tests(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"robot: keywords, case, trimming, unknowns; every mode, UDP and "
         "Unix datagram",
         test_robot_dialogue},
        {"robot: the local time, in the asker's language", test_robot_time},
        {"robot: replies within max(3 x asked, 64) bytes; hostile bytes",
         test_robot_limit},
        {"robot: streams refused at create, nothing left behind",
         test_robot_refuses_streams},
        {"robot: CLI refuses TCP with the message, serves --udp",
         test_robot_cli},
        {"robot_client: questions from argv, every mode", test_robot_client},
        {"robot_client: questions from stdin", test_robot_client_stdin},
        {"robot_client: nothing listening: 3 tries, then exit 1",
         test_robot_client_refused},
        {"robot_client: silent server gets exactly 3 tries",
         test_robot_client_silent},
        {"robot_client: a late duplicate answer is not the next one's",
         test_robot_client_stale},
        {"robot_client: bad command lines exit 2", test_robot_client_usage},
        {"echo_client_many: 100 connections, every mode (fork > 40)",
         test_echo_many},
        {"echo_client_many: a 6000-byte message, 40 connections",
         test_echo_many_long},
        {"echo_client_many: wrong replies are failures",
         test_echo_many_wrong_reply},
        {"echo_client_many: nothing listening", test_echo_many_refused},
        {"echo_client_many: bad command lines exit 2", test_echo_many_usage},
    };
    CU_pSuite suite = ts_suite("robot");
    for (size_t i = 0; suite && i < COUNT(tests); i++)
        CU_add_test(suite, tests[i].name, tests[i].fn);
}
