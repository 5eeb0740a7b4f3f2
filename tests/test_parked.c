/* test_parked.c -- thread mode's parked threads: a finished thread serves
 * the next client instead of a new one being made; at most idle_threads
 * park, each retiring after thread_idle_ms; the cap on live threads holds
 * with threads parked; close wakes and joins them, quickly, with or
 * without block_on_close.  Threads are counted in /proc/self/task (Linux:
 * a test may use it, the library not). */
#define _GNU_SOURCE /* gettid: kernel ids are not reused soon, pthread_t's     \
                       are (glibc caches stacks) */

#include "helpers.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Answers with the kernel id of the thread that serves it. */
static int tid_handle(ss_request_t *req)
{
    return ss_sendf(req, "tid %ld\n", (long)syscall(SYS_gettid));
}

static const ss_handler_t tid_handler = {.name = "tid", .handle = tid_handle};

static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Wait (bounded) until this process has `want` threads; its last count. */
static int wait_threads(int want, int timeout_ms)
{
    long long until = ts_now_ms() + timeout_ms;
    int n;
    while ((n = count_threads()) != want && ts_now_ms() < until)
        ts_sleep_ms(10);
    return n;
}

/* One client of the tid handler: the serving thread's id, or -1. */
static long served_by(const char *address)
{
    char buf[64];
    int fd = ts_connect(address, 0);
    if (fd < 0)
        return -1;
    ssize_t n = ts_read_all(fd, buf, sizeof(buf), TS_IO_TIMEOUT_MS);
    close(fd);
    long tid = -1;
    return n > 0 && sscanf(buf, "tid %ld", &tid) == 1 ? tid : -1;
}

/* Clients one after another: how many were served by a thread that had
 * served an earlier one.  (The first thread may still be finishing when
 * the second client comes, and a new one is made; by the third a parked
 * one is there.) */
static int reused_threads(const char *address, int clients)
{
    long seen[16];
    int reused = 0;
    for (int i = 0; i < clients && i < (int)COUNT(seen); i++) {
        seen[i] = served_by(address);
        CHECK(seen[i] > 0);
        for (int j = 0; j < i; j++)
            if (seen[j] == seen[i]) {
                reused++;
                break;
            }
        ts_sleep_ms(20);
    }
    return reused;
}

static void test_parked_thread_serves_next(void)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "thread", &tid_handler);
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    CU_ASSERT(reused_threads(ts.address, 6) >= 3);
    ts_stop(&ts);

    ts_config(&cfg, TS_TCP4, "thread", &tid_handler);
    cfg.idle_threads = 0; /* the old way: a new thread each */
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    CU_ASSERT_EQUAL(reused_threads(ts.address, 6), 0);
    ts_stop(&ts);
}

/* n hold clients, each greeted (so each has its thread); -1 on failure. */
static int hold_clients(const char *address, int *fd, int n)
{
    char buf[64];
    for (int i = 0; i < n; i++) {
        fd[i] = ts_connect(address, 0);
        if (fd[i] < 0 || ts_read_until(fd[i], buf, sizeof(buf), "hi\n",
                                       TS_IO_TIMEOUT_MS) != 3)
            return -1;
    }
    return 0;
}

static void release_clients(int *fd, int n)
{
    char buf[64];
    for (int i = 0; i < n; i++) {
        ts_send_str(fd[i], "done\n");
        CHECK(ts_read_all(fd[i], buf, sizeof(buf), TS_IO_TIMEOUT_MS) == 3);
        close(fd[i]);
    }
}

/* Five threads serve at once; when they are done two park and three
 * leave; the two retire after the idle time; the server serves on. */
static void test_idle_bounded_and_retired(void)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "thread", &ts_hold);
    cfg.idle_threads = 2;
    cfg.thread_idle_ms = 500;
    int before = count_threads();
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    int base = before + 1; /* and the serve loop's */
    int fd[5];
    CU_ASSERT_FATAL(hold_clients(ts.address, fd, 5) == 0);
    CU_ASSERT_EQUAL(count_threads(), base + 5);
    long long t0 = ts_now_ms();
    release_clients(fd, 5);
    CU_ASSERT_EQUAL(wait_threads(base + 2, 400), base + 2);
    CU_ASSERT_EQUAL(wait_threads(base, 3000), base);
    long long took = ts_now_ms() - t0;
    if (!CHECK(took >= 450))
        ts_note("the parked threads retired after %lld ms", took);
    CU_ASSERT_FATAL(hold_clients(ts.address, fd, 1) == 0);
    release_clients(fd, 1);
    ts_stop(&ts);
    CU_ASSERT_EQUAL(wait_threads(before, 1000), before);
}

/* A cap of 2 with 2 threads parked: still two clients at a time. */
static void test_cap_holds_with_parked(void)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "thread", &ts_hold);
    cfg.max_threads = 2;
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    int fd[3];
    char buf[64];
    CU_ASSERT_FATAL(hold_clients(ts.address, fd, 2) == 0);
    release_clients(fd, 2); /* both threads park */
    CU_ASSERT_FATAL(hold_clients(ts.address, fd, 2) == 0);
    fd[2] = ts_connect(ts.address, 0);
    CU_ASSERT_FATAL(fd[2] >= 0);
    CU_ASSERT(ts_read_until(fd[2], buf, sizeof(buf), "hi\n", 300) < 0);
    release_clients(fd, 1);
    CU_ASSERT(ts_read_until(fd[2], buf, sizeof(buf), "hi\n", 2000) == 3);
    release_clients(fd + 1, 2);
    ts_stop(&ts);
}

/* Close wakes the parked threads and joins them at once (not after their
 * 10 s idle time), with block_on_close and without; a client in flight
 * still finishes with block_on_close. */
static void check_close_joins_parked(int block_on_close)
{
    snprintf(ts_where, sizeof(ts_where), "block_on_close %d", block_on_close);
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "thread", &ts_hold);
    cfg.block_on_close = block_on_close;
    int before = count_threads();
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    int fd[4];
    CU_ASSERT_FATAL(hold_clients(ts.address, fd, 4) == 0);
    release_clients(fd, 3); /* three park, one still serves */
    CHECK(wait_threads(before + 1 + 4, 1000) == before + 1 + 4);
    ts_send_str(fd[3], "done\n"); /* answered during the close */
    long long t0 = ts_now_ms();
    ts_stop(&ts);
    long long took = ts_now_ms() - t0;
    if (!CHECK(took < 1000))
        ts_note("close took %lld ms", took);
    char buf[64];
    CHECK(ts_read_all(fd[3], buf, sizeof(buf), 2000) == 3);
    close(fd[3]);
    /* Joined by close (without block_on_close, the one serving was
     * detached and leaves on its own). */
    CHECK(wait_threads(before, 2000) == before);
    ts_sleep_ms(20); /* a detached thread drops the last reference */
}

static void test_close_joins_parked(void)
{
    check_close_joins_parked(1);
    check_close_joins_parked(0);
}

void register_parked_tests(void)
{
    CU_pSuite s = ts_suite("parked");
    CU_add_test(s, "thread: a parked thread serves the next client",
                test_parked_thread_serves_next);
    CU_add_test(s, "thread: idle threads bounded in count, retired in time",
                test_idle_bounded_and_retired);
    CU_add_test(s, "thread: the cap on live threads holds with some parked",
                test_cap_holds_with_parked);
    CU_add_test(s, "thread: close wakes and joins the parked threads",
                test_close_joins_parked);
}
