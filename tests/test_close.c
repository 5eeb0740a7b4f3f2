/* test_close.c -- how a connection ends (request.c's close_gracefully):
 * a plain close when nothing can follow, which must lose no reply and
 * wait for no one; the lingering close when input is pending, which must
 * keep a reply the client has not read yet from being reset away. */
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const close_modes[] = {"sync", "thread", "event", "fork"};

/* ---- The plain close ------------------------------------------------- */

#define SHORT_CONNS 40 /* per mode */
#define ANSWER "your line was read, goodbye\n"

/* Reads one line, answers, and stops before the client's end of file. */
static int answer_handle(ss_request_t *req)
{
    char line[64];
    ssize_t n = ss_read_line(req, line, sizeof(line));
    if (n <= 0)
        return (int)n;
    return ss_send_all(req, ANSWER, strlen(ANSWER));
}
static const ss_handler_t answer = {.name = "answer", .handle = answer_handle};

/* Whole answer then end of file, never a reset; odd clients half-close
 * after their line (the server's peek finds end of file), even ones keep
 * their end open until the mode is done (it finds nothing). */
static void short_connections(const char *mode, int fds[SHORT_CONNS])
{
    test_server_t ts;
    if (!ts_start_case(&ts, TS_TCP4, mode, &answer))
        return;
    long long t0 = ts_now_ms();
    int whole = 0;
    for (int i = 0; i < SHORT_CONNS; i++) {
        char buf[128];
        fds[i] = ts_connect(ts.address, 0);
        if (fds[i] < 0 || ts_send_str(fds[i], "hello\n") < 0)
            continue;
        if (i % 2)
            shutdown(fds[i], SHUT_WR);
        ssize_t n = ts_read_all(fds[i], buf, sizeof(buf), 3000);
        whole += n == (ssize_t)strlen(ANSWER) && strcmp(buf, ANSWER) == 0;
    }
    long long took = ts_now_ms() - t0;
    CHECK(whole == SHORT_CONNS);
    /* The old close waited up to 500 ms for each open client's FIN: in
     * sync mode 20 of them would hold the server for 10 s. */
    if (strcmp(mode, "sync") == 0)
        CHECK(took < 2000);
    ts_note("%s: %d of %d whole answers with a clean end of file, %lld ms",
            mode, whole, SHORT_CONNS, took);
    for (int i = 0; i < SHORT_CONNS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    ts_stop(&ts);
}

static void test_plain_close(void)
{
    for (size_t m = 0; m < COUNT(close_modes); m++) {
        int fds[SHORT_CONNS];
        snprintf(ts_where, sizeof(ts_where), "plain close/%s", close_modes[m]);
        short_connections(close_modes[m], fds);
    }
}

/* ---- The lingering close, input pending -------------------------------- */

#define BIG_REPLY (8u << 20) /* more than loopback's buffers hold */
#define UNREAD_BYTES 4096

/* Waits until the client's bytes are here, then answers with far more
 * than the socket buffers hold, never reading them: at the close, input
 * is unread and most of the reply is still ours to send. */
static int flood_handle(ss_request_t *req)
{
    struct pollfd p = {ss_fd(req), POLLIN, 0};
    int rc = ss_poll(req, &p, 1, 3000);
    if (rc <= 0)
        return rc < 0 ? rc : -ETIMEDOUT;
    static const char chunk[65536];
    for (size_t sent = 0; sent < BIG_REPLY; sent += sizeof(chunk))
        if ((rc = ss_send_all(req, chunk, sizeof(chunk))) < 0)
            return rc;
    return 0;
}
static const ss_handler_t flood = {.name = "flood", .handle = flood_handle};

/* Read to end of file: the byte count, or -1 on a reset or a timeout. */
static long long read_to_eof(int fd)
{
    static char buf[65536];
    long long got = 0;
    for (long long t0 = ts_now_ms(); ts_now_ms() - t0 < 5000;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0)
            return got;
        if (n < 0 && errno != EINTR)
            return -1;
        got += n > 0 ? n : 0;
    }
    return -1;
}

static void pending_case(ts_kind_t kind, const char *mode)
{
    test_server_t ts;
    if (!ts_start_case(&ts, kind, mode, &flood))
        return;
    int fd = ts_connect(ts.address, 0);
    long long got = -2;
    if (CHECK(fd >= 0)) {
        char junk[UNREAD_BYTES];
        memset(junk, 'j', sizeof(junk));
        CHECK(ts_send_bytes(fd, junk, sizeof(junk)) == 0);
        ts_sleep_ms(100); /* the server's queue fills while we do not read */
        got = read_to_eof(fd);
        close(fd);
    }
    CHECK(got == (long long)BIG_REPLY);
    if (got != (long long)BIG_REPLY)
        ts_note("%lld of %u bytes before the end (-1: a reset)", got,
                BIG_REPLY);
    ts_stop(&ts);
}

static void test_linger_unread_input(void)
{
    static const ts_kind_t kinds[] = {TS_TCP4, TS_UNIX};
    for (size_t k = 0; k < COUNT(kinds); k++)
        for (size_t m = 0; m < COUNT(close_modes); m++) {
            snprintf(ts_where, sizeof(ts_where), "unread input/%s/%s",
                     ts_kind_name(kinds[k]), close_modes[m]);
            pending_case(kinds[k], close_modes[m]);
        }
}

/* ---- The lingering close, read-ahead left over ------------------------- */

/* The handler takes the first of two pipelined lines (the second stays in
 * its read-ahead), answers and stops.  The client then sends a third, as
 * a pipelining client would: the server must still be draining, so the
 * client reads the answer, then end of file, and no reset ever comes. */
static void leftover_case(const char *mode)
{
    test_server_t ts;
    if (!ts_start_case(&ts, TS_TCP4, mode, &answer))
        return;
    int fd = ts_connect(ts.address, 0);
    if (CHECK(fd >= 0)) {
        char buf[128];
        CHECK(ts_send_str(fd, "one\ntwo\n") == 0);
        CHECK(ts_read_until(fd, buf, sizeof(buf), ANSWER, 3000) ==
              (ssize_t)strlen(ANSWER));
        CHECK(ts_send_str(fd, "three\n") == 0);
        ts_sleep_ms(100); /* a reset would be here by now */
        int err = -1;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        CHECK(err == 0);
        if (err)
            ts_note("late bytes drew %s", strerror(err));
        CHECK(ts_read_all(fd, buf, sizeof(buf), 3000) == 0);
        close(fd);
    }
    ts_stop(&ts);
}

static void test_linger_read_ahead(void)
{
    for (size_t m = 0; m < COUNT(close_modes); m++) {
        snprintf(ts_where, sizeof(ts_where), "read-ahead left/%s",
                 close_modes[m]);
        leftover_case(close_modes[m]);
    }
}

void register_close_tests(void)
{
    CU_pSuite s = ts_suite("close");
    CU_add_test(s, "plain close: whole replies, clean EOF, no wait",
                test_plain_close);
    CU_add_test(s, "lingering close: unread input does not reset the reply",
                test_linger_unread_input);
    CU_add_test(s, "lingering close: read-ahead left means late bytes drain",
                test_linger_read_ahead);
}
