/* poetry_client_async -- seed 000's asynchronous poetry client: fetch a
 * poem from every server AT ONCE, in one thread, with non-blocking sockets
 * and select().  The slow servers pause between lines at the same time, so
 * three servers take about one poem's time, where poetry_client_sync.c
 * takes three.
 *
 * Usage:  poetry_client_async [--quiet] ADDRESS...
 *         ADDRESS is HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:10000
 *
 * Output, on standard output:
 *   for each batch of bytes read (not with --quiet)
 *     task N: got BYTES bytes from ADDRESS
 *   when a server has sent its whole poem (closed the connection)
 *     task N: BYTES bytes from ADDRESS
 *   and at the end
 *     total: DONE of TASKS poems, BYTES bytes in SECONDS s
 *   A task that fails prints "task N: ADDRESS: REASON" on standard error;
 *   the exit status is then 1 (2 for a bad command line).  When no server
 *   sends anything for IDLE_TIMEOUT_S seconds, the unfinished ones fail.
 *
 * Try it against the three servers of poetry_client_sync.c:
 *   build/examples/poetry_client_async 127.0.0.1:10000 127.0.0.1:10001 \
 *       127.0.0.1:10002
 *
 * A client uses only libc and POSIX sockets, nothing of libsocketserver. */
#define _POSIX_C_SOURCE 200809L

#include "client_address.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IDLE_TIMEOUT_S 10
#define MAX_TASKS 64

/* One poem being fetched. */
typedef struct task {
    int number;          /* 1, 2, ... as given on the command line */
    const char *address; /* as given */
    int fd;              /* -1 once ended */
    long bytes;          /* received so far */
    int ok;              /* ended with the whole poem */
} task_t;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connect, then make the socket non-blocking: from now on a recv() with
 * nothing to read returns EAGAIN at once instead of waiting.  (Connecting
 * is blocking here, as in the seed; a fully asynchronous client would
 * connect non-blocking too and wait for writability.) */
static void start_task(task_t *t)
{
    const char *why;
    t->fd = dial(t->address, &why);
    if (t->fd >= FD_SETSIZE)
        why = "too many sockets for select()";
    else if (t->fd >= 0 &&
             fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) | O_NONBLOCK) < 0)
        why = strerror(errno);
    if (!why)
        return;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    fprintf(stderr, "task %d: %s: %s\n", t->number, t->address, why);
}

/* The task has ended, at the end of its poem (err 0) or on an error:
 * report it, and close its socket. */
static void end_task(task_t *t, int err)
{
    close(t->fd);
    t->fd = -1;
    t->ok = err == 0;
    if (err)
        fprintf(stderr, "task %d: %s: %s\n", t->number, t->address,
                strerror(err));
    else
        printf("task %d: %ld bytes from %s\n", t->number, t->bytes, t->address);
}

/* select() said the socket is readable: take everything there is now,
 * until EAGAIN (more later), end of file (poem done) or an error. */
static void read_ready(task_t *t, int quiet)
{
    char buf[1024];
    long got = 0;
    for (;;) {
        ssize_t n = recv(t->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            got += n; /* a real client would use the poem here */
            continue;
        }
        int err = n == 0 ? 0 : errno; /* before printf can change errno */
        if (err == EINTR)
            continue;
        t->bytes += got;
        if (got > 0 && !quiet)
            printf("task %d: got %ld bytes from %s\n", t->number, got,
                   t->address);
        if (err != EAGAIN && err != EWOULDBLOCK)
            end_task(t, err); /* 0: end of file, the poem is complete */
        return; /* EAGAIN: nothing more for now; select() tells us when */
    }
}

/* The set of sockets still open, for select(): returns the highest one,
 * or -1 when every task has ended. */
static int open_sockets(const task_t *tasks, int count, fd_set *set)
{
    int maxfd = -1;
    FD_ZERO(set);
    for (int i = 0; i < count; i++)
        if (tasks[i].fd >= 0) {
            FD_SET(tasks[i].fd, set);
            maxfd = tasks[i].fd > maxfd ? tasks[i].fd : maxfd;
        }
    return maxfd;
}

/* The event loop: wait until some sockets have data, read from those,
 * repeat until every task has ended. */
static void run_tasks(task_t *tasks, int count, int quiet)
{
    fd_set readable;
    int maxfd;
    while ((maxfd = open_sockets(tasks, count, &readable)) >= 0) {
        struct timeval idle = {IDLE_TIMEOUT_S, 0};
        int ready = select(maxfd + 1, &readable, NULL, NULL, &idle);
        int err = ready < 0 ? errno : ready == 0 ? ETIMEDOUT : 0;
        if (err == EINTR)
            continue;
        for (int i = 0; i < count; i++) {
            task_t *t = &tasks[i];
            if (t->fd < 0)
                continue;
            if (err) /* all silent for too long, or select() failed */
                end_task(t, err);
            else if (FD_ISSET(t->fd, &readable))
                read_ready(t, quiet);
        }
    }
}

int main(int argc, char **argv)
{
    int quiet = argc > 1 && strcmp(argv[1], "--quiet") == 0;
    char **addresses = argv + 1 + quiet;
    int count = argc - 1 - quiet;
    if (count < 1 || count > MAX_TASKS) {
        fprintf(stderr, "usage: %s [--quiet] HOST:PORT... (at most %d)\n",
                argv[0], MAX_TASKS);
        return 2;
    }

    double start = now_seconds();
    task_t tasks[MAX_TASKS];
    for (int i = 0; i < count; i++) { /* connect to all of them first */
        tasks[i] = (task_t){i + 1, addresses[i], -1, 0, 0};
        start_task(&tasks[i]);
    }
    run_tasks(tasks, count, quiet);

    long total = 0;
    int done = 0;
    for (int i = 0; i < count; i++)
        if (tasks[i].ok) {
            total += tasks[i].bytes;
            done++;
        }
    printf("total: %d of %d poems, %ld bytes in %.3f s\n", done, count, total,
           now_seconds() - start);
    return done == count ? 0 : 1;
}
