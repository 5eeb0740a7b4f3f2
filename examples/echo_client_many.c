/* echo_client_many -- seed 002's client: many connections to an echo
 * server at once, each sending its message in two parts.
 *
 *   build/socketserver --handler echo             (on 127.0.0.1:8002)
 *   build/examples/echo_client_many 127.0.0.1:8002 -n 100 -m "hello"
 *
 * It opens N connections (-n, default 40 as in the seed), sends the first
 * half of the message (-m) on every one, then the second half on every
 * one -- so the server holds them all open at once -- and closes the
 * sending side of each.  Then it reads each reply up to the server's
 * close: a connection is ok when its reply is exactly the message.  It
 * prints what went wrong and a summary line; exit status 0 when all are
 * ok, 1 when not, 2 for a bad command line.  Only libc and POSIX. */
#include "client_address.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_COUNT 40
#define MAX_COUNT 100000
#define DEFAULT_MESSAGE "This is the message. It will be sent in parts."
#define TIMEOUT_MS 10000 /* for the whole run: every reply within this */
#define MAX_REPORTS 5    /* failures described one by one, at most */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Say why connection i failed: the first few only, so that 10000 refused
 * connections do not bury the summary. */
static void report(int i, const char *fmt, ...)
{
    static int reported;
    if (reported++ == MAX_REPORTS)
        fprintf(stderr, "echo_client_many: (more failures not shown)\n");
    if (reported > MAX_REPORTS)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "echo_client_many: connection %d: ", i + 1);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* One TCP connection to the first address that takes it, or -1 (errno
 * says why).  SO_SNDTIMEO bounds every send (and, on Linux, connect). */
static int connect_one(const struct addrinfo *list)
{
    struct timeval tv = {TIMEOUT_MS / 1000, 0};
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            return fd;
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return -1;
}

/* Open n connections into fds; a failed one is -1.  Returns how many
 * failed, or -1 when the address does not resolve at all. */
static int connect_all(const char *host, const char *port, int *fds, int n)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *list;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        fprintf(stderr, "echo_client_many: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int failed = 0;
    for (int i = 0; i < n; i++)
        if ((fds[i] = connect_one(list)) < 0) {
            report(i, "connect: %s", strerror(errno));
            failed++;
        }
    freeaddrinfo(list);
    return failed;
}

/* send() until all len bytes are out: 0, or -1 (errno says why).
 * MSG_NOSIGNAL: a server that went away is an error, not a SIGPIPE. */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t k = send(fd, buf, len, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        buf += k;
        len -= (size_t)k;
    }
    return 0;
}

/* Send bytes [from, to) of the message on every open connection; one
 * that fails is closed and counted in *failed. */
static void send_part(int *fds, int n, const char *msg, size_t from, size_t to,
                      int *failed)
{
    for (int i = 0; i < n && from < to; i++)
        if (fds[i] >= 0 && send_all(fds[i], msg + from, to - from) < 0) {
            report(i, "send: %s", strerror(errno));
            close(fds[i]);
            fds[i] = -1;
            ++*failed;
        }
}

/* Read until the server closes, cap bytes have come or the deadline
 * passes: the byte count, or -1 on a timeout or an error. */
static ssize_t read_reply(int fd, char *buf, size_t cap, long long deadline)
{
    size_t got = 0;
    while (got < cap) {
        long long left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        ssize_t k = recv(fd, buf + got, cap - got, 0);
        if (k == 0)
            break;
        if (k < 0 && errno != EINTR)
            return -1;
        if (k > 0)
            got += (size_t)k;
    }
    return (ssize_t)got;
}

/* Read every reply and compare it with the message: how many are ok.
 * One byte more than the message is read, so extra bytes show too. */
static int check_replies(const int *fds, int n, const char *msg, int *failed)
{
    size_t len = strlen(msg);
    char *buf = malloc(len + 1);
    long long deadline = now_ms() + TIMEOUT_MS;
    int ok = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        ssize_t got = buf ? read_reply(fds[i], buf, len + 1, deadline) : -1;
        if (got == (ssize_t)len && memcmp(buf, msg, len) == 0) {
            ok++;
            continue;
        }
        ++*failed;
        if (got < 0)
            report(i, "no full reply: %s", strerror(errno));
        else
            report(i, "reply differs: got %zd bytes \"%.*s\"", got, (int)got,
                   buf);
    }
    free(buf);
    return ok;
}

static int usage(void)
{
    fprintf(stderr, "usage: echo_client_many HOST:PORT [-n CONNECTIONS] "
                    "[-m MESSAGE]\n");
    return 2;
}

/* argv[1] is the address; getopt reads the options after it (it takes
 * argv[0] of what it is given as the program name, here the address). */
static int parse_options(int argc, char **argv, int *n, const char **msg)
{
    int opt;
    char *end;
    while ((opt = getopt(argc - 1, argv + 1, "n:m:")) != -1) {
        if (opt == 'm') {
            *msg = optarg;
            continue;
        }
        long v = opt == 'n' ? strtol(optarg, &end, 10) : 0;
        if (opt != 'n' || *end || end == optarg || v < 1 || v > MAX_COUNT)
            return -1;
        *n = (int)v;
    }
    return optind == argc - 1 ? 0 : -1; /* nothing left over */
}

int main(int argc, char **argv)
{
    int n = DEFAULT_COUNT;
    const char *msg = DEFAULT_MESSAGE;
    char host[256];
    const char *port =
        argc > 1 ? split_address(argv[1], host, sizeof(host)) : NULL;
    if (!port || parse_options(argc, argv, &n, &msg) < 0)
        return usage();
    int *fds = malloc((size_t)n * sizeof(*fds));
    if (!fds)
        return fprintf(stderr, "echo_client_many: out of memory\n"), 1;

    long long start = now_ms();
    int failed = connect_all(host, port, fds, n);
    if (failed < 0) {
        free(fds);
        return 1;
    }
    size_t len = strlen(msg);
    send_part(fds, n, msg, 0, len / 2, &failed);
    send_part(fds, n, msg, len / 2, len, &failed);
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            shutdown(fds[i], SHUT_WR); /* the echo's cue to finish */
    int ok = check_replies(fds, n, msg, &failed);
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    printf("%d ok, %d failed, %.3f s\n", ok, failed,
           (double)(now_ms() - start) / 1000);
    return ok == n ? 0 : 1;
}
