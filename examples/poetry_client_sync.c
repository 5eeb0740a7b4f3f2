/* poetry_client_sync -- seed 000's blocking poetry client: fetch a poem from
 * each server in turn, one after the other.  Each recv() blocks until the
 * slow server sends its next line, so three servers take three poems' time.
 * Compare poetry_client_async.c, which waits for all of them at once.
 *
 * Usage:  poetry_client_sync [--quiet] ADDRESS...
 *         ADDRESS is HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:10000
 *
 * Output, on standard output:
 *   each poem's text as it arrives (not with --quiet), then for each task
 *     task N: BYTES bytes from ADDRESS
 *   and at the end
 *     total: DONE of TASKS poems, BYTES bytes in SECONDS s
 *   A task that fails prints "task N: ADDRESS: REASON" on standard error;
 *   the exit status is then 1 (2 for a bad command line).  A server silent
 *   for IDLE_TIMEOUT_S seconds counts as failed.
 *
 * Try it, with three slow poetry servers:
 *   build/socketserver --handler poetry --listen 127.0.0.1:10000 &
 *   build/socketserver --handler poetry --listen 127.0.0.1:10001 &
 *   build/socketserver --handler poetry --listen 127.0.0.1:10002 &
 *   build/examples/poetry_client_sync 127.0.0.1:10000 127.0.0.1:10001 \
 *       127.0.0.1:10002
 *
 * A client uses only libc and POSIX sockets, nothing of libsocketserver. */
#define _POSIX_C_SOURCE 200809L

#include "client_address.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define IDLE_TIMEOUT_S 10

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read one poem to the end, printing it as it comes unless quiet.  Returns
 * its size, or -1 with the reason on standard error. */
static long fetch_poem(int task, const char *address, int quiet)
{
    const char *why;
    int fd = dial(address, &why);
    if (fd < 0) {
        fprintf(stderr, "task %d: %s: %s\n", task, address, why);
        return -1;
    }
    /* Blocking reads, but not forever. */
    struct timeval idle = {IDLE_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));

    char buf[1024];
    long bytes = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0); /* waits for a line */
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                fprintf(stderr, "task %d: %s: %s\n", task, address,
                        errno == EAGAIN ? "timed out" : strerror(errno));
            close(fd);
            return n < 0 ? -1 : bytes;
        }
        bytes += n;
        if (!quiet) {
            fwrite(buf, 1, (size_t)n, stdout);
            fflush(stdout);
        }
    }
}

int main(int argc, char **argv)
{
    int quiet = argc > 1 && strcmp(argv[1], "--quiet") == 0;
    char **addresses = argv + 1 + quiet;
    int tasks = argc - 1 - quiet;
    if (tasks < 1) {
        fprintf(stderr, "usage: %s [--quiet] HOST:PORT...\n", argv[0]);
        return 2;
    }

    double start = now_seconds();
    long total = 0;
    int done = 0;
    for (int i = 0; i < tasks; i++) { /* one server after the other */
        long bytes = fetch_poem(i + 1, addresses[i], quiet);
        if (bytes < 0)
            continue;
        printf("task %d: %ld bytes from %s\n", i + 1, bytes, addresses[i]);
        total += bytes;
        done++;
    }
    printf("total: %d of %d poems, %ld bytes in %.3f s\n", done, tasks, total,
           now_seconds() - start);
    return done == tasks ? 0 : 1;
}
