/* poller_select.c -- select(2), the oldest interface: O(highest fd) per
 * wait and limited to descriptors below FD_SETSIZE.  A descriptor at or
 * above it is refused (-EMFILE) for that connection: FD_SET on it would
 * write past the fd_set, corrupting memory. */
#include "poller.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/select.h>

typedef struct select_state {
    fd_set readers, writers;
    int maxfd; /* highest watched, or -1 */
} select_state_t;

static void *select_create_state(void)
{
    select_state_t *st = malloc(sizeof(*st));
    if (!st)
        return NULL;
    FD_ZERO(&st->readers);
    FD_ZERO(&st->writers);
    st->maxfd = -1;
    return st;
}

static void select_destroy(void *state)
{
    free(state);
}

static int select_set(void *state, int fd, int old_mask, int new_mask)
{
    select_state_t *st = state;
    (void)old_mask;
    if (fd < 0 || fd >= FD_SETSIZE)
        return -EMFILE;
    if (new_mask & SS_READABLE)
        FD_SET(fd, &st->readers);
    else
        FD_CLR(fd, &st->readers);
    if (new_mask & SS_WRITABLE)
        FD_SET(fd, &st->writers);
    else
        FD_CLR(fd, &st->writers);
    if (new_mask && fd > st->maxfd)
        st->maxfd = fd;
    while (st->maxfd >= 0 && !FD_ISSET(st->maxfd, &st->readers) &&
           !FD_ISSET(st->maxfd, &st->writers))
        st->maxfd--;
    return 0;
}

static int select_wait_fired(void *state, int timeout_ms, ss_fired_t *fired,
                             int max)
{
    select_state_t *st = state;
    fd_set r = st->readers, w = st->writers;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int n = select(st->maxfd + 1, &r, &w, NULL, timeout_ms < 0 ? NULL : &tv);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int k = 0;
    for (int fd = 0; fd <= st->maxfd && k < max; fd++) {
        int mask = (FD_ISSET(fd, &r) ? SS_READABLE : 0) |
                   (FD_ISSET(fd, &w) ? SS_WRITABLE : 0);
        if (mask) {
            fired[k].fd = fd;
            fired[k].mask = mask;
            k++;
        }
    }
    return k;
}

const ss_poller_ops_t ss__poller_select = {
    .name = "select",
    .summary = "select(2), portable: descriptors below FD_SETSIZE only",
    .create = select_create_state,
    .destroy = select_destroy,
    .set = select_set,
    .wait = select_wait_fired,
};
