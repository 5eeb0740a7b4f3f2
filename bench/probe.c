/* probe -- a normal client's latency while a server is under attack: a new
 * connection every INTERVAL ms fetches a small page over HTTP, and the
 * time from connect(2) to the last byte is recorded.
 *
 *   probe [-d SEC] [-i MS] [-u PATH] [-t SEC] ADDRESS
 *
 * ADDRESS is a numeric loopback HOST:PORT; -d is how long to probe
 * (default 10 s), -i the interval between the starts of two fetches
 * (default 200 ms; a fetch that takes longer delays the next one, it is
 * never skipped), -u the page (default /small.txt), -t the limit on one
 * fetch (default 5 s: a slower one counts as an error, at that time).
 * Prints one line of key=value pairs:
 *   n=FETCHES errors=E p50_ms=X p99_ms=Y max_ms=Z
 * with nearest-rank percentiles over every fetch, failed ones included. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FETCHES 100000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Wait for events on fd until deadline: 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, (int)left + 1);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 0;
    }
}

static int connect_by(int fd, const struct sockaddr_in *sa, double deadline)
{
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
        return 0;
    if (errno != EINPROGRESS || !wait_fd(fd, POLLOUT, deadline))
        return -1;
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err ? -1 : 0;
}

/* One fetch: 0 when a whole "200" response came before the deadline. */
static int fetch(const struct sockaddr_in *sa, const char *request,
                 double deadline)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = connect_by(fd, sa, deadline);
    size_t len = strlen(request), sent = 0;
    while (rc == 0 && sent < len) {
        ssize_t w = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (w > 0)
            sent += (size_t)w;
        else if (w < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline))
            continue;
        else
            rc = -1;
    }
    char buf[4096], head[16] = "";
    size_t got = 0;
    while (rc == 0) { /* Connection: close: the response ends at EOF */
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r == 0)
            break;
        if (r < 0 && errno == EAGAIN && wait_fd(fd, POLLIN, deadline))
            continue;
        if (r < 0)
            rc = -1;
        else if (got < sizeof(head) - 1) {
            size_t take = sizeof(head) - 1 - got;
            memcpy(head + got, buf, (size_t)r < take ? (size_t)r : take);
            got += (size_t)r < take ? (size_t)r : take;
        }
    }
    close(fd);
    return rc == 0 && strncmp(head + 8, " 200", 4) == 0 ? 0 : -1;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least p of them at or below. */
static double percentile(const double *sorted, int n, double p)
{
    int rank = (int)(p * n + 0.999999);
    return n == 0 ? 0 : sorted[(rank < 1 ? 1 : rank) - 1];
}

static int parse_address(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    return (ntohl(sa->sin_addr.s_addr) >> 24) == 127 ? 0 : -1;
}

int main(int argc, char **argv)
{
    double secs = 10, interval = 200, limit = 5;
    const char *path = "/small.txt";
    struct sockaddr_in sa;
    int opt;
    while ((opt = getopt(argc, argv, "d:i:u:t:")) != -1) {
        if (opt == 'd')
            secs = atof(optarg);
        else if (opt == 'i')
            interval = atof(optarg);
        else if (opt == 'u')
            path = optarg;
        else if (opt == 't')
            limit = atof(optarg);
        else
            return 2;
    }
    if (optind + 1 != argc || parse_address(argv[optind], &sa) < 0) {
        fprintf(stderr, "usage: probe [-d SEC] [-i MS] [-u PATH] [-t SEC] "
                        "127.x.x.x:PORT\n");
        return 2;
    }
    char request[512];
    snprintf(request, sizeof(request),
             "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
             argv[optind]);
    static double took[MAX_FETCHES];
    int n = 0, errors = 0;
    double start = now_ms(), next = start;
    while (n < MAX_FETCHES && now_ms() < start + secs * 1e3) {
        while (now_ms() < next) {
            double left = next - now_ms();
            struct timespec ts = {
                (time_t)(left / 1e3),
                (long)((left - (time_t)(left / 1e3) * 1e3) * 1e6)};
            nanosleep(&ts, NULL);
        }
        double t0 = now_ms();
        if (fetch(&sa, request, t0 + limit * 1e3) < 0)
            errors++;
        took[n++] = now_ms() - t0;
        next += interval; /* late: start the next one now, no catch-up */
        if (next < now_ms())
            next = now_ms();
    }
    qsort(took, (size_t)n, sizeof(took[0]), by_value);
    printf("n=%d errors=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n", n, errors,
           percentile(took, n, 0.50), percentile(took, n, 0.99),
           n ? took[n - 1] : 0.0);
    return 0;
}
