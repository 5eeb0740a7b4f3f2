/* client.c -- build/cluster_client: the load generator of make
 * test-cluster.  K threads each hold one conversation at a time with
 * HOST:PORT -- connect, optionally send a PROXY v1/v2 header built from
 * the command line (to talk to a backend directly, or to forge one),
 * optionally send some text and half-close, read until EOF, check the
 * reply -- for D seconds, until COUNT conversations, or until SIGTERM /
 * SIGINT, whichever comes first.  Then one summary line:
 *
 *   ok=N failed=M p50_ms=X p99_ms=Y max_ms=Z refused=.. reset=.. ...
 *
 * Latencies are over the conversations that succeeded.  Every socket
 * operation is bounded (-t, default 5 s), so a frozen peer shows up as a
 * timeout, never as a hang.  With -l FILE each failed or slow (-S)
 * conversation is also written there as "START_MS LATENCY_MS REASON",
 * START_MS in wall-clock milliseconds since the epoch, so a script can
 * tell which conversations began after an event it caused.
 *
 * C11 and POSIX only (plus pthreads): it runs inside the test's network
 * namespaces, where nothing but this and the server is installed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum reason {
    C_OK,
    C_REFUSED, /* connect: ECONNREFUSED */
    C_RESET,   /* ECONNRESET / EPIPE on a send or receive */
    C_TIMEOUT, /* connect or a read or write past -t */
    C_EMPTY,   /* closed with no reply where one was expected */
    C_BAD,     /* a reply that does not match */
    C_OTHER,   /* any other error */
    C_COUNT
};
static const char *const reason_name[C_COUNT] = {
    "ok", "refused", "reset", "timeout", "empty", "bad_reply", "other"};

static struct {
    struct sockaddr_in to;
    int threads;
    double seconds;
    long count; /* 0: no limit */
    int timeout_ms;
    const char *expect;    /* the reply starts with this */
    const char *contains;  /* ...and contains this */
    const char *forbidden; /* ...and never this */
    int expect_none;       /* success is a close with no reply at all */
    unsigned char header[232];
    size_t header_len;
    char *send;   /* sent after the header, then a half-close */
    long slow_ms; /* -l logs conversations at least this slow */
    FILE *log;
    int quiet;     /* no summary line */
    int print;     /* each reply to stdout (for -n 1: a status page) */
    long pause_ms; /* between one thread's conversations: keeps the load
                      modest on a shared machine */
} opt = {
    .threads = 1,
    .seconds = 5,
    .timeout_ms = 5000,
    .expect = "",
    .slow_ms = 1000,
};

static atomic_int stopping;
static atomic_long started; /* conversations begun, against -n */
static volatile sig_atomic_t got_signal;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int bad_shown; /* the first bad reply goes to stderr */

typedef struct {
    long counts[C_COUNT];
    double *lat; /* ms, successful conversations */
    size_t n, cap;
} tally_t;

static double now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static enum reason from_errno(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return C_REFUSED;
    case ECONNRESET:
    case EPIPE:
        return C_RESET;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case ETIMEDOUT:
        return C_TIMEOUT;
    default:
        return C_OTHER;
    }
}

static int set_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/* A non-blocking connect, so that it too is bounded by -t; then the
 * socket goes back to blocking, with SO_RCVTIMEO / SO_SNDTIMEO. */
static enum reason dial(int *out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return C_OTHER;
    enum reason r = C_OK;
    if (connect(fd, (struct sockaddr *)&opt.to, sizeof(opt.to)) < 0) {
        if (errno != EINPROGRESS) {
            r = from_errno(errno);
        } else {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n = poll(&p, 1, opt.timeout_ms);
            int err = 0;
            socklen_t len = sizeof(err);
            if (n == 0)
                r = C_TIMEOUT;
            else if (n < 0 ||
                     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                r = C_OTHER;
            else if (err)
                r = from_errno(err);
        }
    }
    struct timeval tv = {.tv_sec = opt.timeout_ms / 1000,
                         .tv_usec = (opt.timeout_ms % 1000) * 1000};
    if (r == C_OK &&
        (set_blocking(fd) < 0 ||
         setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
         setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0))
        r = C_OTHER;
    if (r != C_OK) {
        close(fd);
        return r;
    }
    *out = fd;
    return C_OK;
}

static enum reason send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return from_errno(errno);
        p += n;
        len -= (size_t)n;
    }
    return C_OK;
}

/* One conversation; the reply is checked against -e, -m, -x or -Z. */
static enum reason converse(void)
{
    int fd;
    enum reason r = dial(&fd);
    if (r != C_OK)
        return r;
    if (opt.header_len)
        r = send_all(fd, opt.header, opt.header_len);
    if (r == C_OK && opt.send) {
        r = send_all(fd, opt.send, strlen(opt.send));
        /* The half-close is the end of the request for handlers that
         * read until EOF (logger). */
        if (r == C_OK)
            shutdown(fd, SHUT_WR);
    }
    char reply[4096];
    size_t got = 0;
    while (r == C_OK) {
        ssize_t n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = from_errno(errno);
            /* A refusal may come as a reset (the server closed with our
             * header unread); with -Z that is still "no reply", but it
             * is counted as a reset so the script sees which it was. */
        } else if (n == 0) {
            break;
        } else if ((got += (size_t)n) == sizeof(reply) - 1) {
            break; /* enough to judge; the rest is not read */
        }
    }
    close(fd);
    reply[got] = '\0';
    if (r != C_OK)
        return r;
    if (opt.expect_none)
        r = got == 0 ? C_OK : C_BAD;
    else if (got == 0)
        r = C_EMPTY;
    else if (strncmp(reply, opt.expect, strlen(opt.expect)) != 0 ||
             (opt.contains && !strstr(reply, opt.contains)) ||
             (opt.forbidden && strstr(reply, opt.forbidden)))
        r = C_BAD;
    if (opt.print) {
        pthread_mutex_lock(&out_lock);
        fwrite(reply, 1, got, stdout);
        pthread_mutex_unlock(&out_lock);
    }
    if (r == C_BAD && atomic_fetch_add(&bad_shown, 1) == 0) {
        pthread_mutex_lock(&out_lock);
        fprintf(stderr, "cluster_client: bad reply: %.200s\n", reply);
        pthread_mutex_unlock(&out_lock);
    }
    return r;
}

static void *run(void *arg)
{
    tally_t *t = arg;
    while (!atomic_load(&stopping)) {
        if (opt.count && atomic_fetch_add(&started, 1) >= opt.count)
            break;
        double wall = now_ms(CLOCK_REALTIME);
        double t0 = now_ms(CLOCK_MONOTONIC);
        enum reason r = converse();
        double ms = now_ms(CLOCK_MONOTONIC) - t0;
        t->counts[r]++;
        if (r == C_OK) {
            if (t->n == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 1024;
                double *lat = realloc(t->lat, cap * sizeof(*lat));
                if (!lat) {
                    perror("cluster_client: realloc");
                    exit(1);
                }
                t->lat = lat;
                t->cap = cap;
            }
            t->lat[t->n++] = ms;
        }
        if (opt.log && (r != C_OK || ms >= (double)opt.slow_ms)) {
            pthread_mutex_lock(&out_lock);
            fprintf(opt.log, "%.0f %.1f %s\n", wall, ms, reason_name[r]);
            pthread_mutex_unlock(&out_lock);
        }
        if (opt.pause_ms > 0) {
            struct timespec ts = {.tv_sec = opt.pause_ms / 1000,
                                  .tv_nsec = opt.pause_ms % 1000 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile of sorted values (0 when there are none). */
static double percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    return v[rank == 0 ? 0 : rank - 1];
}

/* "HOST:PORT" (IPv4) into sin; 0, or -1. */
static int parse_addr(const char *text, struct sockaddr_in *sin)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof(host))
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((unsigned short)port);
    if (*end || port < 0 || port > 65535 ||
        inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -1;
    return 0;
}

/* The PROXY header of -P, naming SRC as the client and DST as the address
 * it connected to (TCP over IPv4; "local" for v2's LOCAL command). */
static int build_header(const char *version, const char *src, const char *dst)
{
    if (strcmp(version, "v2") == 0 && src && strcmp(src, "local") == 0) {
        static const unsigned char local[16] = {
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51,
            0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00};
        memcpy(opt.header, local, sizeof(local));
        opt.header_len = sizeof(local);
        return 0;
    }
    struct sockaddr_in s, d;
    if (!src || !dst || parse_addr(src, &s) < 0 || parse_addr(dst, &d) < 0)
        return -1;
    if (strcmp(version, "v1") == 0) {
        char sh[INET_ADDRSTRLEN], dh[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &s.sin_addr, sh, sizeof(sh));
        inet_ntop(AF_INET, &d.sin_addr, dh, sizeof(dh));
        int n = snprintf((char *)opt.header, sizeof(opt.header),
                         "PROXY TCP4 %s %s %u %u\r\n", sh, dh,
                         ntohs(s.sin_port), ntohs(d.sin_port));
        opt.header_len = (size_t)n;
        return 0;
    }
    if (strcmp(version, "v2") != 0)
        return -1;
    static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                          0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    unsigned char *h = opt.header;
    memcpy(h, sig, sizeof(sig));
    h[12] = 0x21; /* version 2, PROXY */
    h[13] = 0x11; /* TCP over IPv4 */
    h[14] = 0;
    h[15] = 12;
    memcpy(h + 16, &s.sin_addr, 4);
    memcpy(h + 20, &d.sin_addr, 4);
    memcpy(h + 24, &s.sin_port, 2); /* both already in network order */
    memcpy(h + 26, &d.sin_port, 2);
    opt.header_len = 28;
    return 0;
}

/* -s TEXT: \r, \n and \\ escapes, so an HTTP request fits a shell word. */
static char *unescape(const char *text)
{
    char *out = malloc(strlen(text) + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = text; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            *o++ = *p == 'r' ? '\r' : *p == 'n' ? '\n' : *p;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static void on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: cluster_client -c HOST:PORT [-k THREADS] [-d SECONDS]\n"
            "         [-n COUNT] [-t TIMEOUT_MS] [-e PREFIX] [-m SUBSTRING]\n"
            "         [-x FORBIDDEN] [-Z] [-P v1|v2 -S SRC:PORT|local\n"
            "         -D DST:PORT] [-s TEXT] [-l FILE [-L SLOW_MS]] [-i MS]\n"
            "         [-o] [-q]\n"
            "  -e/-m/-x  the reply starts with / contains / never contains\n"
            "  -Z        success is a close with no reply at all\n"
            "  -P        send this PROXY header naming -S, connected to -D\n"
            "  -s TEXT   send TEXT (\\r \\n escapes) then half-close\n"
            "  -l FILE   log failed or slow conversations there\n"
            "  -i MS     pause between a thread's conversations\n"
            "  -o        print each reply; -q: no summary line\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *to = NULL, *version = NULL, *src = NULL, *dst = NULL;
    const char *log_path = NULL;
    int c;
    while ((c = getopt(argc, argv, "c:k:d:n:t:e:m:x:ZP:S:D:s:l:L:qoi:")) !=
           -1) {
        switch (c) {
        case 'c':
            to = optarg;
            break;
        case 'k':
            opt.threads = atoi(optarg);
            break;
        case 'd':
            opt.seconds = atof(optarg);
            break;
        case 'n':
            opt.count = atol(optarg);
            break;
        case 't':
            opt.timeout_ms = atoi(optarg);
            break;
        case 'e':
            opt.expect = optarg;
            break;
        case 'm':
            opt.contains = optarg;
            break;
        case 'x':
            opt.forbidden = optarg;
            break;
        case 'Z':
            opt.expect_none = 1;
            break;
        case 'P':
            version = optarg;
            break;
        case 'S':
            src = optarg;
            break;
        case 'D':
            dst = optarg;
            break;
        case 's':
            if (!(opt.send = unescape(optarg)))
                return 1;
            break;
        case 'l':
            log_path = optarg;
            break;
        case 'L':
            opt.slow_ms = atol(optarg);
            break;
        case 'q':
            opt.quiet = 1;
            break;
        case 'o':
            opt.print = 1;
            break;
        case 'i':
            opt.pause_ms = atol(optarg);
            break;
        default:
            usage();
        }
    }
    if (!to || optind != argc || parse_addr(to, &opt.to) < 0 ||
        opt.threads < 1 || opt.threads > 1024 || opt.timeout_ms < 1 ||
        opt.seconds <= 0 || (version && build_header(version, src, dst) < 0))
        usage();
    if (log_path && !(opt.log = fopen(log_path, "w"))) {
        perror(log_path);
        return 1;
    }

    /* The threads block TERM and INT, so the signal always lands on the
     * main thread, which turns it into the stop flag. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);

    pthread_t *tid = calloc((size_t)opt.threads, sizeof(*tid));
    tally_t *tally = calloc((size_t)opt.threads, sizeof(*tally));
    if (!tid || !tally)
        return 1;
    int made = 0;
    for (; made < opt.threads; made++)
        if (pthread_create(&tid[made], NULL, run, &tally[made]) != 0)
            break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (made == 0) {
        fprintf(stderr, "cluster_client: no thread started\n");
        return 1;
    }

    /* Wait for the deadline, a signal, or -n's count to be used up. */
    double end = now_ms(CLOCK_MONOTONIC) + opt.seconds * 1e3;
    struct timespec tick = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
    while (!got_signal && now_ms(CLOCK_MONOTONIC) < end &&
           !(opt.count && atomic_load(&started) >= opt.count))
        nanosleep(&tick, NULL);
    atomic_store(&stopping, 1);

    tally_t all = {0};
    for (int i = 0; i < made; i++) {
        pthread_join(tid[i], NULL);
        for (int r = 0; r < C_COUNT; r++)
            all.counts[r] += tally[i].counts[r];
        all.n += tally[i].n;
    }
    double *lat = malloc((all.n ? all.n : 1) * sizeof(*lat));
    if (!lat)
        return 1;
    size_t k = 0;
    for (int i = 0; i < made; i++) {
        if (tally[i].n)
            memcpy(lat + k, tally[i].lat, tally[i].n * sizeof(*lat));
        k += tally[i].n;
        free(tally[i].lat);
    }
    qsort(lat, all.n, sizeof(*lat), by_value);
    long failed = 0;
    for (int r = C_OK + 1; r < C_COUNT; r++)
        failed += all.counts[r];
    if (opt.quiet)
        goto done;
    printf("ok=%ld failed=%ld p50_ms=%.2f p99_ms=%.2f max_ms=%.2f",
           all.counts[C_OK], failed, percentile(lat, all.n, 50),
           percentile(lat, all.n, 99), all.n ? lat[all.n - 1] : 0.0);
    for (int r = C_OK + 1; r < C_COUNT; r++)
        printf(" %s=%ld", reason_name[r], all.counts[r]);
    printf("\n");
done:
    if (opt.log)
        fclose(opt.log);
    free(lat);
    free(tid);
    free(tally);
    free(opt.send);
    return 0;
}
