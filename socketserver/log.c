/* log.c -- the logger: one line per write(2), a level, a file that can
 * be reopened after rotation, and the limit on lines clients can cause. */
/* MAP_ANONYMOUS (the peer-line limiter's shared page) is not in
 * POSIX.1-2008; glibc shows it with _DEFAULT_SOURCE. */
#define _DEFAULT_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = SS_LOG_INFO;
static char log_path[4096]; /* ss_log_open's file, for ss_log_reopen */

/* Point standard error (where ss_log writes) at path, appending. */
static int redirect_stderr(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0)
        return -errno;
    int rc = dup2(fd, STDERR_FILENO) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int ss_log_open(const char *path)
{
    if (strlen(path) >= sizeof(log_path))
        return -ENAMETOOLONG;
    int rc = redirect_stderr(path);
    if (rc == 0)
        strcpy(log_path, path);
    return rc;
}

/* Async-signal-safe (open, dup2, close): after a log rotation moved the
 * file away, log into a new one under the same name. */
void ss_log_reopen(void)
{
    int saved = errno;
    if (log_path[0])
        redirect_stderr(log_path);
    errno = saved;
}

void ss_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int ss_log_level(void)
{
    return atomic_load(&log_level);
}

/* One line -- time, pid, level, the message, then suffix, which is kept
 * even when a long message is cut -- in one write(2), so lines from
 * threads and children never mix. */
static void log_line(int level, const char *suffix, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    int saved_errno = errno;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
    int k = snprintf(line + n, sizeof(line) - n,
                     ".%03ld [%ld] %s: ", ts.tv_nsec / 1000000, (long)getpid(),
                     names[level < 0   ? 0
                           : level > 3 ? 3
                                       : level]);
    n += k > 0 ? (size_t)k : 0;
    size_t tail = strlen(suffix) + 1;      /* and the newline */
    size_t room = sizeof(line) - n - tail; /* for the message and its NUL */
    k = vsnprintf(line + n, room, fmt, ap);
    n += k <= 0 ? 0 : (size_t)k < room ? (size_t)k : room - 1;
    memcpy(line + n, suffix, tail - 1);
    n += tail - 1;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w; /* nowhere to report a failed log write */
    errno = saved_errno;
}

void ss_log(int level, const char *fmt, ...)
{
    if (level > atomic_load(&log_level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, "", fmt, ap);
    va_end(ap);
}

/* ---- The limit on lines a peer can cause ---------------------------------
 *
 * Policy: a burst of SS_LOG_PEER_BURST (20) lines, then SS_LOG_PEER_PER_S
 * (10) a second.  20 lets a real incident be logged in full (a dozen
 * clients timing out together after a network blip); 10 a second keeps a
 * sample of the offending addresses coming while a flood of any size
 * writes about 1 KB/s (10 lines of ~100 bytes; 10 KiB/s if every line
 * were the longest, 1 KiB): a disk and a log rotation keep up, and the server's
 * own lines (ss_log, not limited) stay easy to find.  The kernel's
 * printk_ratelimit is tighter (10 per 5 s), but its lines are rarer.
 *
 * The bucket is kept as GCRA, the generic cell rate algorithm (ATM's): one
 * number, the time at which the bucket will be full again.  A line passes
 * when that time is at most burst - 1 intervals ahead of now, and pushes
 * it one interval on: burst lines at once, then one per interval.  One
 * compare-and-swap, no lock.  Dropped lines are counted with the time of
 * the first drop in one word, which the next line that passes takes (an
 * exchange) and reports; when no such line comes, the serve loop reports
 * the count a second after the first drop (below).
 *
 * The state moves to shared memory when the first server is created
 * (before any fork of the library's), so a fork-mode server's children and
 * a master's workers draw from one bucket: otherwise each child would
 * start with the full burst it inherited. */
#define PEER_INTERVAL_MS (1000 / SS_LOG_PEER_PER_S)
#define DROP_COUNT_BITS 24 /* the count; the first drop's ms above it */
#define DROP_COUNT_MAX ((1ULL << DROP_COUNT_BITS) - 1)
#define DROP_MS_MASK ((1ULL << (64 - DROP_COUNT_BITS)) - 1)

typedef struct peer_limit {
    atomic_llong full_at_ms; /* GCRA's "theoretical arrival time" */
    atomic_ullong dropped;   /* count | first drop's ms << DROP_COUNT_BITS */
} peer_limit_t;

static peer_limit_t local_limit; /* when the shared page cannot be had */
static peer_limit_t *_Atomic peer_limit = &local_limit;

/* Once, by ss_server_create: the forks that matter (fork mode's children,
 * the workers) all come after it. */
static void map_shared_peer_limit(void)
{
    void *p = mmap(NULL, sizeof(peer_limit_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    peer_limit_t *shared = p; /* carries on from what was used so far */
    atomic_store(&shared->full_at_ms, atomic_load(&local_limit.full_at_ms));
    atomic_store(&shared->dropped, atomic_load(&local_limit.dropped));
    atomic_store(&peer_limit, shared);
}

void ss__log_share_peer_limit(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, map_shared_peer_limit);
}

/* Take one token at now_ms: 1, or 0 when the bucket is empty. */
static int peer_token(peer_limit_t *lim, long long now_ms)
{
    long long tat = atomic_load(&lim->full_at_ms);
    for (;;) {
        long long from = tat > now_ms ? tat : now_ms;
        if (from - now_ms > (SS_LOG_PEER_BURST - 1) * PEER_INTERVAL_MS)
            return 0;
        if (atomic_compare_exchange_weak(&lim->full_at_ms, &tat,
                                         from + PEER_INTERVAL_MS))
            return 1;
    }
}

/* Count a dropped line; the first of a run stamps the time. */
static void peer_dropped(peer_limit_t *lim, long long now_ms)
{
    unsigned long long old = atomic_load(&lim->dropped), next;
    do {
        unsigned long long count = old & DROP_COUNT_MAX;
        if (count == 0)
            next = ((unsigned long long)now_ms & DROP_MS_MASK)
                       << DROP_COUNT_BITS |
                   1;
        else
            next = count == DROP_COUNT_MAX ? old : old + 1;
    } while (!atomic_compare_exchange_weak(&lim->dropped, &old, next));
}

/* How long ago the first drop of a dropped word was. */
static unsigned long long ms_since_first_drop(unsigned long long dropped,
                                              long long now_ms)
{
    return ((unsigned long long)now_ms - (dropped >> DROP_COUNT_BITS)) &
           DROP_MS_MASK;
}

/* Take the dropped count, if any, as " (N client lines suppressed in the
 * last S s)" in buf; "" when none were. */
static void peer_take_dropped(peer_limit_t *lim, long long now_ms, char *buf,
                              size_t cap)
{
    buf[0] = '\0';
    if (atomic_load(&lim->dropped) == 0)
        return;
    unsigned long long d = atomic_exchange(&lim->dropped, 0);
    unsigned long long count = d & DROP_COUNT_MAX;
    if (count == 0)
        return;
    unsigned long long since = ms_since_first_drop(d, now_ms);
    snprintf(buf, cap,
             " (%s%llu client line%s suppressed in the last "
             "%llu.%llu s)",
             count == DROP_COUNT_MAX ? "at least " : "", count,
             count == 1 ? "" : "s", since / 1000, since % 1000 / 100);
}

void ss_log_peer(int level, const char *fmt, ...)
{
    if (level > atomic_load(&log_level))
        return; /* not shown: takes no token */
    long long now = ss__now_ms();
    peer_limit_t *lim = atomic_load(&peer_limit);
    if (!peer_token(lim, now)) {
        peer_dropped(lim, now);
        return;
    }
    char suffix[96];
    peer_take_dropped(lim, now, suffix, sizeof(suffix));
    va_list ap;
    va_start(ap, fmt);
    log_line(level, suffix, fmt, ap);
    va_end(ap);
}

/* ---- Telling a count no later line would carry ---------------------------
 * After the last line of a flood nothing would report what was dropped.
 * The serve loop asks when a report is due (FLUSH_AFTER_MS after the first
 * drop: a flood still going on carries its own counts) and makes it then,
 * as a line of its own, taking a token like any other. */
#define FLUSH_AFTER_MS 1000

/* How long until peer_token would give a token (0: now). */
static long long peer_token_wait_ms(peer_limit_t *lim, long long now_ms)
{
    long long tat = atomic_load(&lim->full_at_ms);
    long long ahead = (tat > now_ms ? tat : now_ms) - now_ms;
    long long wait = ahead - (SS_LOG_PEER_BURST - 1) * PEER_INTERVAL_MS;
    return wait > 0 ? wait : 0;
}

/* Due once the first drop is FLUSH_AFTER_MS old and a token is there to
 * take: never 0 while the bucket is empty, or the loop would spin. */
long long ss__log_peer_due_ms(long long now_ms)
{
    peer_limit_t *lim = atomic_load(&peer_limit);
    unsigned long long d = atomic_load(&lim->dropped);
    if ((d & DROP_COUNT_MAX) == 0)
        return -1;
    unsigned long long since = ms_since_first_drop(d, now_ms);
    if (since < FLUSH_AFTER_MS)
        return (long long)(FLUSH_AFTER_MS - since);
    return peer_token_wait_ms(lim, now_ms);
}

static void log_plain(int level, const char *suffix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(level, suffix, fmt, ap);
    va_end(ap);
}

void ss__log_peer_flush(void)
{
    peer_limit_t *lim = atomic_load(&peer_limit);
    if ((atomic_load(&lim->dropped) & DROP_COUNT_MAX) == 0)
        return; /* the usual case, without reading the clock */
    long long now_ms = ss__now_ms();
    if (ss__log_peer_due_ms(now_ms) != 0 || !peer_token(lim, now_ms))
        return; /* not yet, or another thread took the token first */
    char suffix[96];
    peer_take_dropped(lim, now_ms, suffix, sizeof(suffix));
    /* Not filtered by level: the lines it counts were shown-level ones. */
    if (suffix[0])
        log_plain(SS_LOG_WARN, suffix, "log limit");
}

/* ---- Failures that repeat (see internal.h) --------------------------------
 * Not ss_log_peer's bucket: that one is shared by every client's lines,
 * and a server failing in a loop must neither spend it nor be drowned by
 * it.  Each failure kind has its own state, kept by its one caller. */
void ss__log_backoff(ss_log_backoff_t *b, int level, const char *fmt, ...)
{
    if (level > atomic_load(&log_level))
        return;
    long long now = ss__now_ms();
    if (now < b->next_ms) {
        b->held++;
        return;
    }
    char suffix[96] = "";
    if (b->held)
        snprintf(suffix, sizeof(suffix),
                 " (and %u more like it since the "
                 "last such line)",
                 b->held);
    b->held = 0;
    b->next_ms =
        now + (b->interval_ms > 0 ? b->interval_ms : SS_LOG_BACKOFF_MS);
    va_list ap;
    va_start(ap, fmt);
    log_line(level, suffix, fmt, ap);
    va_end(ap);
}

void ss__log_backoff_ok(ss_log_backoff_t *b)
{
    b->next_ms = 0;
    b->held = 0;
}
