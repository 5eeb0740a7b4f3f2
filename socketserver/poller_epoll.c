/* poller_epoll.c -- Linux epoll, level-triggered: the default on Linux.
 * O(ready) per wait however many descriptors are watched. */
#ifdef __linux__
#include "poller.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define BATCH 256 /* events taken per epoll_wait */

typedef struct epoll_state {
    int epfd;
    struct epoll_event events[BATCH];
} epoll_state_t;

static void *epoll_create_state(void)
{
    epoll_state_t *st = malloc(sizeof(*st));
    if (!st)
        return NULL;
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd < 0) {
        free(st);
        return NULL;
    }
    return st;
}

static void epoll_destroy(void *state)
{
    epoll_state_t *st = state;
    close(st->epfd);
    free(st);
}

static int epoll_set(void *state, int fd, int old_mask, int new_mask)
{
    epoll_state_t *st = state;
    struct epoll_event ev = {0};
    ev.data.fd = fd;
    ev.events = (new_mask & SS_READABLE ? EPOLLIN : 0) |
                (new_mask & SS_WRITABLE ? EPOLLOUT : 0);
    int op = new_mask == 0   ? EPOLL_CTL_DEL
             : old_mask == 0 ? EPOLL_CTL_ADD
                             : EPOLL_CTL_MOD;
    if (epoll_ctl(st->epfd, op, fd, &ev) == 0)
        return 0;
    /* The descriptor was closed and reopened behind our back: start over. */
    if (op == EPOLL_CTL_MOD && errno == ENOENT)
        return epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
    if (op == EPOLL_CTL_DEL && (errno == ENOENT || errno == EBADF))
        return 0;
    return -errno;
}

static int epoll_wait_fired(void *state, int timeout_ms, ss_fired_t *fired,
                            int max)
{
    epoll_state_t *st = state;
    int n =
        epoll_wait(st->epfd, st->events, max < BATCH ? max : BATCH, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        unsigned ev = st->events[i].events;
        int broken = (ev & (EPOLLERR | EPOLLHUP)) != 0;
        fired[i].fd = st->events[i].data.fd;
        fired[i].mask = (ev & EPOLLIN || broken ? SS_READABLE : 0) |
                        (ev & EPOLLOUT || broken ? SS_WRITABLE : 0);
    }
    return n;
}

const ss_poller_ops_t ss__poller_epoll = {
    .name = "epoll",
    .summary =
        "Linux's epoll: each wait costs what is ready, not what is watched",
    .forgets_on_close = 1, /* the descriptor is never duplicated */
    .create = epoll_create_state,
    .destroy = epoll_destroy,
    .set = epoll_set,
    .wait = epoll_wait_fired,
};
#endif
