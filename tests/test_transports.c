/* test_transports.c -- every transport (TCP v4, TCP v6, UDP, Unix stream,
 * Unix datagram) in every mode (sync, fork, thread, prethread with both
 * accept designs, and event with each poller): three round trips with echo and
 * with thankyou, shutdown from another thread, and a close that leaves no
 * descriptor open and no child or zombie behind. */
#include "helpers.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const ts_kind_t kinds[] = {TS_TCP4, TS_TCP6, TS_UDP4, TS_UNIX,
                                  TS_UNIX_DGRAM};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))
#define ROUND_TRIPS 3

static int is_datagram(ts_kind_t kind)
{
    return kind == TS_UDP4 || kind == TS_UNIX_DGRAM;
}

/* One datagram back within 2 s, NUL-terminated; its length or -1. */
static ssize_t recv_datagram(int fd, char *buf, size_t cap)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 2000) != 1)
        return -1;
    ssize_t n = recv(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

/* Send msg on a new client and return what came back, into buf. */
static ssize_t round_trip(const char *address, ts_kind_t kind, const char *msg,
                          char *buf, size_t cap)
{
    int fd = ts_connect(address, is_datagram(kind));
    if (fd < 0)
        return -1;
    ssize_t n = -1;
    if (ts_send_str(fd, msg) == 0) {
        if (is_datagram(kind)) {
            n = recv_datagram(fd, buf, cap);
        } else {
            shutdown(fd, SHUT_WR); /* echo ends at our end of file */
            n = ts_read_all(fd, buf, cap, 3000);
        }
    }
    close(fd);
    return n;
}

/* Start, make ROUND_TRIPS round trips, stop; check what came back and
 * that nothing was left behind. */
static void check_transport(ts_kind_t kind, const char *mode,
                            const ss_handler_t *handler)
{
    int fds_before = ts_count_fds();
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, kind, mode, handler);
    int rc = ts_start(&ts, &cfg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);

    for (int i = 0; i < ROUND_TRIPS; i++) {
        char msg[64], buf[256];
        snprintf(msg, sizeof(msg), "round trip %d over %s in %s mode\n", i,
                 ts_kind_name(kind), mode);
        const char *expect =
            handler == &ss_handler_echo ? msg : "Thank you for connecting\n";
        ssize_t n = round_trip(ts.address, kind, msg, buf, sizeof(buf));
        CU_ASSERT_EQUAL(n, (ssize_t)strlen(expect));
        CU_ASSERT_STRING_EQUAL(buf, expect);
        if (n != (ssize_t)strlen(expect))
            fprintf(stderr, "\n  %s %s %s: got %zd bytes '%s'\n", handler->name,
                    ts_kind_name(kind), mode, n, buf);
    }
    ts_stop(&ts);

    int zombies = -1;
    CU_ASSERT_EQUAL(ts_count_children(&zombies), 0);
    CU_ASSERT_EQUAL(zombies, 0);
    CU_ASSERT_EQUAL(ts_count_fds(), fds_before);
}

static void check_all(const ss_handler_t *handler, const char *mode)
{
    for (size_t k = 0; k < NKINDS; k++)
        check_transport(kinds[k], mode, handler);
}

/* Every mode past the first three: the pool designs and the pollers. */
static void test_echo_more(void)
{
    for (size_t m = 3; m < TS_NMODES; m++)
        check_all(&ss_handler_echo, ts_modes[m]);
}

static void test_thanks_more(void)
{
    for (size_t m = 3; m < TS_NMODES; m++)
        check_all(&ss_handler_thankyou, ts_modes[m]);
}

static void test_echo_sync(void)
{
    check_all(&ss_handler_echo, "sync");
}
static void test_echo_fork(void)
{
    check_all(&ss_handler_echo, "fork");
}
static void test_echo_thread(void)
{
    check_all(&ss_handler_echo, "thread");
}
static void test_thanks_sync(void)
{
    check_all(&ss_handler_thankyou, "sync");
}
static void test_thanks_fork(void)
{
    check_all(&ss_handler_thankyou, "fork");
}
static void test_thanks_thread(void)
{
    check_all(&ss_handler_thankyou, "thread");
}

/* More clients connected at once than fork mode's cap of 40: every one is
 * served, the ones past the cap as soon as earlier ones leave. */
static void test_concurrent_clients(void)
{
    enum { CLIENTS = 50 };
    for (size_t m = 1; m < TS_NMODES; m++) {
        ss_config_t cfg;
        test_server_t ts;
        ts_config(&cfg, TS_TCP4, ts_modes[m], &ss_handler_echo);
        CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
        int fd[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            fd[i] = ts_connect(ts.address, 0);
            CU_ASSERT_FATAL(fd[i] >= 0);
        }
        int served = 0;
        for (int i = 0; i < CLIENTS; i++) {
            char msg[32], buf[64];
            snprintf(msg, sizeof(msg), "client %d\n", i);
            ts_send_str(fd[i], msg);
            /* Half-close rather than rely on close(): the fork server runs
             * in this process, so its children hold copies of our client
             * descriptors, and only shutdown() reaches the socket itself.
             * The child then exits and frees a slot (the cap is 40). */
            shutdown(fd[i], SHUT_WR);
            if (ts_read_all(fd[i], buf, sizeof(buf), 3000) > 0 &&
                strcmp(buf, msg) == 0)
                served++;
            close(fd[i]);
        }
        CU_ASSERT_EQUAL(served, CLIENTS);
        ts_stop(&ts);
        CU_ASSERT_EQUAL(ts_wait_no_children(1000), 0);
    }
}

void register_transports_tests(void)
{
    CU_pSuite s = ts_suite("transports");
    CU_add_test(s, "echo: every transport, sync mode", test_echo_sync);
    CU_add_test(s, "echo: every transport, fork mode", test_echo_fork);
    CU_add_test(s, "echo: every transport, thread mode", test_echo_thread);
    CU_add_test(s, "thankyou: every transport, sync mode", test_thanks_sync);
    CU_add_test(s, "thankyou: every transport, fork mode", test_thanks_fork);
    CU_add_test(s, "thankyou: every transport, thread mode",
                test_thanks_thread);
    CU_add_test(s, "echo: every transport, prethread and event modes",
                test_echo_more);
    CU_add_test(s, "thankyou: every transport, prethread and event modes",
                test_thanks_more);
    CU_add_test(s, "50 concurrent clients in every concurrent mode",
                test_concurrent_clients);
}
