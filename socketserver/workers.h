/* workers.h -- private to the process layer: the master (master.c, and
 * master_pass.c for accept "pass") and the workers it starts (worker.c).
 * Nothing below this layer includes it: the serve loop sees a worker only
 * through the hooks the worker installs. */
#ifndef SOCKETSERVER_WORKERS_H
#define SOCKETSERVER_WORKERS_H

#include "internal.h"

#define SS_WORKER_BOOT_FAILED                                                  \
    3 /* a worker's exit status: it could not start                            \
       */

/* One per worker, in memory shared by the master and every worker: the
 * worker writes, the master reads (heartbeat, counters). */
typedef struct ss_worker_slot {
    atomic_int pid;
    atomic_llong alive_ms; /* the worker's loop stamps it each pass */
    atomic_llong started_ms;
    atomic_long served; /* connections (or datagrams) taken */
    atomic_long open;   /* of those, not yet finished */
    atomic_int retire;  /* accept "pass": it asks to be recycled */
    atomic_int serving; /* its loop has run: it booted */
} ss_worker_slot_t;

typedef struct ss_shared {
    pthread_mutex_t accept_lock; /* accept "lock": process-shared, robust */
    ss_worker_slot_t slots[SS_MAX_WORKERS];
} ss_shared_t;

/* What the master hands a new worker, in the child, once it has let go
 * of its own state there; srv->fd is already the worker's listener (or
 * its channel, with srv->passed set). */
typedef struct ss_worker_start {
    ss_shared_t *shared;
    int slot;
    int parent_fd; /* the master's lifeline: end of file when it is gone */
} ss_worker_start_t;

/* worker.c: become the worker: drop privileges, open the mode, serve
 * until told to stop, finish what is in flight, exit.  Never returns. */
_Noreturn void ss__worker_run(ss_server_t *srv, const ss_worker_start_t *w);

/* ---- The master's own state (master.c, master_pass.c) ---------------- */

typedef struct worker {
    pid_t pid;    /* 0: a free entry */
    int lifeline; /* read end: hangup when the worker has exited */
    int slot;
    int sock;          /* accept "reuseport": its listener's position */
    int channel;       /* accept "pass": the master's end, or -1 */
    long long told_ms; /* when it was told to stop (0: not told) */
    long long kill_at; /* when to SIGKILL it if still there (0: never) */
    int aborted;       /* SIGABRT sent by the watchdog */
} worker_t;

typedef struct ss_master {
    ss_shared_t *shared;
    worker_t workers[SS_MAX_WORKERS];
    int target;           /* how many should be serving */
    int boot_failures;    /* in a row */
    int alive_r, alive_w; /* the master's lifeline: workers watch r */
    atomic_int reload, delta, report, reopen, upgrade;
    pid_t successor;              /* an upgrade's new master, or 0 */
    int successor_r;              /* its ready pipe */
    long long successor_deadline; /* when to give up on it */
    int ready_w;   /* as a successor: the old master's pipe, or -1 */
    int announced; /* every worker served once: on_ready was called */
    /* accept "reuseport": a listener per position, all made and held by
     * the master (position 0 is the server's own), so that none of them
     * ever goes away with connections queued while a worker is replaced:
     * the replacement takes over its predecessor's position. */
    int reuseport;
    int sock_fd[SS_MAX_WORKERS][SS_MAX_LISTENERS]; /* position 0: unused */
    int pass; /* accept "pass": the master accepts and hands over */
    ss_log_backoff_t bind_log, fork_log; /* failures retried each pass */
} ss_master_t;

/* master_reuseport.c: position pos's sockets closed (never position 0's,
 * the server's own); in a new worker, only its own position's kept, as
 * its listeners; the first position no serving worker has, its sockets
 * made if need be (-1 without reuseport, -errno when one cannot be made,
 * logged); positions nobody serves that the target no longer needs
 * dropped (connections queued on them are lost, as with nginx). */
void ss__reuseport_close(ss_server_t *srv, ss_master_t *m, int pos);
void ss__reuseport_keep(ss_server_t *srv, ss_master_t *m, int sock);
int ss__reuseport_free_position(ss_server_t *srv);
void ss__reuseport_drop_unneeded(ss_server_t *srv, ss_master_t *m);

/* master_upgrade.c: the successor's side -- the ready pipe from the
 * environment (or -1), and once every worker serves on_ready and the word
 * to the predecessor -- and the
 * predecessor's: each pass, start a successor when asked and see how it
 * does (1: it serves, this master is to stop). */
int ss__upgrade_take_ready_fd(void);
void ss__upgrade_report_ready(ss_server_t *srv, ss_master_t *m);
int ss__upgrade_step(ss_server_t *srv, ss_master_t *m);

/* master_control.c: each worker's counters to the log. */
void ss__master_report(ss_master_t *m);

/* master_pass.c: accept "pass".  A channel for a new worker (the master's
 * end in ends[0]; both -1 without pass): 0 or -errno.  Whether some
 * serving worker can take a connection now, and the accepting itself:
 * what is waiting on listener l, a bounded batch, each handed to the
 * least loaded: how many were. */
int ss__pass_channel(const ss_master_t *m, int ends[2]);
int ss__pass_has_taker(ss_master_t *m);
int ss__pass_connections(ss_server_t *srv, ss_master_t *m,
                         const ss_listener_t *l);

#endif
