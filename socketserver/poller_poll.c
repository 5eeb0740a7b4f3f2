/* poller_poll.c -- POSIX poll(2): portable, O(watched) per wait.  The
 * pollfd array stays dense; an fd-indexed table finds each entry. */
#include "poller.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

typedef struct poll_state {
    struct pollfd *pfds;
    int count, cap;
    int *slot_of; /* fd -> index in pfds, or -1 */
    int slot_cap;
} poll_state_t;

static void *poll_create_state(void)
{
    return calloc(1, sizeof(poll_state_t));
}

static void poll_destroy(void *state)
{
    poll_state_t *st = state;
    free(st->pfds);
    free(st->slot_of);
    free(st);
}

/* Make room for index fd in slot_of and one more pollfd. */
static int poll_grow(poll_state_t *st, int fd)
{
    if (fd >= st->slot_cap) {
        int cap = st->slot_cap ? st->slot_cap : 64;
        while (cap <= fd)
            cap *= 2;
        int *s = realloc(st->slot_of, (size_t)cap * sizeof(int));
        if (!s)
            return -ENOMEM;
        memset(s + st->slot_cap, 0xff,
               (size_t)(cap - st->slot_cap) * sizeof(int));
        st->slot_of = s;
        st->slot_cap = cap;
    }
    if (st->count == st->cap) {
        int cap = st->cap ? st->cap * 2 : 64;
        struct pollfd *p = realloc(st->pfds, (size_t)cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        st->pfds = p;
        st->cap = cap;
    }
    return 0;
}

static int poll_set(void *state, int fd, int old_mask, int new_mask)
{
    poll_state_t *st = state;
    (void)old_mask;
    int rc = poll_grow(st, fd);
    if (rc < 0)
        return rc;
    int i = st->slot_of[fd];
    if (new_mask == 0) {
        if (i >= 0) { /* keep the array dense: move the last entry here */
            st->pfds[i] = st->pfds[--st->count];
            st->slot_of[st->pfds[i].fd] = i;
            st->slot_of[fd] = -1;
        }
        return 0;
    }
    if (i < 0) {
        i = st->count++;
        st->slot_of[fd] = i;
        st->pfds[i].fd = fd;
    }
    st->pfds[i].events = (short)((new_mask & SS_READABLE ? POLLIN : 0) |
                                 (new_mask & SS_WRITABLE ? POLLOUT : 0));
    return 0;
}

static int poll_wait_fired(void *state, int timeout_ms, ss_fired_t *fired,
                           int max)
{
    poll_state_t *st = state;
    int n = poll(st->pfds, (nfds_t)st->count, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int k = 0;
    for (int i = 0; i < st->count && k < n && k < max; i++) {
        short re = st->pfds[i].revents;
        if (!re)
            continue;
        int broken = (re & (POLLERR | POLLHUP | POLLNVAL)) != 0;
        fired[k].fd = st->pfds[i].fd;
        fired[k].mask = (re & POLLIN || broken ? SS_READABLE : 0) |
                        (re & POLLOUT || broken ? SS_WRITABLE : 0);
        k++;
    }
    return k;
}

const ss_poller_ops_t ss__poller_poll = {
    .name = "poll",
    .summary = "poll(2), portable: each wait scans every descriptor watched",
    .create = poll_create_state,
    .destroy = poll_destroy,
    .set = poll_set,
    .wait = poll_wait_fired,
};
