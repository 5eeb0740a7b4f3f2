/* robot_client -- ask seed 003's UDP robot questions, print its answers.
 *
 *   build/socketserver --handler robot --udp      (on 127.0.0.1:8002)
 *   build/examples/robot_client 127.0.0.1:8002 你好 时间 bye
 *   printf 'hello\nhelp\n' | build/examples/robot_client 127.0.0.1:8002
 *
 * Each question (an argument, or else a line of standard input) is one
 * datagram.  UDP may lose it or its answer, so it is sent up to TRIES
 * times, waiting TRY_MS for the answer each time.  Exit status: 0 when
 * every question got an answer, 1 when one did not (a message says why),
 * 2 for a bad command line.  Only libc and POSIX, no socketserver. */
#include "client_address.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TRIES 3
#define TRY_MS 500
#define MAX_ANSWER 8192

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A UDP socket connected to host:port, or -1 with the reason printed.
 * connect on UDP sends nothing: it fixes where send goes, makes recv take
 * only that peer's datagrams, and lets "nothing listens" come back as
 * ECONNREFUSED. */
static int open_udp(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *list, *ai;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        fprintf(stderr, "robot_client: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (ai = list; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0)
        fprintf(stderr, "robot_client: %s:%s: %s\n", host, port,
                strerror(errno));
    freeaddrinfo(list);
    return fd;
}

/* Throw away late answers to earlier tries, so that one is never taken
 * for the answer to the next question. */
static void drop_stale(int fd)
{
    char junk[MAX_ANSWER];
    while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) >= 0 || errno == EINTR) {
    }
}

/* Wait up to ms for one datagram: its length, or -1 when none came.  A
 * refusal (an ICMP "port unreachable" for an earlier send) is noted in
 * *refused, and the wait goes on: the try still lasts its full time. */
static ssize_t wait_answer(int fd, char *buf, size_t cap, int ms, int *refused)
{
    long long deadline = now_ms() + ms;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
            return -1;
        ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
        if (n >= 0)
            return n;
        if (errno == ECONNREFUSED)
            *refused = 1;
        else if (errno != EINTR && errno != EAGAIN)
            return -1;
    }
}

/* Send the question and wait for its answer, up to TRIES times. */
static ssize_t ask(int fd, const char *question, char *answer, size_t cap,
                   int *refused)
{
    drop_stale(fd);
    for (int try = 1; try <= TRIES; try++) {
        if (send(fd, question, strlen(question), 0) < 0) {
            if (errno != ECONNREFUSED)
                return -1; /* e.g. EMSGSIZE: retrying will not help */
            *refused = 1;
        }
        ssize_t n = wait_answer(fd, answer, cap, TRY_MS, refused);
        if (n >= 0)
            return n;
    }
    errno = ETIMEDOUT;
    return -1;
}

/* Ask one question and print "question -> answer"; 0, or -1 with the
 * reason on standard error. */
static int ask_and_print(int fd, const char *address, const char *question)
{
    char answer[MAX_ANSWER];
    int refused = 0;
    ssize_t n = ask(fd, question, answer, sizeof(answer), &refused);
    if (n < 0 && errno != ETIMEDOUT) {
        fprintf(stderr, "robot_client: %s: %s\n", address, strerror(errno));
        return -1;
    }
    if (n < 0) {
        fprintf(stderr,
                "robot_client: no answer to \"%s\" from %s after %d tries "
                "of %d ms%s\n",
                question, address, TRIES, TRY_MS,
                refused ? " (nothing listens there: is the robot running "
                          "with --udp?)"
                        : "");
        return -1;
    }
    if (n > 0 && answer[n - 1] == '\n') /* the robot ends answers with one */
        n--;
    printf("%s -> %.*s\n", question, (int)n, answer);
    fflush(stdout);
    return 0;
}

/* Questions from standard input, one a line, without the line end. */
static int ask_lines(int fd, const char *address)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, stdin)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        rc = ask_and_print(fd, address, line);
    }
    free(line);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: robot_client HOST:PORT [QUESTION...]\n"
                    "  (no questions: one per line of standard input)\n");
    return 2;
}

int main(int argc, char **argv)
{
    char host[256];
    const char *port =
        argc > 1 ? split_address(argv[1], host, sizeof(host)) : NULL;
    if (!port)
        return usage();
    int fd = open_udp(host, port);
    if (fd < 0)
        return 1;
    int rc = 0;
    if (argc == 2)
        rc = ask_lines(fd, argv[1]);
    for (int i = 2; i < argc && rc == 0; i++)
        rc = ask_and_print(fd, argv[1], argv[i]);
    close(fd);
    return rc == 0 ? 0 : 1;
}
