/* poller.h -- private: the event mode's readiness backends behind one tiny
 * interface (redis's ae_*.c shape).  Each backend is one file; the choice
 * is made once, from the configuration's ss_poller_id_t. */
#ifndef SOCKETSERVER_POLLER_H
#define SOCKETSERVER_POLLER_H

#include "socketserver.h"

#define SS_READABLE 1
#define SS_WRITABLE 2

typedef struct ss_fired {
    int fd;
    int mask; /* SS_READABLE | SS_WRITABLE; errors and hangups set both */
} ss_fired_t;

typedef struct ss_poller_ops {
    const char *name;
    const char *summary; /* for --list */
    /* Closing a descriptor stops the kernel watching it (epoll), so the
     * mode need not tell the poller first: a system call saved per
     * connection. */
    int forgets_on_close;
    /* State for a poller, or NULL with errno set. */
    void *(*create)(void);
    void (*destroy)(void *state);
    /* Watch fd for new_mask (0: stop watching); old_mask is what it was.
     * 0, or -errno (select: -EMFILE at or above FD_SETSIZE). */
    int (*set)(void *state, int fd, int old_mask, int new_mask);
    /* Wait up to timeout_ms (-1: forever): how many fired (at most max),
     * or -errno. */
    int (*wait)(void *state, int timeout_ms, ss_fired_t *fired, int max);
} ss_poller_ops_t;

extern const ss_poller_ops_t ss__poller_epoll;
extern const ss_poller_ops_t ss__poller_poll;
extern const ss_poller_ops_t ss__poller_select;

/* The backend for an id (SS_POLLER_DEFAULT: the best here), or NULL
 * when this system lacks it. */
const ss_poller_ops_t *ss__poller_for(ss_poller_id_t id);

#endif
