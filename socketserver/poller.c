/* poller.c -- the table of readiness backends. */
#include "poller.h"

#include <stddef.h>
#include <string.h>

static const ss_poller_ops_t *const pollers[] = {
#ifdef __linux__
    &ss__poller_epoll, /* first: the default where it exists */
#endif
    &ss__poller_poll,
    &ss__poller_select,
};

#define POLLER_COUNT ((int)(sizeof(pollers) / sizeof(pollers[0])))

const ss_poller_ops_t *ss__poller_find(const char *name)
{
    if (!name || !*name)
        return pollers[0];
    for (int i = 0; i < POLLER_COUNT; i++)
        if (strcmp(pollers[i]->name, name) == 0)
            return pollers[i];
    return NULL;
}

const char *ss__poller_name(int i)
{
    return i >= 0 && i < POLLER_COUNT ? pollers[i]->name : NULL;
}
