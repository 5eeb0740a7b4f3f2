/* socketserver_choices.h -- the strategies a configuration names, as
 * enums and by name.  Included by socketserver.h: include that one. */
#ifndef SOCKETSERVER_CHOICES_H
#define SOCKETSERVER_CHOICES_H

#ifdef __cplusplus
extern "C" {
#endif

#if (defined(__GNUC__) || defined(__clang__)) && defined(SS_BUILDING_LIBRARY)
#pragma GCC visibility push(default)
#endif

/* ---- Choices: the strategies a configuration names ---------------------- *
 * Each is an enum whose 0 means "the default"; the names are what the CLI
 * and the logs use. */

typedef enum ss_mode_id {
    SS_MODE_DEFAULT = 0, /* thread */
    SS_MODE_SYNC,        /* iterative: one request at a time */
    SS_MODE_FORK,        /* a child process per connection */
    SS_MODE_THREAD,      /* a thread per connection */
    SS_MODE_PRETHREAD,   /* a fixed pool of threads */
    SS_MODE_EVENT        /* one thread, a poller, a coroutine each */
} ss_mode_id_t;

typedef enum ss_accept_id { /* how workers share the listener */
                            SS_ACCEPT_DEFAULT = 0, /* shared */
                            SS_ACCEPT_SHARED, /* all accept on the one socket */
                            SS_ACCEPT_LOCK,   /* one at a time, a process-shared
                                                 lock */
                            SS_ACCEPT_REUSEPORT, /* a socket each, SO_REUSEPORT
                                                  */
                            SS_ACCEPT_PASS /* the master accepts and hands over
                                            */
} ss_accept_id_t;

typedef enum ss_pool_accept_id { /* who accepts for the prethread pool */
                                 SS_POOL_ACCEPT_DEFAULT = 0, /* queue */
                                 SS_POOL_ACCEPT_QUEUE, /* the loop accepts and
                                                          queues */
                                 SS_POOL_ACCEPT_LOCK   /* each thread accepts,
                                                          under a mutex */
} ss_pool_accept_id_t;

typedef enum ss_poller_id { /* the event mode's readiness backend */
                            SS_POLLER_DEFAULT =
                                0, /* the best here: epoll on Linux */
                            SS_POLLER_EPOLL,
                            SS_POLLER_POLL,
                            SS_POLLER_SELECT
} ss_poller_id_t;

typedef enum ss_proxy_id { /* the PROXY protocol header on connections */
                           SS_PROXY_OFF = 0, /* none: the default */
                           SS_PROXY_V1 = 1,  /* required, text (v1) */
                           SS_PROXY_V2 = 2,  /* required, binary (v2) */
                           SS_PROXY_AUTO = 3 /* required, either version */
} ss_proxy_id_t;

typedef enum ss_choice {
    SS_CHOICE_MODE,        /* ss_mode_id_t */
    SS_CHOICE_ACCEPT,      /* ss_accept_id_t */
    SS_CHOICE_POOL_ACCEPT, /* ss_pool_accept_id_t */
    SS_CHOICE_POLLER,      /* ss_poller_id_t */
    SS_CHOICE_PROXY        /* ss_proxy_id_t */
} ss_choice_t;

/* The values of a kind are 1 .. ss_choice_count(kind), and 0 too when the
 * default is a value of its own (SS_PROXY_OFF: ss_choice_value of its name
 * is 0). */
int ss_choice_count(ss_choice_t kind);
/* A value's name ("event"); value 0 gives the default's name.  NULL for a
 * value out of range, or one this system lacks (epoll off Linux). */
const char *ss_choice_name(ss_choice_t kind, int value);
/* A value's one-line summary, as --list shows it; NULL as above. */
const char *ss_choice_summary(ss_choice_t kind, int value);
/* The value with that name, or -1 (unknown, or not on this system). */
int ss_choice_value(ss_choice_t kind, const char *name);

#if (defined(__GNUC__) || defined(__clang__)) && defined(SS_BUILDING_LIBRARY)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* SOCKETSERVER_CHOICES_H */
