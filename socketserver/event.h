/* event.h -- private to the event mode: its scheduler (event_loop.c:
 * coroutines over a poller, timers, the waiter it installs in each
 * request) and the mode built on it (mode_event.c). */
#ifndef SOCKETSERVER_EVENT_H
#define SOCKETSERVER_EVENT_H

#include "internal.h"

#include "coro.h"
#include "poller.h"

/* Calls a coroutine makes without waiting before it must yield.  Small:
 * a new connection's first turn runs at accept, and a file's first 16 KiB
 * sends fill a socket buffer of megabytes without ever waiting, so with 32
 * such turns a pass a newcomer waited behind all of them (slow-read
 * attack, probe p99: 32 calls 137 ms, 8 calls 128 ms, 4 calls 3.6 and
 * 20 ms; nginx with one worker 16-58 ms in the same runs). */
#define SS_EVENT_BUDGET 4
/* Events taken per poller wait: a pass runs every task they wake before
 * the loop looks at the listeners again, so it bounds a newcomer's wait
 * when thousands are ready at once (10,000 closing: probe p99 with two
 * workers 1.8-13.6 ms at 256, 0.9-2.0 ms at 64; nginx 0.6-12.7 ms). */
#define SS_EVENT_FIRED 64
#define SS_EVENT_STACK_CACHE 64 /* idle coroutine stacks kept */

typedef struct event_state event_state_t;

typedef struct ev_task {
    ss_coro_t *coro;
    ss_request_t *req;
    event_state_t *st;
    struct pollfd *wait_fds; /* the current wait's descriptors */
    unsigned wait_n;
    int wait_result;    /* >0 ready, -ETIMEDOUT, -ECANCELED */
    long long timer_at; /* 0: no timer */
    int heap_index;     /* -1: not in the heap */
    int ready;          /* queued to run */
    int budget;
    struct ev_task *next_ready;
    struct ev_task *prev, *next; /* every live task */
} ev_task_t;

typedef struct fd_slot {
    ev_task_t *reader, *writer;
    int mask;    /* what the poller watches */
    int is_loop; /* one of the server loop's own descriptors */
} fd_slot_t;

struct event_state {
    const ss_poller_ops_t *poller;
    void *pstate;
    fd_slot_t *fds;
    int fds_cap;
    ss_fired_t fired[SS_EVENT_FIRED];
    int backlogged;   /* the last wait filled fired: more may be ready */
    ev_task_t **heap; /* timers, earliest first */
    int heap_len, heap_cap;
    ev_task_t *ready_head, *ready_tail;
    ev_task_t *tasks;
    int live;
    int cancelled;             /* past the grace period: every wait fails */
    int loop_fds[SS_LOOP_FDS]; /* the serve loop's own, by position */
    ss_coro_ctx_t scheduler;
    ss_coro_t *stack_cache[SS_EVENT_STACK_CACHE];
    int cached;
    size_t stack_size;
};

/* One pass: wait for descriptors and timers (at most timeout_ms), wake
 * their tasks, run what is ready.  Fills the revents of the loop's own
 * descriptors (loop[0..nloop), at most SS_LOOP_FDS) and returns how many
 * fired. */
int ss__event_run_pass(event_state_t *st, struct pollfd *loop, unsigned nloop,
                       int timeout_ms);
/* Start req's coroutine and run it until it first waits: 0 or -ENOMEM. */
int ss__event_spawn(event_state_t *st, ss_request_t *req);
/* Wake every waiting task with -ECANCELED; later waits fail at once. */
void ss__event_cancel_all(event_state_t *st);
/* Run passes until no task is left or deadline_ms. */
void ss__event_drive_until(event_state_t *st, long long deadline_ms);
/* Free the state and everything cached in it. */
void ss__event_state_free(event_state_t *st);

#endif
