/* hold -- open N idle connections to a server and report how much memory
 * (proportional set size) the server, the process and its children, gained
 * per connection.
 *
 *   hold ADDRESS N PID [GREETING_BYTES]
 *
 * ADDRESS is a numeric loopback HOST:PORT.  With GREETING_BYTES, wait for
 * that many bytes on every connection first (the server has really set
 * each one up).  Prints one line:
 *   held N connections: PSS BEFORE KiB -> AFTER KiB: B bytes/connection */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    if (argc < 4 || parse_address(argv[1], &sa) < 0) {
        fprintf(stderr, "usage: hold HOST:PORT N PID [GREETING_BYTES]\n");
        return 2;
    }
    int n = atoi(argv[2]), greeting = argc > 4 ? atoi(argv[4]) : 0;
    long pid = atol(argv[3]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    long before = tree_rss_kib(pid);
    int *fds = calloc((size_t)n, sizeof(int));
    for (int i = 0; fds && i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 ||
            connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            (greeting && await_bytes(fds[i], greeting) < 0)) {
            fprintf(stderr, "hold: connection %d: %s\n", i, strerror(errno));
            return 1;
        }
    }
    struct timespec settle = {0, 500 * 1000000L};
    nanosleep(&settle, NULL);
    long after = tree_rss_kib(pid);
    printf(
        "held %d connections: PSS %ld KiB -> %ld KiB: %.0f bytes/connection\n",
        n, before, after, (after - before) * 1024.0 / n);
    return 0;
}
