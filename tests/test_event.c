/* test_event.c -- what the event mode promises beyond running every
 * handler (the other suites run those in event mode too): concurrency from
 * one thread, no starvation, timers, the select backend's limit, stacks
 * released, many idle connections held. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

static const char *const pollers[] = {"event", "event-poll", "event-select"};
#define NPOLLERS 3

/* Four lines 100 ms apart, then close: a paced handler like poetry. */
static int paced_handle(ss_request_t *req)
{
    for (int i = 0; i < 4; i++) {
        int rc = ss_sendf(req, "line %d\n", i);
        if (rc == 0 && i < 3)
            rc = ss_sleep(req, 100);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static const ss_handler_t paced = {.name = "paced", .handle = paced_handle};

/* 200 clients of the paced handler all finish in well under 2 s: sync
 * mode would need 200 x 300 ms. */
static void test_200_paced_clients(void)
{
    enum { CLIENTS = 200 };
    for (int p = 0; p < NPOLLERS; p++) {
        ss_config_t cfg;
        test_server_t ts;
        ts_config(&cfg, TS_TCP4, pollers[p], &paced);
        CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
        int fd[CLIENTS], done = 0;
        long long t0 = ts_now_ms();
        for (int i = 0; i < CLIENTS; i++)
            fd[i] = ts_connect(ts.address, 0);
        for (int i = 0; i < CLIENTS; i++) {
            char buf[128];
            if (fd[i] >= 0 &&
                ts_read_all(fd[i], buf, sizeof(buf), 3000) == 28 &&
                strstr(buf, "line 3\n"))
                done++;
            if (fd[i] >= 0)
                close(fd[i]);
        }
        long long took = ts_now_ms() - t0;
        CU_ASSERT_EQUAL(done, CLIENTS);
        CU_ASSERT(took < 1500);
        ts_stop(&ts);
    }
}

/* Greets, then waits for a line and answers it. */
static int ask_handle(ss_request_t *req)
{
    char line[64];
    int rc = ss_send_all(req, "?\n", 2);
    ssize_t n = rc < 0 ? rc : ss_read_line(req, line, sizeof(line));
    return n <= 0 ? (int)n : ss_send_all(req, line, (size_t)n);
}

static const ss_handler_t ask = {.name = "ask", .handle = ask_handle};

/* A client that says nothing does not hold up one that talks. */
static void test_stuck_client_does_not_delay_others(void)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "event", &ask);
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    char buf[64];
    int stuck = ts_connect(ts.address, 0);
    CU_ASSERT(ts_read_until(stuck, buf, sizeof(buf), "?\n", 2000) == 2);
    long long t0 = ts_now_ms();
    int fast = ts_connect(ts.address, 0);
    ts_send_str(fast, "quick\n");
    CU_ASSERT(ts_read_all(fast, buf, sizeof(buf), 2000) == 8);
    CU_ASSERT_STRING_EQUAL(buf, "?\nquick\n");
    CU_ASSERT(ts_now_ms() - t0 < 200);
    close(fast);
    close(stuck);
    ts_stop(&ts);
}

/* Reads until end of file and spends about 1 ms of CPU on each 4 KiB (a
 * checksum, a parser): while its client keeps the socket full it never has
 * to wait, so only the forced yield lets anyone else run. */
static int sink_handle(ss_request_t *req)
{
    char buf[4096];
    ssize_t n;
    while ((n = ss_recv(req, buf, sizeof(buf))) > 0) {
        long long until = ts_now_ms() + 1;
        while (ts_now_ms() < until) {
        }
    }
    return (int)n;
}

static const ss_handler_t sink = {.name = "sink", .handle = sink_handle};

/* A client that keeps the sink's socket full, in a thread of its own. */
typedef struct {
    const char *address;
    atomic_int stop;
    long long sent;
} flood_t;

static void *flood(void *arg)
{
    flood_t *f = arg;
    int fd = ts_connect(f->address, 0);
    size_t size = 1 << 20;
    char *buf = calloc(1, size);
    long long until = ts_now_ms() + 5000; /* bounded whatever happens */
    while (fd >= 0 && buf && !atomic_load(&f->stop) && ts_now_ms() < until) {
        ssize_t n = send(fd, buf, size, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        f->sent += n;
    }
    free(buf);
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* One connection that always has data cannot starve the others: its
 * coroutine is made to yield after a bounded amount of work. */
static void test_flooding_client_does_not_starve(void)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "event", &sink);
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    flood_t f = {.address = ts.address, .sent = 0};
    atomic_init(&f.stop, 0);
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, flood, &f) == 0);
    ts_sleep_ms(200); /* the flood is under way */
    int worst = 0, answered = 0;
    for (int i = 0; i < 5; i++) {
        long long t0 = ts_now_ms();
        int fd = ts_connect(ts.address, 0);
        ts_send_str(fd, "ping\n");
        shutdown(fd,
                 SHUT_WR); /* the sink answers our end of file with its own */
        answered += ts_expect_eof(fd, 2000);
        int took = (int)(ts_now_ms() - t0);
        worst = took > worst ? took : worst;
        close(fd);
    }
    atomic_store(&f.stop, 1);
    pthread_join(th, NULL);
    CU_ASSERT(f.sent > (1 << 20)); /* it really was flooding */
    CU_ASSERT_EQUAL(answered, 5);
    CU_ASSERT(worst < 200);
    ts_stop(&ts);
}

/* Reports how a read with the server's 100 ms timeout ended. */
static int timed_handle(ss_request_t *req)
{
    char c;
    long long t0 = ts_now_ms();
    ssize_t n = ss_recv(req, &c, 1);
    return ss_sendf(req, "%zd %lld", n, ts_now_ms() - t0);
}

static const ss_handler_t timed = {.name = "timed", .handle = timed_handle};

static void test_timeouts_fire(void)
{
    for (int p = 0; p < NPOLLERS; p++) {
        ss_config_t cfg;
        test_server_t ts;
        ts_config(&cfg, TS_TCP4, pollers[p], &timed);
        cfg.timeout_ms = 100;
        CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
        int fd = ts_connect(ts.address, 0);
        char buf[64];
        long long n = 0, took = 0;
        ts_read_all(fd, buf, sizeof(buf), 2000);
        CU_ASSERT(sscanf(buf, "%lld %lld", &n, &took) == 2);
        CU_ASSERT_EQUAL(n, -ETIMEDOUT);
        CU_ASSERT(took >= 95 && took < 600);
        close(fd);
        ts_stop(&ts);
    }
}

/* With descriptors at or above FD_SETSIZE, the select backend refuses that
 * connection with an error, never writing past its fd_set, and the server
 * serves again once low descriptors are free. */
static void test_select_fd_setsize(void)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "event-select", &ask);
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    int filler[FD_SETSIZE + 8], nfill = 0;
    while (nfill < FD_SETSIZE + 8) { /* use up every descriptor below it */
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0)
            break;
        filler[nfill++] = fd;
        if (fd > FD_SETSIZE + 2)
            break;
    }
    char buf[64];
    int fd = ts_connect(ts.address, 0); /* its server side is >= FD_SETSIZE */
    CU_ASSERT(fd >= 0);
    /* Greeting sent without waiting, then the wait is refused: EOF. */
    ssize_t n = ts_read_all(fd, buf, sizeof(buf), 2000);
    CU_ASSERT(n == 2 || n == 0);
    close(fd);
    for (int i = 0; i < nfill; i++)
        close(filler[i]);
    fd = ts_connect(ts.address, 0);
    ts_send_str(fd, "back\n");
    CU_ASSERT(ts_read_all(fd, buf, sizeof(buf), 2000) == 7);
    CU_ASSERT_STRING_EQUAL(buf, "?\nback\n");
    close(fd);
    ts_stop(&ts);
}

/* Mappings of this process: coroutine stacks are mappings. */
static int count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

/* 10,000 sequential connections leave no stack behind (a few are cached
 * for reuse, a bounded number). */
static void test_stacks_released(void)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "event", &ss_handler_thankyou);
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    int before = count_mappings(), served = 0;
    for (int i = 0; i < 10000; i++) {
        char buf[64];
        int fd = ts_connect(ts.address, 0);
        if (fd >= 0 && ts_read_all(fd, buf, sizeof(buf), 2000) == 25)
            served++;
        if (fd >= 0)
            close(fd);
    }
    CU_ASSERT_EQUAL(served, 10000);
    CU_ASSERT(count_mappings() - before < 70); /* at most the cache */
    ts_stop(&ts);
}

/* Many idle connections are held at once from one thread. */
static void test_holds_many_idle_connections(void)
{
    enum { CONNS = 2000 };
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "event", &ask);
    cfg.backlog = 4096;
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0); /* raises the fd limit */
    static int fd[CONNS];
    int greeted = 0;
    for (int i = 0; i < CONNS; i++)
        fd[i] = ts_connect(ts.address, 0);
    for (int i = 0; i < CONNS; i++) {
        char buf[8];
        greeted += fd[i] >= 0 &&
                   ts_read_until(fd[i], buf, sizeof(buf), "?\n", 3000) == 2;
    }
    CU_ASSERT_EQUAL(greeted, CONNS);
    int answered = 0;
    for (int i = 0; i < CONNS; i += 100) { /* still all alive: ask a few */
        char buf[16];
        ts_send_str(fd[i], "hi\n");
        answered += ts_read_all(fd[i], buf, sizeof(buf), 2000) == 3;
    }
    CU_ASSERT_EQUAL(answered, CONNS / 100);
    for (int i = 0; i < CONNS; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    ts_stop(&ts);
}

/* The CLI in event mode, started by a shell that set its descriptor
 * limits first; 0 when it served a client and SIGTERM stopped it cleanly
 * (its standard error is then in p->errtext). */
static int run_with_limits(int soft, int hard, const char *max_conns,
                           cli_proc_t *p)
{
    char script[128];
    snprintf(script, sizeof(script),
             "ulimit -Sn %d && ulimit -Hn %d && exec \"$0\" \"$@\"", soft,
             hard);
    const char *args[] = {"-c",          script,     ts_cli_path(),
                          "--mode",      "event",    "--max-conns",
                          max_conns,     "--listen", "127.0.0.1:0",
                          "--log-level", "info",     NULL};
    if (ts_proc_start(p, "/bin/sh", args, 1) < 0)
        return -1;
    int fd = ts_connect(p->address, 0); /* it serves, whatever the limit */
    char buf[128];
    ssize_t n = fd >= 0 ? ts_read_until(fd, buf, sizeof(buf), "\n", 3000) : -1;
    if (fd >= 0)
        close(fd);
    kill(p->pid, SIGTERM);
    int status = ts_cli_wait(p, 12000);
    return n > 0 && status == 0 ? 0 : -1;
}

/* The event mode raises its descriptor limit to what --max-conns needs
 * (and 64 more), and says clearly when the hard limit is lower. */
static void test_descriptor_limit(void)
{
#ifdef SS_VALGRIND
    /* valgrind emulates the descriptor limit: a shell under it may not set
     * its own.  The plain, sanitizer and TSan runs cover this test. */
    CU_PASS("skipped under valgrind (it emulates RLIMIT_NOFILE)");
    return;
#endif
    cli_proc_t p;
    CHECK(run_with_limits(1000, 3000, "1500", &p) == 0);
    if (!CHECK(strstr(p.errtext, "raised from 1000 to 1564") &&
               !strstr(p.errtext, "warn")))
        ts_note("standard error: %s", p.errtext);
    CHECK(run_with_limits(1000, 2000, "100000", &p) == 0);
    if (!CHECK(strstr(p.errtext, "raised from 1000 to 2000") &&
               strstr(p.errtext, "100000 connections need 100064 "
                                 "descriptors, but the limit is 2000") &&
               strstr(p.errtext, "LimitNOFILE=")))
        ts_note("standard error: %s", p.errtext);
}

/* ---- An arrival burst ----------------------------------------------------
 * The first connection is a ticker: it writes 'T' to the log once per
 * pass of the loop (a 0 ms sleep is due on the very next pass) and, when
 * asked, stalls the whole loop (a plain sleep, not ss_sleep) while the
 * test queues BURST connections in the backlog; then it writes 'S' and
 * ticks on.  Each queued connection writes 'N' when its handler runs.
 * The log says, pass by pass, who was served. */
enum { BURST = 100, ORDER_LOG = 1 << 16 };
static char order_log[ORDER_LOG];
static atomic_int order_len, order_stall, order_stop, order_newcomers;

static void order_note(char c)
{
    int i = atomic_load(&order_len);
    if (i < ORDER_LOG) {
        order_log[i] = c;
        atomic_store(&order_len, i + 1); /* publishes the byte */
    }
}

static int order_handle(ss_request_t *req)
{
    static int ticker_taken; /* only the loop's thread touches it */
    if (ticker_taken++) {
        order_note('N');
        atomic_fetch_add(&order_newcomers, 1);
        return 0;
    }
    while (!atomic_load(&order_stop) && atomic_load(&order_len) < ORDER_LOG) {
        if (atomic_load(&order_stall) == 1) {
            while (atomic_load(&order_stall) == 1)
                ts_sleep_ms(1); /* the loop stands still */
            order_note('S');
        }
        order_note('T');
        if (ss_sleep(req, 0) < 0)
            break;
    }
    return 0;
}

static const ss_handler_t order = {.name = "order", .handle = order_handle};

/* Connections already queued when the loop looks again are taken in
 * bounded batches: the ticker (a ready connection) gets a turn before all
 * of them are taken, and they are all taken within a few of its turns,
 * not one turn each (the loop used to take one per pass, so a newcomer
 * at the back of a burst waited a pass per connection ahead of it while
 * every busy connection had its turn in each). */
static void test_arrival_burst_taken_in_batches(void)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "event", &order);
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    int ticker = ts_connect(ts.address, 0), fd[BURST];
    long long until = ts_now_ms() + 3000;
    while (atomic_load(&order_len) < 10 && ts_now_ms() < until)
        ts_sleep_ms(1);
    atomic_store(&order_stall, 1);
    ts_sleep_ms(50); /* the ticker has seen it: the loop is stalled */
    for (int i = 0; i < BURST; i++)
        fd[i] = ts_connect(ts.address, 0); /* the kernel completes these */
    atomic_store(&order_stall, 2);
    until = ts_now_ms() + 5000;
    while (atomic_load(&order_newcomers) < BURST && ts_now_ms() < until)
        ts_sleep_ms(1);
    int len = atomic_load(&order_len);
    atomic_store(&order_stop, 1);
    CU_ASSERT_EQUAL(atomic_load(&order_newcomers), BURST);
    int stalled = -1, last_new = -1, ticks = 0, taken = 0, ticks_first = -1;
    for (int i = 0; i < len; i++) {
        stalled = stalled < 0 && order_log[i] == 'S' ? i : stalled;
        last_new = order_log[i] == 'N' ? i : last_new;
    }
    for (int i = stalled + 1; stalled >= 0 && i < last_new; i++) {
        ticks += order_log[i] == 'T';
        taken += order_log[i] == 'N';
        if (order_log[i] == 'T' && taken > 0 && ticks_first < 0)
            ticks_first = taken; /* newcomers taken before its turn */
    }
    ts_note("burst of %d: ticker's turns before the last was taken: %d; "
            "taken before its first turn: %d",
            BURST, ticks, ticks_first);
    CU_ASSERT(stalled >= 0);
    CU_ASSERT(ticks_first > 0 && ticks_first < BURST);
    CU_ASSERT(ticks <= BURST / 10);
    for (int i = 0; i < BURST; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    close(ticker);
    ts_stop(&ts);
}

/* ---- A crowd ready at once ------------------------------------------------
 * Connection 0 stalls the loop when asked (a plain sleep) while the test
 * makes CROWD connections readable at once and connects one more; each
 * of the crowd writes 'R' when its byte comes, the newcomer 'N' when its
 * handler starts. */
enum { CROWD = 1000, CROWD_LOG = CROWD + 16 };
static char crowd_log[CROWD_LOG];
static atomic_int crowd_len, crowd_started, crowd_stall;

static void crowd_note(char c)
{
    int i = atomic_load(&crowd_len);
    if (i < CROWD_LOG) {
        crowd_log[i] = c;
        atomic_store(&crowd_len, i + 1);
    }
}

static int crowd_handle(ss_request_t *req)
{
    int me = atomic_fetch_add(&crowd_started, 1);
    if (me == 0) { /* the staller */
        while (atomic_load(&crowd_stall) == 0 && ss_sleep(req, 1) == 0) {
        }
        while (atomic_load(&crowd_stall) == 1)
            ts_sleep_ms(1); /* the loop stands still */
        return 0;
    }
    if (me > CROWD) {
        crowd_note('N');
        return 0;
    }
    char c;
    if (ss_recv(req, &c, 1) == 1)
        crowd_note('R');
    return 0;
}

static const ss_handler_t crowd = {.name = "crowd", .handle = crowd_handle};

/* The poller hands out ready descriptors oldest first, a batch a pass:
 * with a crowd ready at once (thousands of clients closing together) the
 * listener's turn came only after all of them, and a newcomer waited the
 * whole crowd out.  It must be taken before the crowd is done. */
static void test_newcomer_not_behind_crowd(void)
{
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "event", &crowd);
    cfg.backlog = 2048;
    CU_ASSERT_FATAL(ts_start(&ts, &cfg) == 0);
    static int fd[CROWD + 2];
    for (int i = 0; i < CROWD + 1; i++)
        fd[i] = ts_connect(ts.address, 0);
    long long until = ts_now_ms() + 5000;
    while (atomic_load(&crowd_started) < CROWD + 1 && ts_now_ms() < until)
        ts_sleep_ms(1);
    CU_ASSERT_FATAL(atomic_load(&crowd_started) == CROWD + 1);
    atomic_store(&crowd_stall, 1);
    ts_sleep_ms(50); /* the staller has seen it: the loop is stalled */
    for (int i = 1; i <= CROWD; i++)
        ts_send_str(fd[i], "x");
    fd[CROWD + 1] = ts_connect(ts.address, 0);
    ts_sleep_ms(50); /* the newcomer is in the backlog */
    atomic_store(&crowd_stall, 2);
    until = ts_now_ms() + 5000;
    while (atomic_load(&crowd_len) < CROWD + 1 && ts_now_ms() < until)
        ts_sleep_ms(1);
    int len = atomic_load(&crowd_len), newcomer = -1, crowd_after = 0;
    for (int i = 0; i < len; i++) {
        newcomer = crowd_log[i] == 'N' ? i : newcomer;
        crowd_after += newcomer >= 0 && crowd_log[i] == 'R';
    }
    ts_note("crowd of %d ready at once: the newcomer was served after %d "
            "of them",
            CROWD, newcomer);
    CU_ASSERT_EQUAL(len, CROWD + 1);
    CU_ASSERT(newcomer >= 0 && crowd_after > 0);
    for (int i = 0; i < CROWD + 2; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    ts_stop(&ts);
}

void register_event_tests(void)
{
    CU_pSuite s = ts_suite("event");
    CU_add_test(s, "200 paced clients finish together, every poller",
                test_200_paced_clients);
    CU_add_test(s, "a stuck client does not delay a fast one",
                test_stuck_client_does_not_delay_others);
    CU_add_test(s, "a flooding client does not starve the others",
                test_flooding_client_does_not_starve);
    CU_add_test(s, "timeouts fire, every poller", test_timeouts_fire);
    CU_add_test(s, "select: a descriptor past FD_SETSIZE is an error",
                test_select_fd_setsize);
    CU_add_test(s, "10,000 sequential connections release their stacks",
                test_stacks_released);
    CU_add_test(s, "2,000 idle connections held from one thread",
                test_holds_many_idle_connections);
    CU_add_test(s, "the descriptor limit: raised for --max-conns, or a warning",
                test_descriptor_limit);
    CU_add_test(s, "an arrival burst is taken in batches, between turns",
                test_arrival_burst_taken_in_batches);
    CU_add_test(s, "a newcomer is not served behind a crowd ready at once",
                test_newcomer_not_behind_crowd);
}
