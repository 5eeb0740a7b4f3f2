/* test_proxied.c -- servers behind a balancer: the PROXY header read in
 * every mode before the handler runs, the client it names seen by the
 * handler, verify_request and the logs; every bad header, untrusted
 * source or silence refused with a clean close and no handler call; and
 * the CLI's handlers (logger, http) naming the real client. */
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int handled; /* handler calls, to prove refusals make none */

/* Reads one line and answers "peer=P via=V line=L". */
static int whoami_handle(ss_request_t *req)
{
    char line[128];
    atomic_fetch_add(&handled, 1);
    ssize_t n = ss_read_line(req, line, sizeof(line));
    if (n < 0)
        return (int)n;
    line[strcspn(line, "\r\n")] = '\0';
    const char *via = ss_proxy_peer(req);
    return ss_sendf(req, "peer=%s via=%s line=%s\n", ss_peer(req),
                    via ? via : "-", line);
}

static const ss_handler_t whoami = {.name = "whoami", .handle = whoami_handle};

/* verify_request refuses one client: the one a header names 6.6.6.6. */
static int refuse_666(ss_server_t *srv, ss_request_t *req)
{
    (void)srv;
    return strncmp(ss_peer(req), "6.6.6.6:", 8) != 0;
}

/* A v2 header for TCP over IPv4 from src:sport, or LOCAL; its length. */
static size_t v2_header(unsigned char *buf, const char *src, int sport,
                        int local)
{
    static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                          0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    memcpy(buf, sig, 12);
    buf[12] = local ? 0x20 : 0x21;
    buf[13] = local ? 0x00 : 0x11;
    buf[14] = 0;
    buf[15] = local ? 0 : 12;
    if (local)
        return 16;
    inet_pton(AF_INET, src, buf + 16);
    inet_pton(AF_INET, "127.0.0.1", buf + 20);
    buf[24] = (unsigned char)(sport >> 8);
    buf[25] = (unsigned char)sport;
    buf[26] = 0x1F;
    buf[27] = 0x40;
    return 28;
}

/* Send the header and a line in one write; the reply, or "" when the
 * connection ended without one. */
static void ask(const char *address, const void *head, size_t len, char *reply,
                size_t cap)
{
    reply[0] = '\0';
    int fd = ts_connect(address, 0);
    if (!CHECK(fd >= 0))
        return;
    char out[256];
    memcpy(out, head, len);
    memcpy(out + len, "hello\n", 6);
    ts_send_bytes(fd, out, len + 6);
    if (ts_read_until(fd, reply, cap, "\n", TS_IO_TIMEOUT_MS) < 0)
        reply[0] = '\0';
    ts_hang_up(fd);
}

/* The handler sees the client the header names, v1 and v2; a LOCAL
 * header leaves the balancer as the peer; verify_request judges the
 * client, not the balancer. */
static void serve_case(ts_kind_t kind, const char *mode, const void *arg)
{
    (void)arg;
    ss_config_t cfg;
    ts_config(&cfg, kind, mode, &whoami);
    cfg.proxy_protocol = SS_PROXY_AUTO;
    cfg.verify_request = refuse_666;
    test_server_t ts;
    if (!CHECK(ts_start(&ts, &cfg) == 0))
        return;
    char reply[256], expect[256];
    const char *v1 = "PROXY TCP4 192.0.2.7 127.0.0.1 4321 8000\r\n";
    ask(ts.address, v1, strlen(v1), reply, sizeof(reply));
    CHECK(strncmp(reply, "peer=192.0.2.7:4321 via=", 24) == 0 &&
          strstr(reply, "via=-") == NULL &&
          strstr(reply, " line=hello\n") != NULL);
    unsigned char v2[64];
    ask(ts.address, v2, v2_header(v2, "198.51.100.9", 60000, 0), reply,
        sizeof(reply));
    CHECK(strncmp(reply, "peer=198.51.100.9:60000 via=", 28) == 0);
    ask(ts.address, v2, v2_header(v2, NULL, 0, 1), reply, sizeof(reply));
    snprintf(expect, sizeof(expect), " via=- line=hello\n");
    CHECK(strstr(reply, expect) != NULL && strncmp(reply, "peer=", 5) == 0 &&
          strncmp(reply + 5, kind == TS_UNIX ? "unix:" : "127.0.0.1:",
                  kind == TS_UNIX ? 5 : 10) == 0);
    const char *evil = "PROXY TCP4 6.6.6.6 127.0.0.1 6666 8000\r\n";
    ask(ts.address, evil, strlen(evil), reply, sizeof(reply));
    CHECK(reply[0] == '\0'); /* refused by verify_request: no reply */
    ts_stop(&ts);
}

static void test_every_mode_sees_the_client(void)
{
    const ts_kind_t kinds[] = {TS_TCP4, TS_UNIX};
    ts_each_case(kinds, COUNT(kinds), serve_case, NULL);
}

/* One refused connection: closed cleanly (end of file, nothing sent) and
 * no handler call. */
static void expect_refused(const char *address, const void *bytes, size_t len,
                           const char *what)
{
    snprintf(ts_where, sizeof(ts_where), "%s", what);
    int before = atomic_load(&handled);
    int fd = ts_connect(address, 0);
    if (!CHECK(fd >= 0))
        return;
    if (len)
        ts_send_bytes(fd, bytes, len);
    CHECK(ts_expect_eof(fd, 3000));
    close(fd);
    CHECK(atomic_load(&handled) == before);
}

static void test_bad_headers_are_refused(void)
{
    ss_config_t cfg;
    ts_config(&cfg, TS_TCP4, "event", &whoami);
    cfg.proxy_protocol = SS_PROXY_V1;
    cfg.proxy_timeout_ms = 300;
    test_server_t ts;
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    unsigned char v2[64];
    const char *cases[][2] = {
        {"GET / HTTP/1.0\r\n\r\n", "no header at all"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n", "bad port"},
        {"PROXY TCP4 1.2.3.400 5.6.7.8 1 80\r\n", "bad address"},
        {"PROXY TCP9 1.2.3.4 5.6.7.8 1 80\r\n", "bad protocol"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 80 and much more text that runs on "
         "past the longest line the specification allows a header\r\n",
         "a line over 107 bytes"}};
    for (size_t i = 0; i < COUNT(cases); i++)
        expect_refused(ts.address, cases[i][0], strlen(cases[i][0]),
                       cases[i][1]);
    expect_refused(ts.address, v2, v2_header(v2, "1.2.3.4", 1, 0),
                   "v2 where only v1 is allowed");
    long long start = ts_now_ms();
    expect_refused(ts.address, "PROXY TCP4 1.2", 14, "a header cut short");
    CHECK(ts_now_ms() - start < 2000); /* its 300 ms deadline, not more */
    expect_refused(ts.address, NULL, 0, "silence");
    char reply[256]; /* and a good client is still served */
    const char *v1 = "PROXY TCP4 192.0.2.1 127.0.0.1 1000 8000\r\n";
    ask(ts.address, v1, strlen(v1), reply, sizeof(reply));
    CU_ASSERT(strncmp(reply, "peer=192.0.2.1:1000 ", 20) == 0);
    ts_stop(&ts);
}

/* A header from a source not in proxy_from is a forgery: refused, and no
 * handler ever sees the address it claims. */
static void test_untrusted_source_is_refused(void)
{
    ss_config_t cfg;
    ts_config(&cfg, TS_TCP4, "thread", &whoami);
    cfg.proxy_protocol = SS_PROXY_AUTO;
    cfg.proxy_from = "10.0.0.0/8, unix"; /* not loopback */
    test_server_t ts;
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    const char *forged = "PROXY TCP4 203.0.113.5 127.0.0.1 1 8000\r\n";
    expect_refused(ts.address, forged, strlen(forged), "untrusted source");
    ts_stop(&ts);
    cfg.proxy_from = "10.0.0.1/8"; /* bits past the prefix: refused */
    ss_server_t *srv;
    char err[256] = "";
    CU_ASSERT(ss_server_create(&srv, &cfg, err, sizeof(err)) == -EINVAL);
    CU_ASSERT(strstr(err, "10.0.0.1/8") != NULL);
    ts_config(&cfg, TS_UDP4, "sync", &whoami);
    cfg.proxy_protocol = SS_PROXY_V2;
    CU_ASSERT(ss_server_create(&srv, &cfg, err, sizeof(err)) == -EINVAL);
    CU_ASSERT(strstr(err, "stream") != NULL);
}

/* ---- The CLI's handlers, workers passing connections -------------------- */

/* The logger and the http access log name the client the header names,
 * with workers under the given accept strategy. */
static void cli_case(const char *handler, const char *accept,
                     const char *request, const char *expect_out,
                     const char *expect_err)
{
    const char *args[] = {"--listen",
                          "127.0.0.1:0",
                          "--handler",
                          handler,
                          "--workers",
                          "2",
                          "--accept",
                          accept,
                          "--mode",
                          "event",
                          "--proxy-protocol",
                          "v1",
                          "--root",
                          ".",
                          NULL};
    cli_proc_t p;
    snprintf(ts_where, sizeof(ts_where), "%s behind a balancer, accept %s",
             handler, accept);
    if (!CHECK(ts_cli_start(&p, args, 1) == 0))
        return;
    int fd = ts_connect(p.address, 0);
    char buf[512];
    ts_send_str(fd, "PROXY TCP4 192.0.2.44 127.0.0.1 5555 80\r\n");
    ts_send_str(fd, request);
    ts_read_all(fd, buf, sizeof(buf), 2000);
    ts_hang_up(fd);
    ts_sleep_ms(200);
    kill(p.pid, SIGTERM);
    CHECK(ts_cli_wait(&p, 10000) == 0);
    if (expect_out && !CHECK(strstr(p.outtext, expect_out) != NULL))
        ts_note("stdout: %s", p.outtext);
    if (expect_err && !CHECK(strstr(p.errtext, expect_err) != NULL))
        ts_note("stderr: %s", p.errtext);
}

static void test_cli_handlers_see_the_client(void)
{
    const char *accepts[] = {"shared", "lock", "reuseport", "pass"};
    for (size_t i = 0; i < COUNT(accepts); i++)
        cli_case("logger", accepts[i], "a line\n", "192.0.2.44:5555", NULL);
    cli_case("http", "pass", "GET / HTTP/1.0\r\n\r\n", NULL,
             "http: 192.0.2.44:5555");
}

void register_proxied_tests(void)
{
    CU_pSuite s = ts_suite("proxied");
    CU_add_test(s,
                "every mode: the handler and verify_request see the "
                "client",
                test_every_mode_sees_the_client);
    CU_add_test(s, "bad, late or missing headers: closed, no handler call",
                test_bad_headers_are_refused);
    CU_add_test(s, "a header from an untrusted source is refused",
                test_untrusted_source_is_refused);
    CU_add_test(s,
                "CLI: logger and http name the client, workers under "
                "every accept strategy",
                test_cli_handlers_see_the_client);
}
