/* poller.c -- the readiness backends by id. */
#include "poller.h"

#include <stddef.h>

const ss_poller_ops_t *ss__poller_for(ss_poller_id_t id)
{
    switch (id) {
    case SS_POLLER_DEFAULT:
#ifdef __linux__
        return &ss__poller_epoll;
#else
        return &ss__poller_poll;
#endif
#ifdef __linux__
    case SS_POLLER_EPOLL:
        return &ss__poller_epoll;
#endif
    case SS_POLLER_POLL:
        return &ss__poller_poll;
    case SS_POLLER_SELECT:
        return &ss__poller_select;
    default:
        return NULL;
    }
}
