/* choices.c -- the names of the strategies a configuration chooses among
 * (modes, worker accept strategies, pool designs, pollers).  A name is
 * turned into its enum once, at configuration; nothing compares names
 * after that. */
#include "internal.h"
#include "poller.h"

#include <string.h>

typedef struct choice_row {
    const char *name;
    const char *summary;
} choice_row_t;

/* Row 0 is the default's value, spelled as the value it stands for. */
static const choice_row_t modes[] = {
    [SS_MODE_SYNC] = {"sync", "iterative: one request at a time, in the "
                              "server's thread"},
    [SS_MODE_FORK] = {"fork", "a child process per connection (ForkingMixIn)"},
    [SS_MODE_THREAD] = {"thread", "a thread per connection (ThreadingMixIn)"},
    [SS_MODE_PRETHREAD] = {"prethread", "a fixed pool of threads made at "
                                        "start (queue or lock accept)"},
    [SS_MODE_EVENT] = {"event", "one thread, a poller, a coroutine per "
                                "connection"},
};

static const choice_row_t accepts[] = {
    [SS_ACCEPT_SHARED] = {"shared", "every worker accepts on the one socket"},
    [SS_ACCEPT_LOCK] = {"lock", "one worker at a time, under a shared lock"},
    [SS_ACCEPT_REUSEPORT] = {"reuseport", "a socket per worker "
                                          "(SO_REUSEPORT)"},
    [SS_ACCEPT_PASS] = {"pass", "the master accepts and hands connections "
                                "over"},
};

static const choice_row_t proxies[] = {
    /* 0, off, is a value too */
    [SS_PROXY_OFF] = {"off", "no PROXY header: the peer is the client"},
    [SS_PROXY_V1] = {"v1", "a text (v1) PROXY header starts each "
                           "connection"},
    [SS_PROXY_V2] = {"v2", "a binary (v2) PROXY header starts each "
                           "connection"},
    [SS_PROXY_AUTO] = {"auto", "a PROXY header of either version starts "
                               "each connection"},
};

static const choice_row_t pool_accepts[] = {
    [SS_POOL_ACCEPT_QUEUE] = {"queue", "the loop accepts and queues"},
    [SS_POOL_ACCEPT_LOCK] = {"lock", "each pool thread accepts, under a "
                                     "mutex"},
};

/* The defaults, by kind. */
static const int defaults[] = {
    [SS_CHOICE_MODE] = SS_MODE_THREAD,
    [SS_CHOICE_ACCEPT] = SS_ACCEPT_SHARED,
    [SS_CHOICE_POOL_ACCEPT] = SS_POOL_ACCEPT_QUEUE,
    [SS_CHOICE_POLLER] = SS_POLLER_DEFAULT, /* resolved by poller.c */
    [SS_CHOICE_PROXY] = SS_PROXY_OFF,
};

#define ROWS(t) ((int)(sizeof(t) / sizeof(t[0])) - 1)

/* The table of a kind with its size; pollers have none (their backends
 * name themselves). */
static const choice_row_t *table(ss_choice_t kind, int *count)
{
    switch (kind) {
    case SS_CHOICE_MODE:
        *count = ROWS(modes);
        return modes;
    case SS_CHOICE_ACCEPT:
        *count = ROWS(accepts);
        return accepts;
    case SS_CHOICE_POOL_ACCEPT:
        *count = ROWS(pool_accepts);
        return pool_accepts;
    case SS_CHOICE_PROXY:
        *count = ROWS(proxies);
        return proxies;
    case SS_CHOICE_POLLER:
        *count = SS_POLLER_SELECT;
        return NULL;
    default: /* not a kind: no values */
        *count = 0;
        return NULL;
    }
}

int ss_choice_count(ss_choice_t kind)
{
    int count = 0;
    table(kind, &count);
    return count;
}

/* value with 0 resolved to the default; -1 when out of range. */
static int resolve(ss_choice_t kind, int value)
{
    int count = ss_choice_count(kind);
    if (count == 0 || value < 0 || value > count)
        return -1; /* not a kind, or not a value of it */
    if (value == 0 && kind == SS_CHOICE_POLLER)
        return 0; /* the poller table resolves its own default */
    return value == 0 ? defaults[kind] : value;
}

/* A value's row; row 0 is a value's own only where the default is 0. */
static const choice_row_t *row(ss_choice_t kind, int value)
{
    int count;
    const choice_row_t *t = table(kind, &count);
    value = resolve(kind, value);
    return t && value >= 0 && t[value].name ? &t[value] : NULL;
}

static const ss_poller_ops_t *poller(int value)
{
    if (resolve(SS_CHOICE_POLLER, value) < 0)
        return NULL;
    return ss__poller_for((ss_poller_id_t)value);
}

const char *ss_choice_name(ss_choice_t kind, int value)
{
    if (kind == SS_CHOICE_POLLER) {
        const ss_poller_ops_t *p = poller(value);
        return p ? p->name : NULL;
    }
    const choice_row_t *r = row(kind, value);
    return r ? r->name : NULL;
}

const char *ss_choice_summary(ss_choice_t kind, int value)
{
    if (kind == SS_CHOICE_POLLER) {
        const ss_poller_ops_t *p = poller(value);
        return p ? p->summary : NULL;
    }
    const choice_row_t *r = row(kind, value);
    return r ? r->summary : NULL;
}

int ss_choice_value(ss_choice_t kind, const char *name)
{
    int count = ss_choice_count(kind);
    for (int v = 1; name && v <= count; v++) {
        const char *n = ss_choice_name(kind, v);
        if (n && strcmp(n, name) == 0)
            return v;
    }
    int zero_named = count > 0 && row(kind, 0) && resolve(kind, 0) == 0;
    if (zero_named && name && strcmp(row(kind, 0)->name, name) == 0)
        return 0; /* "off": the default, a value of its own */
    return -1;
}
