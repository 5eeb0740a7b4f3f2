/* test_request.c -- the request functions handlers use, each driven by a
 * small handler over a real loopback connection: read_line and its cap,
 * recv_exact, sendf, sleep, timeouts, peer text, setup/finish, datagrams. */
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- A server per test, one exchange ----------------------------------- */

/* Run handler in thread mode on kind; send each piece of input (30 ms
 * apart), half-close, and read everything back into out. */
static ssize_t exchange(ts_kind_t kind, const ss_handler_t *handler,
                        int timeout_ms, const char *const *pieces, char *out,
                        size_t cap)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, kind, "thread", handler);
    cfg.timeout_ms = timeout_ms;
    if (ts_start(&ts, &cfg) < 0)
        return -1;
    int fd = ts_connect(ts.address, 0);
    ssize_t n = -1;
    if (fd >= 0) {
        for (int i = 0; pieces && pieces[i]; i++) {
            if (i > 0)
                ts_sleep_ms(30);
            ts_send_str(fd, pieces[i]);
        }
        if (pieces)
            shutdown(fd, SHUT_WR);
        n = ts_read_all(fd, out, cap, 3000);
        close(fd);
    }
    ts_stop(&ts);
    return n;
}

/* ---- ss_read_line ------------------------------------------------------ */

/* Reports each ss_read_line result with a cap of 8: "L<n>:<line>|" for a
 * line, "E:<first 7 bytes>|" for a line too long, "EOF|" at the end. */
static int lines_handle(ss_request_t *req)
{
    char buf[8];
    for (;;) {
        ssize_t n = ss_read_line(req, buf, sizeof(buf));
        if (n == -EMSGSIZE)
            return ss_sendf(req, "E:%s|", buf);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return ss_sendf(req, "EOF|");
        ss_sendf(req, "L%zd:%s|", n, buf);
    }
}

static const ss_handler_t lines = {.name = "lines", .handle = lines_handle};

static void check_lines(const char *const *pieces, const char *expect)
{
    char out[512];
    CU_ASSERT(exchange(TS_TCP4, &lines, 0, pieces, out, sizeof(out)) >= 0);
    CU_ASSERT_STRING_EQUAL(out, expect);
}

static void test_read_line(void)
{
    check_lines((const char *[]){"ab\ncd\n", NULL}, "L3:ab\n|L3:cd\n|EOF|");
    check_lines((const char *[]){"a", "b", "\n", NULL}, "L3:ab\n|EOF|");
    check_lines((const char *[]){"abcdef\n", NULL}, "L7:abcdef\n|EOF|");
    check_lines((const char *[]){"abcdefg\n", NULL}, "E:abcdefg|");
    check_lines((const char *[]){"abcdefghijkl\n", NULL}, "E:abcdefg|");
    check_lines((const char *[]){"ok\r\nxyz", NULL}, "L4:ok\r\n|L3:xyz|EOF|");
    check_lines((const char *[]){"\n\n", NULL}, "L1:\n|L1:\n|EOF|");
}

/* A cap with no room for a byte could never progress: refused. */
static int tiny_handle(ss_request_t *req)
{
    char buf[1];
    return ss_sendf(req, "%zd", ss_read_line(req, buf, sizeof(buf)));
}

static const ss_handler_t tiny = {.name = "tiny", .handle = tiny_handle};

static void test_read_line_tiny_cap(void)
{
    char out[32], expect[32];
    snprintf(expect, sizeof(expect), "%d", -EINVAL);
    const char *pieces[] = {"data\n", NULL};
    CU_ASSERT(exchange(TS_TCP4, &tiny, 0, pieces, out, sizeof(out)) > 0);
    CU_ASSERT_STRING_EQUAL(out, expect);
}

/* ---- ss_recv_exact ----------------------------------------------------- */

static int exact_handle(ss_request_t *req)
{
    char buf[11];
    for (;;) {
        ssize_t n = ss_recv_exact(req, buf, 10);
        if (n <= 0)
            return (int)n;
        buf[n] = '\0';
        ss_sendf(req, "X%zd:%s|", n, buf);
    }
}

static const ss_handler_t exact = {.name = "exact", .handle = exact_handle};

static void test_recv_exact(void)
{
    char out[256];
    const char *pieces[] = {"0123", "456789", "abcd", NULL};
    CU_ASSERT(exchange(TS_TCP4, &exact, 0, pieces, out, sizeof(out)) >= 0);
    CU_ASSERT_STRING_EQUAL(out, "X10:0123456789|X4:abcd|");
}

/* ---- ss_sendf ---------------------------------------------------------- */

static int big_handle(ss_request_t *req)
{
    return ss_sendf(req, "%0*d", 3000, 7); /* past the stack buffer */
}

static const ss_handler_t big = {.name = "big", .handle = big_handle};

static void test_sendf_large(void)
{
    char out[4096];
    CU_ASSERT_EQUAL(exchange(TS_TCP4, &big, 0, NULL, out, sizeof(out)), 3000);
    CU_ASSERT(out[0] == '0' && out[2998] == '0' && out[2999] == '7');
}

/* ---- ss_sleep and timeouts --------------------------------------------- */

static int sleepy_handle(ss_request_t *req)
{
    long long t0 = ts_now_ms();
    int rc = ss_sleep(req, 200);
    return ss_sendf(req, "rc=%d slept=%lld", rc, ts_now_ms() - t0);
}

static const ss_handler_t sleepy = {.name = "sleepy", .handle = sleepy_handle};

/* The sleepy handler's report on a thread server with these limits. */
static void sleep_with(int timeout_ms, int deadline_ms, int *rc,
                       long long *slept)
{
    char out[128] = "";
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "thread", &sleepy);
    cfg.timeout_ms = timeout_ms;
    cfg.deadline_ms = deadline_ms;
    *rc = 1;
    *slept = -1;
    if (!CHECK(ts_start(&ts, &cfg) == 0))
        return;
    int fd = ts_connect(ts.address, 0);
    CHECK(fd >= 0 && ts_read_all(fd, out, sizeof(out), 3000) > 0);
    CHECK(sscanf(out, "rc=%d slept=%lld", rc, slept) == 2);
    if (fd >= 0)
        close(fd);
    ts_stop(&ts);
}

static void test_sleep(void)
{
    int rc;
    long long slept;
    snprintf(ts_where, sizeof(ts_where), "no limits");
    sleep_with(0, 0, &rc, &slept);
    CHECK(rc == 0 && slept >= 195 && slept < 1000);
    /* The idle timeout bounds waits for the peer, not a pause the handler
     * chose (poetry's --delay longer than --timeout). */
    snprintf(ts_where, sizeof(ts_where), "idle timeout 50 ms");
    sleep_with(50, 0, &rc, &slept);
    CHECK(rc == 0 && slept >= 195 && slept < 1000);
    /* The connection's deadline ends it early. */
    snprintf(ts_where, sizeof(ts_where), "deadline 50 ms");
    sleep_with(0, 50, &rc, &slept);
    CHECK(rc == -ETIMEDOUT && slept >= 40 && slept < 190);
}

/* Waits for data that never comes; reports how the read ended.  With
 * context set, it sets its own 50 ms timeout first. */
static int waiter_handle(ss_request_t *req)
{
    char c;
    if (ss_context(req))
        ss_set_timeout(req, 50);
    long long t0 = ts_now_ms();
    ssize_t n = ss_recv(req, &c, 1);
    return ss_sendf(req, "%s after %lld", n < 0 ? strerror((int)-n) : "data",
                    ts_now_ms() - t0);
}

static const ss_handler_t waiter = {.name = "waiter", .handle = waiter_handle};

static void check_timeout(int server_timeout, void *context, long long lo,
                          long long hi)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "thread", &waiter);
    cfg.timeout_ms = server_timeout;
    cfg.context = context;
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    int fd = ts_connect(ts.address, 0);
    char out[128], what[64] = "";
    long long took = -1;
    CU_ASSERT(ts_read_all(fd, out, sizeof(out), 3000) > 0);
    CU_ASSERT(sscanf(out, "%63[^0-9] %lld", what, &took) >= 1);
    char expect[64];
    snprintf(expect, sizeof(expect), "%s after ", strerror(ETIMEDOUT));
    CU_ASSERT(strncmp(out, expect, strlen(expect)) == 0);
    took = atoll(out + strlen(expect));
    CU_ASSERT(took >= lo && took < hi);
    close(fd);
    ts_stop(&ts);
}

static void test_timeouts(void)
{
    check_timeout(150, NULL, 145, 1000);  /* the server's timeout_ms */
    check_timeout(0, (void *)1, 45, 140); /* ss_set_timeout's */
}

/* ---- ss_peer ----------------------------------------------------------- */

static int peer_handle(ss_request_t *req)
{
    return ss_sendf(req, "%s", ss_peer(req));
}

static const ss_handler_t peer = {.name = "peer", .handle = peer_handle};

static void test_peer_text(void)
{
    const ts_kind_t kinds[] = {TS_TCP4, TS_TCP6, TS_UNIX};
    for (int k = 0; k < 3; k++) {
        ss_config_t cfg;
        test_server_t ts;
        ts_config(&cfg, kinds[k], "sync", &peer);
        CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
        int fd = ts_connect(ts.address, 0);
        CU_ASSERT_FATAL(fd >= 0);
        char out[256], expect[256];
        struct sockaddr_storage me;
        socklen_t len = sizeof(me);
        getsockname(fd, (struct sockaddr *)&me, &len);
        if (kinds[k] == TS_TCP4)
            snprintf(expect, sizeof(expect), "127.0.0.1:%d",
                     ntohs(((struct sockaddr_in *)&me)->sin_port));
        else if (kinds[k] == TS_TCP6)
            snprintf(expect, sizeof(expect), "[::1]:%d",
                     ntohs(((struct sockaddr_in6 *)&me)->sin6_port));
        else
            snprintf(expect, sizeof(expect), "unix:"); /* unnamed client */
        ts_read_all(fd, out, sizeof(out), 3000);
        CU_ASSERT_STRING_EQUAL(out, expect);
        close(fd);
        ts_stop(&ts);
    }
}

/* ---- setup / handle / finish ------------------------------------------- */

/* setup allocates the per-request data (finish frees it: ASan would see a
 * leak otherwise); with context set, setup fails instead. */
static int staged_setup(ss_request_t *req)
{
    if (ss_context(req))
        return -EPERM;
    char *note = malloc(16);
    if (!note)
        return -ENOMEM;
    strcpy(note, "from setup");
    ss_set_data(req, note);
    return 0;
}

static int staged_handle(ss_request_t *req)
{
    return ss_sendf(req, "handle(%s) ", (char *)ss_data(req));
}

static void staged_finish(ss_request_t *req)
{
    ss_sendf(req, "finish");
    free(ss_data(req));
}

static const ss_handler_t staged = {.name = "staged",
                                    .setup = staged_setup,
                                    .handle = staged_handle,
                                    .finish = staged_finish};

static void test_setup_handle_finish(void)
{
    for (int fail_setup = 0; fail_setup < 2; fail_setup++) {
        ss_config_t cfg;
        test_server_t ts;
        ts_config(&cfg, TS_TCP4, "thread", &staged);
        cfg.context = fail_setup ? (void *)1 : NULL;
        CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
        int fd = ts_connect(ts.address, 0);
        char out[128];
        ts_read_all(fd, out, sizeof(out), 3000);
        CU_ASSERT_STRING_EQUAL(out, fail_setup ? "finish"
                                               : "handle(from setup) finish");
        close(fd);
        ts_stop(&ts);
    }
}

/* ---- Datagram accessors ------------------------------------------------ */

/* Reports what the request functions say of the request, then echoes
 * what ss_recv reads (the datagram, then end of file). */
static int probe_handle(ss_request_t *req)
{
    size_t len = 0;
    const char *d = ss_datagram(req, &len);
    char buf[64];
    ssize_t first = ss_recv(req, buf, sizeof(buf) - 1);
    ssize_t second = ss_recv(req, buf + (first > 0 ? first : 0), 1);
    buf[first > 0 ? first : 0] = '\0';
    return ss_sendf(req, "dgram=%d len=%zu data=%.*s recv=%s then=%zd",
                    ss_is_datagram(req), len, (int)len, d ? d : "", buf,
                    second);
}

static const ss_handler_t probe = {.name = "probe", .handle = probe_handle};

static void test_datagram_accessors(void)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_UDP4, "sync", &probe);
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    int fd = ts_connect(ts.address, 1);
    CU_ASSERT_FATAL(fd >= 0);
    ts_send_str(fd, "ping");
    char out[256];
    ssize_t n = recv(fd, out, sizeof(out) - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    CU_ASSERT_STRING_EQUAL(out, "dgram=1 len=4 data=ping recv=ping then=0");
    close(fd);
    ts_stop(&ts);

    /* On a stream there is no datagram. */
    const char *pieces[] = {"pong", NULL};
    CU_ASSERT(exchange(TS_TCP4, &probe, 0, pieces, out, sizeof(out)) > 0);
    CU_ASSERT_STRING_EQUAL(out, "dgram=0 len=0 data= recv=pong then=0");
}

/* ---- Other descriptors: ss_connect, ss_poll, ss_fd_* ----------------- */

/* Relays one line to the echo server named by the context and brings the
 * answer back; reports how ss_poll and ss_connect behaved on the way. */
static int relay_handle(ss_request_t *req)
{
    char line[128], back[128];
    ssize_t n = ss_read_line(req, line, sizeof(line));
    if (n <= 0)
        return (int)n;
    int remote = ss_connect(req, ss_context(req));
    if (remote < 0)
        return ss_sendf(req, "connect: %s\n", strerror(-remote));
    struct pollfd pfd[2] = {{ss_fd(req), POLLIN, 0}, {remote, POLLIN, 0}};
    int idle = ss_poll(req, pfd, 2, 0); /* nothing to read yet */
    int rc = ss_fd_send_all(req, remote, line, (size_t)n);
    int ready = rc < 0 ? rc : ss_poll(req, pfd, 2, 2000);
    ssize_t k = ss_fd_recv(req, remote, back, sizeof(back) - 1);
    close(remote);
    back[k > 0 ? k : 0] = '\0';
    return ss_sendf(req, "idle=%d ready=%d client=%d remote=%d back=%s", idle,
                    ready, pfd[0].revents != 0, (pfd[1].revents & POLLIN) != 0,
                    back);
}

static const ss_handler_t relay = {.name = "relay", .handle = relay_handle};

static void test_relay_through_another_descriptor(void)
{
    ss_config_t ecfg, rcfg;
    test_server_t echo, front;
    ts_config(&ecfg, TS_TCP4, "thread", &ss_handler_echo);
    CU_ASSERT_FATAL(ts_start(&echo, &ecfg) == 0);
    ts_config(&rcfg, TS_TCP4, "thread", &relay);
    rcfg.context = echo.address;
    CU_ASSERT_FATAL(ts_start(&front, &rcfg) == 0);
    int fd = ts_connect(front.address, 0);
    char out[256];
    ts_send_str(fd, "via the remote\n");
    CU_ASSERT(ts_read_all(fd, out, sizeof(out), 3000) > 0);
    char expect[128];
    snprintf(expect, sizeof(expect),
             "idle=%d ready=1 client=0 remote=1 back=via the remote\n",
             -ETIMEDOUT);
    CU_ASSERT_STRING_EQUAL(out, expect);
    close(fd);
    ts_stop(&front);
    ts_stop(&echo);
}

static void test_connect_refused(void)
{
    /* A port nobody listens on: bind one, note it, close it. */
    ss_config_t cfg;
    ss_server_t *gone;
    char address[64];
    ts_config(&cfg, TS_TCP4, "sync", &ss_handler_echo);
    CU_ASSERT_FATAL(ss_server_create(&gone, &cfg, NULL, 0) == 0);
    snprintf(address, sizeof(address), "%s", ss_server_address(gone));
    ss_server_close(gone);

    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "thread", &relay);
    cfg.context = address;
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    int fd = ts_connect(ts.address, 0);
    char out[256], expect[128];
    ts_send_str(fd, "anyone?\n");
    ts_read_all(fd, out, sizeof(out), 3000);
    snprintf(expect, sizeof(expect), "connect: %s\n", strerror(ECONNREFUSED));
    CU_ASSERT_STRING_EQUAL(out, expect);
    close(fd);
    ts_stop(&ts);
}

/* ---- Handler open / close ---------------------------------------------- */

typedef struct {
    int opens, closes, refuse;
} lifecycle_t;

static int counted_open(ss_server_t *srv, char *err, size_t errlen)
{
    lifecycle_t *life = ss_server_context(srv);
    if (life->refuse) {
        snprintf(err, errlen, "counted: refusing %s mode",
                 ss_choice_name(SS_CHOICE_MODE, ss_server_config(srv)->mode));
        return -EINVAL;
    }
    life->opens++;
    ss_server_set_handler_data(srv, "state from open");
    return 0;
}

static void counted_close(ss_server_t *srv)
{
    ((lifecycle_t *)ss_server_context(srv))->closes++;
}

static int state_handle(ss_request_t *req)
{
    return ss_sendf(req, "%s", (const char *)ss_handler_data(req));
}

static const ss_handler_t counted = {.name = "counted",
                                     .handle = state_handle,
                                     .open = counted_open,
                                     .close = counted_close};

static void test_handler_open_close(void)
{
    lifecycle_t life = {0, 0, 0};
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "fork", &counted);
    cfg.context = &life;
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    int fd = ts_connect(ts.address, 0);
    char out[64];
    ts_read_all(fd, out, sizeof(out), 3000);
    CU_ASSERT_STRING_EQUAL(out, "state from open");
    close(fd);
    ts_stop(&ts);
    CU_ASSERT_EQUAL(life.opens, 1);
    CU_ASSERT_EQUAL(life.closes, 1);

    /* A refusing open fails create with its own message, leaves nothing
     * open, and is not closed. */
    int fds = ts_count_fds();
    ss_server_t *srv = NULL;
    char err[256];
    life.refuse = 1;
    CU_ASSERT_EQUAL(ss_server_create(&srv, &cfg, err, sizeof(err)), -EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "counted: refusing fork mode");
    CU_ASSERT_PTR_NULL(srv);
    CU_ASSERT_EQUAL(life.closes, 1);
    CU_ASSERT_EQUAL(ts_count_fds(), fds);
}

/* ---- ss_send_file --------------------------------------------------------
 * A 600 KiB file of a known pattern; the handler sends FILE_PART bytes of
 * it from FILE_OFFSET, then asks for bytes past its end and reports the
 * error as one more line. */
enum { FILE_BYTES = 600 * 1024, FILE_OFFSET = 1001, FILE_PART = 500000 };
static char file_path[64];
static unsigned char *file_bytes;

static int file_handle(ss_request_t *req)
{
    int fd = open(file_path, O_RDONLY);
    if (fd < 0)
        return -errno;
    int rc = ss_send_file(req, fd, FILE_OFFSET, FILE_PART);
    int past = ss_send_file(req, fd, FILE_BYTES - 10, 20); /* ends early */
    close(fd);
    return rc < 0 ? rc : ss_sendf(req, "|%d", past);
}

static const ss_handler_t file_sender = {.name = "file", .handle = file_handle};

static void test_send_file(void)
{
    snprintf(file_path, sizeof(file_path), "/tmp/ss-sendfile-XXXXXX");
    int fd = mkstemp(file_path);
    file_bytes = malloc(FILE_BYTES);
    CU_ASSERT_FATAL(fd >= 0 && file_bytes);
    ts_fill_pattern(file_bytes, FILE_BYTES, 3);
    CU_ASSERT_FATAL(write(fd, file_bytes, FILE_BYTES) == FILE_BYTES);
    close(fd);
    static char out[FILE_PART + 64];
    ssize_t n = exchange(TS_TCP4, &file_sender, 0, NULL, out, sizeof(out));
    CU_ASSERT_EQUAL(n, FILE_PART + 10 + 3); /* the part, 10 bytes, "|-5" */
    CU_ASSERT(n >= FILE_PART &&
              memcmp(out, file_bytes + FILE_OFFSET, FILE_PART) == 0);
    CU_ASSERT(n == FILE_PART + 13 &&
              memcmp(out + FILE_PART, file_bytes + FILE_BYTES - 10, 10) == 0 &&
              memcmp(out + FILE_PART + 10, "|-5", 3) == 0);
    unlink(file_path);
    free(file_bytes);
}

void register_request_tests(void)
{
    CU_pSuite s = ts_suite("request");
    CU_add_test(s, "ss_read_line: lines, splits, the cap, end of file",
                test_read_line);
    CU_add_test(s, "ss_read_line: a cap of 1 is refused",
                test_read_line_tiny_cap);
    CU_add_test(s, "ss_recv_exact: pieces joined, short at EOF",
                test_recv_exact);
    CU_add_test(s, "ss_sendf: output past its stack buffer", test_sendf_large);
    CU_add_test(s, "ss_send_file: a part of a file; past its end, -EIO",
                test_send_file);
    CU_add_test(s,
                "ss_sleep: paces; the deadline cuts it, the idle timeout not",
                test_sleep);
    CU_add_test(s, "timeouts: the server's and ss_set_timeout's",
                test_timeouts);
    CU_add_test(s, "ss_peer: v4, v6 and unix text", test_peer_text);
    CU_add_test(s, "setup, handle, finish; finish even when setup fails",
                test_setup_handle_finish);
    CU_add_test(s, "datagram accessors and recv on a datagram",
                test_datagram_accessors);
    CU_add_test(s, "ss_connect, ss_poll, ss_fd_*: relay a line",
                test_relay_through_another_descriptor);
    CU_add_test(s, "ss_connect to a closed port: -ECONNREFUSED",
                test_connect_refused);
    CU_add_test(s, "handler open/close: state, refusal, no leaks",
                test_handler_open_close);
}
