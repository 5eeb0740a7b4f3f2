/* test_limits.c -- the limits that keep a server standing: max_conns in
 * every mode (clients past it wait in the backlog, nothing is dropped), and
 * the connection deadline that ends a slowloris client which per-read
 * timeouts alone would keep forever. */
#include "helpers.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* With max_conns 2, a third client waits (it is never refused) and is
 * served as soon as one of the first two leaves. */
static void test_max_conns_every_mode(void)
{
    for (int m = 1; m < TS_NMODES; m++) { /* sync serves one anyway */
        snprintf(ts_where, sizeof(ts_where), "%s", ts_modes[m]);
        ss_config_t cfg;
        test_server_t ts;
        ts_config(&cfg, TS_TCP4, ts_modes[m], &ts_hold);
        cfg.max_conns = 2;
        if (!CHECK(ts_start(&ts, &cfg) == 0))
            continue;
        int fd[3];
        char buf[64];
        for (int i = 0; i < 3; i++)
            fd[i] = ts_connect(ts.address, 0);
        CHECK(ts_read_until(fd[0], buf, sizeof(buf), "hi\n", 2000) == 3);
        CHECK(ts_read_until(fd[1], buf, sizeof(buf), "hi\n", 2000) == 3);
        CHECK(ts_read_until(fd[2], buf, sizeof(buf), "hi\n", 300) < 0);
        ts_send_str(fd[0], "done\n");
        CHECK(ts_read_all(fd[0], buf, sizeof(buf), 2000) == 3);
        CHECK(ts_read_until(fd[2], buf, sizeof(buf), "hi\n", 2000) == 3);
        for (int i = 1; i < 3; i++) {
            ts_send_str(fd[i], "done\n");
            CHECK(ts_read_all(fd[i], buf, sizeof(buf), 2000) == 3);
        }
        for (int i = 0; i < 3; i++)
            ts_hang_up(fd[i]);
        ts_stop(&ts);
    }
}

/* A client trickles one byte every 100 ms and never ends its line: each
 * read succeeds, so the 1 s idle timeout never fires, but the 300 ms
 * deadline ends the connection. */
static void test_deadline_ends_slowloris(void)
{
    for (int m = 0; m < TS_NMODES; m++) {
        snprintf(ts_where, sizeof(ts_where), "%s", ts_modes[m]);
        ss_config_t cfg;
        test_server_t ts;
        ts_config(&cfg, TS_TCP4, ts_modes[m], &ss_handler_menu10086);
        cfg.timeout_ms = 1000;
        cfg.deadline_ms = 300;
        if (!CHECK(ts_start(&ts, &cfg) == 0))
            continue;
        int fd = ts_connect(ts.address, 0);
        char buf[256];
        CHECK(ts_read_until(fd, buf, sizeof(buf), "\n", 2000) > 0);
        long long t0 = ts_now_ms(), closed = -1;
        for (int i = 0; i < 20 && closed < 0; i++) {
            ts_send_str(fd, "1");
            if (ts_expect_eof(fd, 100))
                closed = ts_now_ms() - t0;
        }
        if (!CHECK(closed >= 150 && closed < 1000))
            ts_note("closed after %lld ms", closed);
        ts_hang_up(fd);
        ts_stop(&ts);
    }
}

/* --timeout is an idle timeout: a line that arrives a byte at a time,
 * each byte well within it, is read whole even though the line as a whole
 * takes longer; then silence is timed out.  Both waits (poll, coroutine). */
static void test_timeout_is_idle(void)
{
    static const char *const waits[] = {"sync", "event"};
    for (size_t m = 0; m < COUNT(waits); m++) {
        snprintf(ts_where, sizeof(ts_where), "%s", waits[m]);
        ss_config_t cfg;
        test_server_t ts;
        ts_config(&cfg, TS_TCP4, waits[m], &ts_hold);
        cfg.timeout_ms = 500;
        if (!CHECK(ts_start(&ts, &cfg) == 0))
            continue;
        int fd = ts_connect(ts.address, 0);
        char buf[64];
        CHECK(ts_read_until(fd, buf, sizeof(buf), "hi\n", 2000) == 3);
        long long t0 = ts_now_ms();
        for (const char *c = "so slowly\n"; *c; c++) { /* 1 s in all */
            ts_sleep_ms(100);
            send(fd, c, 1, MSG_NOSIGNAL);
        }
        if (!CHECK(ts_read_until(fd, buf, sizeof(buf), "ok\n", 2000) == 3))
            ts_note("the trickled line was cut off after %lld ms",
                    ts_now_ms() - t0);
        ts_hang_up(fd);
        fd = ts_connect(ts.address, 0); /* a silent one is timed out */
        CHECK(ts_read_until(fd, buf, sizeof(buf), "hi\n", 2000) == 3);
        t0 = ts_now_ms();
        CHECK(ts_expect_eof(fd, 3000));
        long long took = ts_now_ms() - t0;
        if (!CHECK(took >= 400 && took < 2000))
            ts_note("closed after %lld ms", took);
        ts_hang_up(fd);
        ts_stop(&ts);
    }
}

/* A handler's own default idle timeout (ss_handler_t.timeout_ms) holds
 * when the configuration sets none (0), the configuration's overrides it,
 * longer or shorter, and SS_TIMEOUT_NONE turns it off.  Issue 16: with no
 * --timeout an idle client of the line bots held its connection forever. */
static const ss_handler_t quiet_600 = {
    .name = "quiet", .handle = ts_hold_handle, .timeout_ms = 600};

/* A greeted client that stays silent: closed within [lo, hi) ms, or (lo
 * < 0) still served after 1.2 s of silence. */
static void check_silence(const char *mode, int timeout_ms, long long lo,
                          long long hi)
{
    snprintf(ts_where, sizeof(ts_where), "%s, timeout_ms %d", mode, timeout_ms);
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, mode, &quiet_600);
    cfg.timeout_ms = timeout_ms;
    if (!CHECK(ts_start(&ts, &cfg) == 0))
        return;
    int fd = ts_connect(ts.address, 0);
    char buf[64];
    CHECK(ts_read_until(fd, buf, sizeof(buf), "hi\n", 2000) == 3);
    long long t0 = ts_now_ms();
    if (lo >= 0) {
        CHECK(ts_expect_eof(fd, (int)hi + 1000));
        long long took = ts_now_ms() - t0;
        if (!CHECK(took >= lo && took < hi))
            ts_note("closed after %lld ms", took);
    } else {
        CHECK(!ts_expect_eof(fd, 1200));
        ts_send_str(fd, "still here\n");
        CHECK(ts_read_until(fd, buf, sizeof(buf), "ok\n", 2000) == 3);
    }
    ts_hang_up(fd);
    ts_stop(&ts);
}

static void test_handler_default_timeout(void)
{
    static const char *const waits[] = {"sync", "event"};
    for (size_t m = 0; m < COUNT(waits); m++) {
        check_silence(waits[m], 0, 450, 3000);            /* the handler's */
        check_silence(waits[m], SS_TIMEOUT_NONE, -1, -1); /* none */
        check_silence(waits[m], 3000, -1, -1);            /* longer */
        check_silence(waits[m], 100, 50, 450);            /* shorter */
    }
}

/* Sends 64 KiB chunks until a send fails, and says how. */
static atomic_int flood_rc;
static int flood_handle(ss_request_t *req)
{
    static char chunk[65536];
    int rc;
    while ((rc = ss_send_all(req, chunk, sizeof(chunk))) == 0)
        ;
    atomic_store(&flood_rc, rc);
    return rc;
}

static const ss_handler_t flood_400 = {
    .name = "flood", .handle = flood_handle, .timeout_ms = 400};

/* A client that stops reading holds a send no longer than the handler's
 * default idle timeout. */
static void test_handler_default_bounds_send(void)
{
    static const char *const waits[] = {"sync", "event"};
    for (size_t m = 0; m < COUNT(waits); m++) {
        snprintf(ts_where, sizeof(ts_where), "%s", waits[m]);
        ss_config_t cfg;
        test_server_t ts;
        ts_config(&cfg, TS_TCP4, waits[m], &flood_400);
        atomic_store(&flood_rc, 1);
        if (!CHECK(ts_start(&ts, &cfg) == 0))
            continue;
        int fd = ts_connect(ts.address, 0); /* and never reads */
        long long t0 = ts_now_ms();
        while (atomic_load(&flood_rc) == 1 && ts_now_ms() - t0 < 5000)
            ts_sleep_ms(20);
        long long took = ts_now_ms() - t0;
        if (!CHECK(atomic_load(&flood_rc) == -ETIMEDOUT))
            ts_note("the send ended with %d", atomic_load(&flood_rc));
        if (!CHECK(took >= 300 && took < 3000))
            ts_note("the send gave up after %lld ms", took);
        ts_hang_up(fd);
        ts_stop(&ts);
    }
}

void register_limits_tests(void)
{
    CU_pSuite s = ts_suite("limits");
    CU_add_test(s, "max_conns: the extra client waits, in every mode",
                test_max_conns_every_mode);
    CU_add_test(s, "the deadline ends a slowloris client, every mode",
                test_deadline_ends_slowloris);
    CU_add_test(s, "the timeout is idle: a trickled line is read whole",
                test_timeout_is_idle);
    CU_add_test(s, "a handler's default timeout, overridden or turned off",
                test_handler_default_timeout);
    CU_add_test(s, "a handler's default timeout bounds a send nobody reads",
                test_handler_default_bounds_send);
}
