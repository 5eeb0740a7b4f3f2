/* hold -- open N idle connections to a server and report how much memory
 * (proportional set size) the server, the process and its children, gained
 * per connection, and how fast it still answers a busy client meanwhile.
 *
 *   hold ADDRESS N PID [GREETING_BYTES [PROBE_LINE PROBE_REPLY_BYTES]]
 *
 * ADDRESS is a numeric loopback HOST:PORT.  With GREETING_BYTES, wait for
 * that many bytes on every connection first (the server has really set
 * each one up).  With PROBE_LINE, one more client then sends that line
 * (and a newline) PROBES times, 10 ms apart, each time reading
 * PROBE_REPLY_BYTES back, while the N are held.  Prints one line:
 *   held N connections: PSS BEFORE KiB -> AFTER KiB: B bytes/connection
 *   [; probe p50 X ms, p99 Y ms, max Z ms]
 *
 * One source address has fewer than 30,000 ephemeral ports, so the
 * connections come from 127.0.0.1, 127.0.0.2, ... (all loopback), at
 * most PER_SOURCE each.  The process raises its own descriptor limit to
 * N and some; as root, the hard limit too. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The proportional set size of one process in KiB (0 if it is gone): its
 * private pages plus its share of pages it shares.  Plain RSS would count
 * the pages a forked child shares with its parent once per child. */
static long rss_kib(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    long kib = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "Pss: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* The RSS of pid plus every process whose parent it is. */
static long tree_rss_kib(long pid)
{
    long total = rss_kib(pid);
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        long child = atol(e->d_name), ppid;
        if (child <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/stat", child);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        if (rp && sscanf(rp + 1, " %*c %ld", &ppid) == 1 && ppid == pid)
            total += rss_kib(child);
    }
    if (d)
        closedir(d);
    return total;
}

static int parse_address(const char *text, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon || colon - text >= (long)sizeof(host))
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Read until want bytes came, within 5 s. */
static int await_bytes(int fd, int want)
{
    char buf[256];
    int got = 0;
    while (got < want) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) != 1)
            return -1;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            return -1;
        got += (int)n;
    }
    return 0;
}

#define PER_SOURCE 10000
#define FIRST_PORT 10000
#define PROBES 300

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Room for n descriptors and a few more: the soft limit up to the hard
 * one, and past it when this process may (root with CAP_SYS_RESOURCE).
 * Returns how many connections one process can hold now. */
static int raise_descriptor_limit(int n)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)n + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1000;
    struct rlimit more = {want, want > rl.rlim_max ? want : rl.rlim_max};
    if (rl.rlim_cur < want && setrlimit(RLIMIT_NOFILE, &more) < 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur > 1064 ? (int)(rl.rlim_cur - 64) : 1000;
}

/* A socket connected to sa from the i-th connection's own source address
 * and port, chosen here: 127.0.0.2 and on, ports 10000-19999, below the
 * ephemeral range, so they meet no port the kernel hands out.  (Leaving
 * the port to the kernel failed after some 8,000 a source here, and
 * bind's search for a free one was slow.) */
static int connect_from(const struct sockaddr_in *sa, int i)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (uint32_t)i / PER_SOURCE);
    src.sin_port = htons((unsigned short)(FIRST_PORT + i % PER_SOURCE));
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
        connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int compare_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* The probe: PROBES round trips on one more connection, 10 ms apart.
 * Prints its percentiles; -1 when a round trip failed. */
static int probe(const struct sockaddr_in *sa, int source, int greeting,
                 const char *line, int reply_bytes)
{
    char request[256];
    int len = snprintf(request, sizeof(request), "%s\n", line);
    int fd = connect_from(sa, source);
    if (fd < 0 || (greeting && await_bytes(fd, greeting) < 0))
        return -1;
    static long long took[PROBES];
    for (int i = 0; i < PROBES; i++) {
        long long t0 = now_us();
        if (send(fd, request, (size_t)len, 0) != len ||
            await_bytes(fd, reply_bytes) < 0)
            return -1;
        took[i] = now_us() - t0;
        struct timespec gap = {0, 10 * 1000000L};
        nanosleep(&gap, NULL);
    }
    close(fd);
    qsort(took, PROBES, sizeof(took[0]), compare_ll);
    printf("; probe p50 %.2f ms, p99 %.2f ms, max %.2f ms",
           took[PROBES / 2] / 1000.0, took[PROBES * 99 / 100] / 1000.0,
           took[PROBES - 1] / 1000.0);
    return 0;
}

/* In a child: open connections first..last-1 (the i-th from its own
 * source), say so on ready, then hold them until stop reads end of file. */
static void hold_share(const struct sockaddr_in *sa, int first, int last,
                       int greeting, int ready, int stop)
{
    for (int i = first; i < last; i++) {
        int fd = connect_from(sa, i);
        if (fd < 0 || (greeting && await_bytes(fd, greeting) < 0)) {
            fprintf(stderr, "hold: connection %d: %s\n", i, strerror(errno));
            _exit(1);
        }
    }
    char byte = 1;
    if (write(ready, &byte, 1) != 1)
        _exit(1);
    close(ready); /* the parent sees end of file if a group fails */
    while (read(stop, &byte, 1) != 0 && errno == EINTR) {
    }
    _exit(0);
}

/* Hold n connections in as many processes as the descriptor limit needs
 * (one process may have fewer descriptors than n).  0 once all are set
 * up; stop_w is closed to let them go. */
static int hold_all(const struct sockaddr_in *sa, int n, int greeting,
                    int *stop_w)
{
    int per_process = raise_descriptor_limit(n), ready[2], stop[2];
    if (pipe(ready) < 0 || pipe(stop) < 0)
        return -1;
    int groups = 0;
    for (int first = 0; first < n; first += per_process, groups++) {
        int last = first + per_process < n ? first + per_process : n;
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            close(ready[0]);
            close(stop[1]);
            hold_share(sa, first, last, greeting, ready[1], stop[0]);
        }
    }
    close(ready[1]);
    close(stop[0]);
    *stop_w = stop[1];
    char byte;
    for (int g = 0; g < groups; g++)
        if (read(ready[0], &byte, 1) != 1)
            return -1; /* a group failed: it said why */
    close(ready[0]);
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    if (argc < 4 || argc == 6 || parse_address(argv[1], &sa) < 0 ||
        (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "usage: hold 127.x.y.z:PORT N PID [GREETING_BYTES "
                        "[PROBE_LINE PROBE_REPLY_BYTES]]\n");
        return 2;
    }
    int n = atoi(argv[2]), greeting = argc > 4 ? atoi(argv[4]) : 0, stop_w;
    long pid = atol(argv[3]);
    long before = tree_rss_kib(pid);
    if (n <= 0 || hold_all(&sa, n, greeting, &stop_w) < 0)
        return 1; /* the children go when this process does */
    struct timespec settle = {0, 500 * 1000000L};
    nanosleep(&settle, NULL);
    long after = tree_rss_kib(pid);
    printf("held %d connections: PSS %ld KiB -> %ld KiB: %.0f bytes/connection",
           n, before, after, (after - before) * 1024.0 / n);
    int rc = 0;
    if (argc > 6 && probe(&sa, n, greeting, argv[5], atoi(argv[6])) < 0) {
        fprintf(stderr, "\nhold: the probe got no answer within 5 s\n");
        rc = 1;
    }
    printf("\n");
    close(stop_w);
    while (wait(NULL) > 0) {
    }
    return rc;
}
