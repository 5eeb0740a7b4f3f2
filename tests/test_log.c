/* test_log.c -- the log under a flood.  Lines a peer can cause are
 * rate-limited (a burst, then a steady rate, one limit for a process and
 * its forked children) and what was dropped is counted on the next line
 * that passes; lines below the log level take nothing from the limit;
 * each line says when, which process, how bad and which peer; the CLI's
 * --log-level hides what is below it and refuses what it does not know. */
#include "../socketserver/internal.h" /* ss__log_backoff, not public */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 50 /* the servers' idle timeout: each client's warning */
#define INTERVAL_MS (1000 / SS_LOG_PEER_PER_S) /* one token comes back */
#define TOKEN_WAIT_MS (INTERVAL_MS + 50)       /* at least one is back */
#define FLOOD 100   /* clients at once: far more than the limit lets by */
#define EOF_MS 5000 /* for a timed-out client's end, on 2 shared cores */
#define TEXT_CAP 65536

/* Waits for a line that never comes: every client times out, and the
 * server warns "waitline: PEER: Connection timed out". */
static int waitline_handle(ss_request_t *req)
{
    char line[64];
    ssize_t n = ss_read_line(req, line, sizeof(line));
    return n < 0 ? (int)n : 0;
}

static const ss_handler_t waitline = {.name = "waitline",
                                      .handle = waitline_handle};

/* ---- Capturing standard error, where ss_log writes ---------------------- */

/* The file is removed only by capture_stop: should a sanitizer report
 * (written to descriptor 2) end the run mid-capture, it is still there. */
typedef struct capture {
    int saved;     /* the real standard error */
    int file;      /* a temporary file in its place */
    char path[32]; /* its name */
    int level;     /* the log level to restore */
} capture_t;

/* Point descriptor 2 at a temporary file and log at level: 0 or -1. */
static int capture_start(capture_t *c, int level)
{
    snprintf(c->path, sizeof(c->path), "/tmp/ss-test-log-XXXXXX");
    fflush(stderr);
    c->file = mkstemp(c->path);
    if (c->file < 0)
        return -1;
    c->saved = dup(STDERR_FILENO);
    if (c->saved < 0 || dup2(c->file, STDERR_FILENO) < 0) {
        close(c->file);
        unlink(c->path);
        if (c->saved >= 0)
            close(c->saved);
        return -1;
    }
    c->level = ss_log_level();
    ss_log_set_level(level);
    return 0;
}

/* How much has been written so far. */
static long capture_size(const capture_t *c)
{
    struct stat st;
    return fstat(c->file, &st) == 0 ? (long)st.st_size : 0;
}

/* Give standard error and the level back; what was written from offset
 * `from` on, in a string to free (NULL when it does not fit in TEXT_CAP:
 * far more than any limited log writes here). */
static char *capture_stop(capture_t *c, long from)
{
    ss_log_set_level(c->level);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    char *text = malloc(TEXT_CAP);
    ssize_t n = text ? pread(c->file, text, TEXT_CAP, from) : -1;
    close(c->file);
    unlink(c->path);
    if (n < 0 || n == TEXT_CAP) {
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

/* Capture standard error at level, then start a server from cfg: 1 when
 * it runs (stop it, then capture_stop), 0 with nothing left running. */
static int start_captured(test_server_t *ts, const ss_config_t *cfg,
                          capture_t *c, int level)
{
    if (!CHECK(capture_start(c, level) == 0))
        return 0;
    if (!CHECK(ts_start(ts, cfg) == 0)) {
        free(capture_stop(c, 0));
        return 0;
    }
    return 1;
}

/* A waitline server of that kind and mode, whose clients time out after
 * TIMEOUT_MS, logging at level into a capture: as start_captured. */
static int start_timing_out(test_server_t *ts, capture_t *c, ts_kind_t kind,
                            const char *mode, int level)
{
    ss_config_t cfg;
    ts_config(&cfg, kind, mode, &waitline);
    cfg.timeout_ms = TIMEOUT_MS;
    return start_captured(ts, &cfg, c, level);
}

/* ---- Clients ------------------------------------------------------------ */

/* n clients connect at once and send nothing; returns how many saw the
 * server end them.  The server logs (or counts) a client's timeout before
 * it closes, so on return every line has been written or counted. */
static int time_out_clients(const char *address, int n)
{
    int fds[FLOOD + 1], ended = 0;
    if (n > (int)COUNT(fds))
        return -1;
    for (int i = 0; i < n; i++)
        fds[i] = ts_connect(address, 0);
    long long until = ts_now_ms() + EOF_MS; /* for them all, not each */
    for (int i = 0; i < n; i++) {
        long long left = until - ts_now_ms();
        if (fds[i] >= 0 && ts_expect_eof(fds[i], left > 0 ? (int)left : 0))
            ended++;
        if (fds[i] >= 0)
            ts_hang_up(fds[i]);
    }
    return ended;
}

/* ---- Reading the log ---------------------------------------------------- */

typedef struct tally {
    int lines;       /* waitline's warnings */
    long suppressed; /* the sum of "(N client lines suppressed ...)" */
} tally_t;

/* Count the timeout warnings in text and the suppressed lines they
 * report.  text is cut into lines. */
static tally_t tally(char *text)
{
    tally_t t = {0, 0};
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, "warn: waitline: "))
            t.lines++;
        char *counted = strstr(line, " client line");
        char *open = counted ? strrchr(line, '(') : NULL;
        if (!open || open > counted)
            continue;
        open++;
        if (strncmp(open, "at least ", 9) == 0)
            open += 9;
        t.suppressed += strtol(open, NULL, 10);
    }
    return t;
}

/* The line of text holding want: "YYYY-MM-DD HH:MM:SS.mmm [PID] LEVEL: "
 * then want, maybe followed by a suppressed count.  Checks the time is
 * now, the pid ours and the level `level`. */
static void check_line(const char *text, const char *level, const char *want)
{
    const char *at = strstr(text, want);
    if (!CHECK(at != NULL)) {
        ts_note("no \"%s\" in: %s", want, text);
        return;
    }
    const char *line = at;
    while (line > text && line[-1] != '\n')
        line--;
    struct tm tm = {0};
    int ms = -1, used = 0;
    long pid = 0;
    char lv[16] = "";
    int got = sscanf(line, "%4d-%2d-%2d %2d:%2d:%2d.%3d [%ld] %15[a-z]: %n",
                     &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec, &ms, &pid, lv, &used);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;
    double age = difftime(time(NULL), mktime(&tm));
    CHECK(got == 9);
    CHECK(age >= -2 && age <= 60);
    CHECK(ms >= 0 && ms <= 999);
    CHECK(pid == (long)getpid());
    CHECK(strcmp(lv, level) == 0);
    CHECK(line + used == at); /* the message follows the prefix at once */
    const char *rest = at + strlen(want);
    if (!CHECK(*rest == '\n' || strncmp(rest, " (", 2) == 0))
        ts_note("line: %.*s", (int)strcspn(line, "\n"), line);
}

/* ---- The limit ---------------------------------------------------------- */

/* FLOOD clients time out at once, then (a token being back) one more:
 * at most burst + rate x time lines are written, and every other one is
 * counted in a "suppressed" note, the last by that one more line. */
static void flood_case(const char *mode)
{
    snprintf(ts_where, sizeof(ts_where), "%s", mode);
    test_server_t ts;
    capture_t c;
    if (!start_timing_out(&ts, &c, TS_TCP4, mode, SS_LOG_WARN))
        return;
    /* A first line, with a token back, takes any count left by earlier
     * tests: what follows the mark is this test's alone. */
    ts_sleep_ms(TOKEN_WAIT_MS);
    int ended = time_out_clients(ts.address, 1);
    long mark = capture_size(&c);
    long long t0 = ts_now_ms();
    ended += time_out_clients(ts.address, FLOOD);
    ts_sleep_ms(TOKEN_WAIT_MS);
    ended += time_out_clients(ts.address, 1);
    long long elapsed = ts_now_ms() - t0;
    ts_stop(&ts);
    char *text = capture_stop(&c, mark);
    if (!CHECK(text != NULL))
        return;
    tally_t t = tally(text);
    free(text);
    /* GCRA lets by exactly burst + one per interval elapsed, at most. */
    long most = SS_LOG_PEER_BURST + (long)(elapsed / INTERVAL_MS);
    CHECK(ended == FLOOD + 2);
    CHECK(t.lines >= 1 && t.lines <= most);
    CHECK(t.suppressed > 0);
    CHECK(t.lines + t.suppressed == FLOOD + 1);
    ts_note("%d timeouts in %lld ms: %d lines written (at most %ld), %ld "
            "counted as suppressed",
            FLOOD + 1, elapsed, t.lines, most, t.suppressed);
}

/* Threads of one process share the limit; so do a fork-mode server's
 * children (each would otherwise start with the whole burst), and the
 * event mode's one thread. */
static void test_flood_is_limited(void)
{
    static const char *const modes[] = {"thread", "fork", "event"};
    for (size_t m = 0; m < COUNT(modes); m++)
        flood_case(modes[m]);
}

/* After a flood's last line no later line may come to carry its count:
 * the serve loop tells it, a second after the first drop, in a line of
 * its own.  The flood here is FLOOD calls in a row from this thread, so
 * that its end is sure to be dropped (tokens come back every 100 ms);
 * the server starts after it, with nothing to do but that report. */
#define FLUSH_WAIT_MS 2500 /* the report is due 1 s after the first drop */

static void test_count_told_without_a_later_line(void)
{
    snprintf(ts_where, sizeof(ts_where), "thread");
    capture_t c;
    if (!CHECK(capture_start(&c, SS_LOG_WARN) == 0))
        return;
    ts_sleep_ms(TOKEN_WAIT_MS); /* as in flood_case: leftovers go first */
    ss_log_peer(SS_LOG_WARN, "waitline: before the flood");
    long mark = capture_size(&c);
    for (int i = 0; i < FLOOD; i++)
        ss_log_peer(SS_LOG_WARN, "waitline: flood line %d", i);
    ss_config_t cfg;
    test_server_t ts;
    ts_config(&cfg, TS_TCP4, "thread", &waitline);
    int started = CHECK(ts_start(&ts, &cfg) == 0);
    ts_sleep_ms(FLUSH_WAIT_MS);
    if (started)
        ts_stop(&ts);
    char *text = capture_stop(&c, mark);
    if (!CHECK(text != NULL))
        return;
    int told = strstr(text, "] warn: log limit (") != NULL;
    tally_t t = tally(text);
    free(text);
    CHECK(told);
    CHECK(t.lines >= 1 && t.lines + t.suppressed == FLOOD);
    ts_note("%d lines: %d written, %ld told as suppressed with no later "
            "line",
            FLOOD, t.lines, t.suppressed);
}

/* With the bucket full, twice the burst of warnings below the level
 * (hidden) leave it full: a burst of visible ones then all pass at once,
 * and no more than the burst plus the refill. */
static void test_hidden_lines_take_no_tokens(void)
{
    snprintf(ts_where, sizeof(ts_where), "thread, level error then warn");
    test_server_t ts;
    capture_t c;
    if (!start_timing_out(&ts, &c, TS_TCP4, "thread", SS_LOG_ERROR))
        return;
    ts_sleep_ms(SS_LOG_PEER_BURST * INTERVAL_MS + 100); /* it fills */
    int hidden = time_out_clients(ts.address, 2 * SS_LOG_PEER_BURST);
    long mark = capture_size(&c);
    ss_log_set_level(SS_LOG_WARN);
    long long t0 = ts_now_ms();
    int shown = time_out_clients(ts.address, SS_LOG_PEER_BURST + 10);
    long long elapsed = ts_now_ms() - t0;
    ts_stop(&ts);
    char *text = capture_stop(&c, 0);
    if (!CHECK(text != NULL))
        return;
    tally_t t = tally(text);
    free(text);
    long most = SS_LOG_PEER_BURST + (long)(elapsed / INTERVAL_MS);
    CHECK(hidden == 2 * SS_LOG_PEER_BURST);
    CHECK(mark == 0); /* nothing was written at level error */
    CHECK(shown == SS_LOG_PEER_BURST + 10);
    if (!CHECK(t.lines >= SS_LOG_PEER_BURST && t.lines <= most))
        ts_note("%d lines in %lld ms, expected %d to %ld", t.lines, elapsed,
                SS_LOG_PEER_BURST, most);
}

/* ---- What a line says --------------------------------------------------- */

/* One client times out on a kind of server; its warning names it. */
static void check_timeout_line(ts_kind_t kind)
{
    snprintf(ts_where, sizeof(ts_where), "%s timeout", ts_kind_name(kind));
    test_server_t ts;
    capture_t c;
    if (!start_timing_out(&ts, &c, kind, "thread", SS_LOG_WARN))
        return;
    ts_sleep_ms(TOKEN_WAIT_MS);
    char peer[80], want[160];
    int fd = ts_connect(ts.address, 0);
    ts_client_name(fd, peer, sizeof(peer));
    CHECK(fd >= 0 && ts_expect_eof(fd, EOF_MS));
    if (fd >= 0)
        ts_hang_up(fd);
    ts_stop(&ts);
    char *text = capture_stop(&c, 0);
    snprintf(want, sizeof(want), "waitline: %s: %s", peer, strerror(ETIMEDOUT));
    if (CHECK(text != NULL))
        check_line(text, "warn", want);
    free(text);
}

/* A datagram over max_datagram is dropped with a warning naming its
 * sender.  The echo of a small one after it shows the warning is out. */
static void check_datagram_line(void)
{
    snprintf(ts_where, sizeof(ts_where), "udp4 oversized datagram");
    ss_config_t cfg;
    test_server_t ts;
    capture_t c;
    ts_config(&cfg, TS_UDP4, "sync", &ss_handler_echo);
    cfg.max_datagram = 64;
    if (!start_captured(&ts, &cfg, &c, SS_LOG_WARN))
        return;
    ts_sleep_ms(TOKEN_WAIT_MS);
    char big[200], reply[16], peer[80], want[160];
    memset(big, 'x', sizeof(big));
    int fd = ts_connect(ts.address, 1);
    ts_client_name(fd, peer, sizeof(peer));
    CHECK(fd >= 0 && ts_send_bytes(fd, big, sizeof(big)) == 0);
    CHECK(fd >= 0 && ts_send_bytes(fd, "ping", 4) == 0);
    CHECK(fd >= 0 && ts_recv_dgram(fd, reply, sizeof(reply)) == 4);
    if (fd >= 0)
        close(fd);
    ts_stop(&ts);
    char *text = capture_stop(&c, 0);
    snprintf(want, sizeof(want),
             "%s: datagram dropped: longer than max_datagram (64 bytes)", peer);
    if (CHECK(text != NULL))
        check_line(text, "warn", want);
    free(text);
}

static void test_line_says_who_when_what(void)
{
    check_timeout_line(TS_TCP4);
    check_timeout_line(TS_TCP6);
    check_datagram_line();
}

/* ---- The CLI's --log-level ---------------------------------------------- */

/* The CLI at level: a client that says nothing times out; returns whether
 * its warning was in the log, and *quiet whether the log held no warn or
 * info line at all. */
static int cli_timeout_logged(const char *level, int *quiet)
{
    const char *args[] = {"--handler",   "menu10086", "--listen",
                          "127.0.0.1:0", "--timeout", "0.1",
                          "--log-level", level,       NULL};
    cli_proc_t p;
    *quiet = 0;
    if (!CHECK(ts_cli_start(&p, args, 1) == 0))
        return -1;
    char greeting[256], peer[80], want[200];
    int fd = ts_connect(p.address, 0);
    ts_client_name(fd, peer, sizeof(peer));
    CHECK(ts_read_until(fd, greeting, sizeof(greeting), "\n", EOF_MS) > 0);
    CHECK(ts_expect_eof(fd, EOF_MS)); /* its line is written by then */
    if (fd >= 0)
        ts_hang_up(fd);
    kill(p.pid, SIGTERM);
    CHECK(ts_cli_wait(&p, EOF_MS) == 0);
    snprintf(want, sizeof(want), "warn: menu10086: %s: %s", peer,
             strerror(ETIMEDOUT));
    *quiet = !strstr(p.errtext, " warn: ") && !strstr(p.errtext, " info: ");
    return strstr(p.errtext, want) != NULL;
}

/* --log-level error hides the warning that --log-level warn shows. */
static void test_cli_level_hides_warnings(void)
{
    int quiet;
    snprintf(ts_where, sizeof(ts_where), "cli --log-level warn");
    CHECK(cli_timeout_logged("warn", &quiet) == 1);
    snprintf(ts_where, sizeof(ts_where), "cli --log-level error");
    CHECK(cli_timeout_logged("error", &quiet) == 0);
    CHECK(quiet);
}

/* An unknown level exits 2 naming the flag and the value, before serving. */
static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* A failure retried on every pass (the master's bind or fork, every
 * 250 ms) is logged at once, then at most once an interval, with the
 * count of what was held back; once it is over the next one is news. */
static void test_repeated_failure_backs_off(void)
{
    capture_t c;
    CU_ASSERT_FATAL(capture_start(&c, SS_LOG_INFO) == 0);
    ss_log_backoff_t b = {.interval_ms = 100};
    long long until = ts_now_ms() + 350;
    int calls = 0;
    while (ts_now_ms() < until && calls < 100000) { /* ~every 5 ms */
        ss__log_backoff(&b, SS_LOG_ERROR, "bind: it failed");
        calls++;
        ts_sleep_ms(5);
    }
    ss__log_backoff_ok(&b);
    ss__log_backoff(&b, SS_LOG_ERROR, "bind: failed again, later");
    char *text = capture_stop(&c, 0);
    CU_ASSERT_FATAL(text != NULL);
    int lines = count_of(text, "bind: it failed");
    CU_ASSERT(calls > 20);
    CU_ASSERT(lines >= 3 && lines <= 5); /* at 0, 100, 200, 300 ms */
    CU_ASSERT(count_of(text, "more like it since the last such line") ==
              lines - 1);
    CU_ASSERT(count_of(text, "bind: failed again, later") == 1);
    CU_ASSERT(strstr(strstr(text, "failed again"), "more like it") == NULL);
    free(text);
}

static void test_cli_bad_level(void)
{
    snprintf(ts_where, sizeof(ts_where), "cli --log-level loud");
    const char *args[] = {"--listen", "127.0.0.1:0", "--log-level", "loud",
                          NULL};
    cli_proc_t p;
    if (!CHECK(ts_cli_start(&p, args, 0) == 0))
        return;
    CHECK(ts_cli_wait(&p, EOF_MS) == 2);
    CHECK(strstr(p.errtext, "--log-level") != NULL);
    CHECK(strstr(p.errtext, "loud") != NULL);
    CHECK(strstr(p.outtext, "listening on") == NULL);
}

void register_log_tests(void)
{
    CU_pSuite s = ts_suite("log");
    CU_add_test(s, "a flood of timeouts: burst + rate lines, the rest counted",
                test_flood_is_limited);
    CU_add_test(s, "a flood's count is told with no later line to carry it",
                test_count_told_without_a_later_line);
    CU_add_test(s, "lines below the level take nothing from the limit",
                test_hidden_lines_take_no_tokens);
    CU_add_test(s, "a line: time, pid, level, peer",
                test_line_says_who_when_what);
    CU_add_test(s, "--log-level error hides warnings",
                test_cli_level_hides_warnings);
    CU_add_test(s, "a bad --log-level exits 2 naming it", test_cli_bad_level);
    CU_add_test(s, "a failure retried each pass is logged with a backoff",
                test_repeated_failure_backs_off);
}
