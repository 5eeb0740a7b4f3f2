/* test_forward.c -- the forward handler (seed 004's port forwarder): a
 * relay in front of an echo or thankyou server on loopback, in sync, fork
 * and thread mode; 10 MB each way at once, half-close both ways, an
 * unreachable remote, and the CLI's checks and log line. */
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define T TS_IO_TIMEOUT_MS
#define BIG (10 * 1024 * 1024) /* relayed each way at once */
#define BIG_TIMEOUT_MS 15000
#define PROMPT_MS 2000     /* "promptly": an EOF within this */
#define HALF_CLOSE_MS 3000 /* all echoed, then EOF, within this */
#define THANKS "Thank you for connecting\n"

/* ---- Checks that say which case failed ----------------------------------- */

/* ---- Servers: a remote, and a forwarder in front of it ------------------- */

typedef struct relay_setup {
    test_server_t remote, forward;
    ss_option_value_t opts[2]; /* the forwarder's --remote: must outlive it */
    int have_remote;
} relay_setup_t;

static int start_forward(relay_setup_t *r, ts_kind_t kind, const char *mode,
                         const char *remote_address)
{
    ss_config_t cfg;
    r->opts[0] = (ss_option_value_t){"remote", remote_address};
    r->opts[1] = (ss_option_value_t){NULL, NULL};
    ts_config(&cfg, kind, mode, &ss_handler_forward);
    cfg.options = r->opts;
    return CHECK(ts_start(&r->forward, &cfg) == 0);
}

/* The remote runs in thread mode; the forwarder in the mode under test. */
static int start_relay(relay_setup_t *r, const ss_handler_t *remote,
                       ts_kind_t remote_kind, ts_kind_t kind, const char *mode)
{
    ss_config_t cfg;
    memset(r, 0, sizeof(*r));
    ts_config(&cfg, remote_kind, "thread", remote);
    if (!CHECK(ts_start(&r->remote, &cfg) == 0))
        return 0;
    r->have_remote = 1;
    if (start_forward(r, kind, mode, r->remote.address))
        return 1;
    ts_stop(&r->remote);
    return 0;
}

static void stop_relay(relay_setup_t *r)
{
    ts_stop(&r->forward);
    if (r->have_remote)
        ts_stop(&r->remote);
}

/* ---- Client side --------------------------------------------------------- */

/* Read exactly want (len bytes) within T. */
static int read_is(int fd, const char *want, size_t len)
{
    char buf[256];
    if (len >= sizeof(buf))
        return 0;
    ssize_t n = ts_read_until(fd, buf, len + 1, NULL, T);
    if (n == (ssize_t)len && memcmp(buf, want, len) == 0)
        return 1;
    ts_note("expected \"%.*s\", got %zd bytes \"%.*s\"", (int)len, want, n,
            n > 0 ? (int)n : 0, buf);
    return 0;
}

/* ---- .open --------------------------------------------------------------- */

/* Creating a forward server with this remote fails with -EINVAL and an
 * error holding want (a server created after all is closed again). */
static int create_fails(const char *remote, int datagram, const char *want)
{
    ss_option_value_t opts[] = {{remote ? "remote" : NULL, remote},
                                {NULL, NULL}};
    ss_config_t cfg;
    ss_server_t *srv = NULL;
    char err[256] = "";
    ts_config(&cfg, datagram ? TS_UDP4 : TS_TCP4, "thread",
              &ss_handler_forward);
    cfg.options = opts;
    int rc = ss_server_create(&srv, &cfg, err, sizeof(err));
    if (srv)
        ss_server_close(srv);
    if (rc == -EINVAL && strstr(err, want))
        return 1;
    ts_note("remote %s: rc %d, err \"%s\", wanted \"%s\"",
            remote ? remote : "(none)", rc, err, want);
    return 0;
}

static void test_forward_open(void)
{
    snprintf(ts_where, sizeof(ts_where), "open");
    CHECK(create_fails(NULL, 0, "forward: --remote HOST:PORT is required"));
    CHECK(create_fails("", 0, "forward: --remote HOST:PORT is required"));
    CHECK(create_fails("127.0.0.1", 0, "forward: --remote 127.0.0.1: "));
    CHECK(create_fails("127.0.0.1:1", 1, "forward: relays stream"));
    ss_option_value_t opts[] = {{"remote", "127.0.0.1:1"}, /* and a good */
                                {NULL, NULL}};             /* one is fine */
    ss_config_t cfg;
    ss_server_t *srv = NULL;
    ts_config(&cfg, TS_TCP4, "thread", &ss_handler_forward);
    cfg.options = opts;
    if (CHECK(ss_server_create(&srv, &cfg, NULL, 0) == 0))
        ss_server_close(srv);
}

/* ---- Relaying ------------------------------------------------------------ */

static void test_forward_big(void)
{
    unsigned char *out = malloc(BIG);
    if (!CHECK(out != NULL))
        return;
    ts_fill_pattern(out, BIG, 7);
    for (size_t m = 0; m < TS_NMODES; m++) {
        snprintf(ts_where, sizeof(ts_where), "%s, 10 MB each way", ts_modes[m]);
        relay_setup_t r;
        if (!start_relay(&r, &ss_handler_echo, TS_TCP4, TS_TCP4, ts_modes[m]))
            continue;
        long long t0 = ts_now_ms();
        int fd = ts_connect(r.forward.address, 0);
        if (CHECK(fd >= 0)) {
            ts_echo_check(fd, out, BIG, BIG_TIMEOUT_MS);
            ts_hang_up(fd);
        }
        ts_note("%lld ms", ts_now_ms() - t0);
        stop_relay(&r);
    }
    free(out);
}

/* The forwarder's and the remote's transports, pairwise. */
static const struct {
    ts_kind_t forward, remote;
} transports[] = {
    {TS_TCP4, TS_TCP4},
    {TS_UNIX, TS_TCP6},
    {TS_TCP6, TS_UNIX},
};

/* A live exchange, then the client half-closes: the echo sees the EOF
 * only if the forwarder passed it on, and the client sees the echo's EOF
 * only if it is passed back -- after every byte. */
static void half_close_case(int fd)
{
    static const char hello[] = "hello\n";
    if (!CHECK(ts_send_bytes(fd, hello, 6) == 0) ||
        !CHECK(read_is(fd, hello, 6)))
        return;
    size_t len = 100000;
    unsigned char *out = malloc(len), *in = malloc(len + 2);
    if (CHECK(out && in)) {
        ts_fill_pattern(out, len, 3);
        CHECK(ts_send_bytes(fd, out, len) == 0);
        CHECK(shutdown(fd, SHUT_WR) == 0);
        ssize_t n = ts_read_all(fd, (char *)in, len + 2, HALF_CLOSE_MS);
        if (!CHECK(n == (ssize_t)len && memcmp(in, out, len) == 0))
            ts_note("got %zd of %zu bytes, then %s", n, len,
                    n < 0 ? "no EOF" : "EOF");
    }
    free(out);
    free(in);
}

static void test_forward_half_close(void)
{
    for (size_t t = 0; t < COUNT(transports); t++)
        for (size_t m = 0; m < TS_NMODES; m++) {
            snprintf(ts_where, sizeof(ts_where), "%s via %s to %s", ts_modes[m],
                     ts_kind_name(transports[t].forward),
                     ts_kind_name(transports[t].remote));
            relay_setup_t r;
            if (!start_relay(&r, &ss_handler_echo, transports[t].remote,
                             transports[t].forward, ts_modes[m]))
                continue;
            int fd = ts_connect(r.forward.address, 0);
            if (CHECK(fd >= 0)) {
                half_close_case(fd);
                ts_hang_up(fd);
            }
            stop_relay(&r);
        }
}

/* The remote ends first: the thanks, then EOF, while the client has not
 * closed anything. */
static void test_forward_remote_eof(void)
{
    for (size_t m = 0; m < TS_NMODES; m++) {
        snprintf(ts_where, sizeof(ts_where), "%s, thankyou remote",
                 ts_modes[m]);
        relay_setup_t r;
        if (!start_relay(&r, &ss_handler_thankyou, TS_TCP4, TS_TCP4,
                         ts_modes[m]))
            continue;
        for (int i = 0; i < 2; i++) {
            int fd = ts_connect(r.forward.address, 0);
            if (!CHECK(fd >= 0))
                continue;
            char buf[256];
            long long t0 = ts_now_ms();
            ssize_t n = ts_read_all(fd, buf, sizeof(buf), T);
            if (!CHECK(n == (ssize_t)strlen(THANKS) &&
                       strcmp(buf, THANKS) == 0))
                ts_note("got %zd bytes \"%s\"", n, n > 0 ? buf : "");
            CHECK(ts_now_ms() - t0 < PROMPT_MS);
            ts_hang_up(fd);
        }
        stop_relay(&r);
    }
}

/* ---- An unreachable remote ----------------------------------------------- */

/* A socket bound to a loopback port but not listening: connecting to it
 * is refused, and the port stays ours.  Returns the fd; address filled. */
static int refusing_port(char *address, size_t cap)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(address, cap, "127.0.0.1:%u", ntohs(sin.sin_port));
    return fd;
}

/* The remote comes up: one more client is relayed to the accepted end. */
static void relayed_once_listening(int listener, const char *forward)
{
    if (!CHECK(listen(listener, 4) == 0))
        return;
    int fd = ts_connect(forward, 0);
    struct pollfd pfd = {listener, POLLIN, 0};
    int peer =
        fd >= 0 && poll(&pfd, 1, T) == 1 ? accept(listener, NULL, NULL) : -1;
    if (CHECK(fd >= 0) && CHECK(peer >= 0)) {
        CHECK(ts_send_bytes(peer, "hi\n", 3) == 0);
        CHECK(read_is(fd, "hi\n", 3));
        CHECK(ts_send_bytes(fd, "yo\n", 3) == 0);
        CHECK(read_is(peer, "yo\n", 3));
    }
    if (peer >= 0)
        ts_hang_up(peer);
    if (fd >= 0)
        ts_hang_up(fd);
}

static void test_forward_refused(void)
{
    for (size_t m = 0; m < TS_NMODES; m++) {
        snprintf(ts_where, sizeof(ts_where), "%s, refused remote", ts_modes[m]);
        char remote[64];
        int listener = refusing_port(remote, sizeof(remote));
        relay_setup_t r;
        memset(&r, 0, sizeof(r));
        if (!CHECK(listener >= 0) ||
            !start_forward(&r, TS_TCP4, ts_modes[m], remote)) {
            if (listener >= 0)
                close(listener);
            continue;
        }
        for (int i = 0; i < 3; i++) { /* each closed, the server goes on */
            int fd = ts_connect(r.forward.address, 0);
            long long t0 = ts_now_ms();
            if (CHECK(fd >= 0)) {
                CHECK(ts_expect_eof(fd, PROMPT_MS));
                CHECK(ts_now_ms() - t0 < PROMPT_MS);
                ts_hang_up(fd);
            }
        }
        relayed_once_listening(listener, r.forward.address);
        stop_relay(&r);
        close(listener);
    }
}

/* ---- The CLI ------------------------------------------------------------- */

static void test_forward_cli_needs_remote(void)
{
    snprintf(ts_where, sizeof(ts_where), "cli, no --remote");
    static const char *const args[] = {"--handler", "forward", "--listen",
                                       "127.0.0.1:0", NULL};
    cli_proc_t p;
    if (!CHECK(ts_cli_start(&p, args, 0) == 0))
        return;
    CHECK(ts_cli_wait(&p, T) == 1);
    if (!CHECK(strstr(p.errtext, "forward: --remote HOST:PORT is required")))
        ts_note("stderr: %s", p.errtext);
}

/* The refusal is logged as a warning naming the remote and the error. */
static void test_forward_cli_logs_refusal(void)
{
    snprintf(ts_where, sizeof(ts_where), "cli, refused remote");
    char remote[64], want[128];
    int listener = refusing_port(remote, sizeof(remote));
    if (!CHECK(listener >= 0))
        return;
    const char *const args[] = {"--handler",   "forward",  "--listen",
                                "127.0.0.1:0", "--remote", remote,
                                NULL};
    cli_proc_t p;
    if (CHECK(ts_cli_start(&p, args, 1) == 0)) {
        int fd = ts_connect(p.address, 0);
        if (CHECK(fd >= 0)) {
            CHECK(ts_expect_eof(fd, PROMPT_MS));
            ts_hang_up(fd);
        }
        kill(p.pid, SIGTERM);
        CHECK(ts_cli_wait(&p, T) == 0);
        snprintf(want, sizeof(want), "cannot connect to %s: %s", remote,
                 strerror(ECONNREFUSED));
        if (!CHECK(strstr(p.errtext, "warn: forward: ") &&
                   strstr(p.errtext, want)))
            ts_note("stderr: %s", p.errtext);
    }
    close(listener);
}

void register_forward_tests(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"open: --remote required and checked, streams only",
         test_forward_open},
        {"10 MB each way at once through echo, every mode", test_forward_big},
        {"client half-close: all echoed, then EOF, every mode and transport",
         test_forward_half_close},
        {"remote closes first: thanks then EOF, every mode",
         test_forward_remote_eof},
        {"refused remote: prompt EOF, server goes on, every mode",
         test_forward_refused},
        {"cli: no --remote exits 1 with the reason",
         test_forward_cli_needs_remote},
        {"cli: a refused remote is logged with its address and error",
         test_forward_cli_logs_refusal},
    };
    CU_pSuite suite = ts_suite("forward");
    for (size_t i = 0; suite && i < COUNT(tests); i++)
        CU_add_test(suite, tests[i].name, tests[i].fn);
}
