/* internal.h -- private to libsocketserver: the server and request structs,
 * the mode strategy interface and the helpers the modes share.  Private
 * names start with ss__ (libuv's habit). */
#ifndef SOCKETSERVER_INTERNAL_H
#define SOCKETSERVER_INTERNAL_H

#include "socketserver.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/un.h>

/* ss_server_shutdown runs in signal handlers: its atomics must not lock. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "atomic_llong must be lock-free");

/* "[" + 45-char IPv6 + "]:" + port, or "unix:" + a sun_path. */
#define SS_ADDRSTRLEN (sizeof(((struct sockaddr_un *)0)->sun_path) + 8)

#define SS_DEFAULT_MAX_DATAGRAM 8192
#define SS_DEFAULT_MAX_CHILDREN 40
#define SS_DEFAULT_MAX_THREADS 256
#define SS_DEFAULT_GRACE_MS 10000
#define SS_DEFAULT_SERVICE_MS 500
#define SS_READ_AHEAD 4096 /* buffer behind ss_read_line */
#define SS_LINGER_MS 500   /* bound on the drain after shutdown(SHUT_WR) */
#define SS_LINGER_BYTES 65536

/* A mode is a strategy object: how a server runs each request.  Adding one
 * is a new mode_*.c file plus a row in modes.c. */
typedef struct ss_mode {
    /* Allocate the mode's state in srv->mode_state: 0 or -errno. */
    int (*open)(ss_server_t *srv);
    /* Whether another request may start now.  When not, the loop stops
     * accepting (clients wait in the listen backlog) until the wake_fd says
     * a slot was freed: nothing is accepted and then left waiting.  NULL:
     * always. */
    int (*has_room)(ss_server_t *srv);
    /* Run or hand off req; takes ownership of it (frees it in every case). */
    void (*process)(ss_server_t *srv, ss_request_t *req);
    /* A descriptor the server loop should poll for the mode (a child exit
     * or a freed thread slot), or -1; when readable the loop calls
     * service. */
    int (*wake_fd)(ss_server_t *srv);
    /* Replaces poll(2) in the server loop when set (the event mode: its
     * poller watches the loop's descriptors and its coroutines' together,
     * and runs the coroutines that are ready).  Same contract as poll. */
    int (*poll_wait)(ss_server_t *srv, struct pollfd *pfd, unsigned n,
                     int timeout_ms);
    /* Housekeeping on each loop pass (reap children, join threads). */
    void (*service)(ss_server_t *srv);
    /* ms until service must run again even if nothing happens, or -1. */
    int (*service_due_ms)(ss_server_t *srv);
    /* Called by ss_server_close before the listener is closed: a mode whose
     * own threads accept must have them stop touching it. */
    void (*stop_accepting)(ss_server_t *srv);
    /* Wait for requests in flight (block_on_close, bounded by grace_ms,
     * then cancel them). */
    void (*close)(ss_server_t *srv);
    /* Free the state; runs when the last request has let go the server. */
    void (*release)(ss_server_t *srv);
} ss_mode_t;

/* ---- Workers (workers.c) ------------------------------------------------ */

#define SS_MAX_WORKERS 256
#define SS_WORKER_BOOT_FAILED 3 /* a worker's exit status: it could not start */

/* One per worker, in memory shared by the master and every worker: the
 * worker writes, the master reads (heartbeat, counters). */
typedef struct ss_worker_slot {
    atomic_int pid;
    atomic_llong alive_ms;   /* the worker's loop stamps it each pass */
    atomic_llong started_ms;
    atomic_long served;      /* connections (or datagrams) taken */
    atomic_long open;        /* of those, not yet finished */
    atomic_int retire;       /* accept "pass": it asks to be recycled */
} ss_worker_slot_t;

typedef struct ss_shared {
    pthread_mutex_t accept_lock; /* accept "lock": process-shared, robust */
    ss_worker_slot_t slots[SS_MAX_WORKERS];
} ss_shared_t;

typedef struct ss_master ss_master_t; /* the master's own state */

struct ss_server {
    ss_config_t cfg;
    const ss_mode_t *mode;
    void *mode_state;
    int fd;     /* listening (stream) or bound (datagram) socket */
    int family; /* AF_INET, AF_INET6 or AF_UNIX */
    char address[SS_ADDRSTRLEN];
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    pid_t owner_pid; /* only the creating process removes unix_path */

    /* Written by ss_server_shutdown and never drained: it wakes the loop
     * and every request's wait, then stays readable. */
    int wake_r, wake_w;
    int abort_r, abort_w; /* written once to cancel every request's wait */
    atomic_int shutdown_requested; /* lock-free: set from signal handlers */
    atomic_llong hard_stop_at_ms; /* 0, or when waits start to fail */
    atomic_int refs;              /* the owner plus each running request */

    long long accept_paused_until_ms; /* after EMFILE and friends */
    long long accept_error_logged_ms;
    unsigned char *datagram_buf; /* max_datagram bytes */
    void *handler_data;          /* ss_server_set_handler_data */
    int handler_opened;          /* handler->close is owed */

    /* With workers: the master's state (NULL in a worker), the shared
     * memory, and in a worker its slot, the read end of the master's
     * lifeline (EOF: the master died) and when to recycle. */
    ss_master_t *master;
    ss_shared_t *shared;
    uid_t run_uid; /* workers drop to these (user, group); -1: keep */
    gid_t run_gid;
    ss_worker_slot_t *slot;
    int parent_fd;
    int passed; /* accept "pass": fd is a channel the master writes to */
    long recycle_after;
    atomic_int stop_now; /* fast stop asked (SIGQUIT) */
};

struct ss_request {
    ss_server_t *server;
    int fd;       /* the connection, or the server socket for datagrams */
    int datagram; /* 1: in holds the datagram; sends go to peer */
    int timeout_ms;
    long long deadline_at_ms; /* the connection's end of life, or 0 */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char peer_text[SS_ADDRSTRLEN]; /* formatted on first ss_peer */
    void *data;
    /* Bytes received but not yet returned: the read-ahead of ss_read_line,
     * or the whole datagram. */
    char *in;
    size_t in_off, in_len, in_cap;
    void *task; /* event mode: the coroutine running this request */
    int counted; /* in a worker's open count (ss__worker_took) */
};

/* util.c */
long long ss__now_ms(void);
int ss__set_nonblocking_cloexec(int fd);
int ss__set_new_fd_flags(int fd);
int ss__make_pipe(int *r, int *w);
/* util.c: share ss_log_peer's limit with the processes this one forks
 * from now on (called by ss_server_create, before any fork of ours). */
void ss__log_share_peer_limit(void);
/* util.c: when the serve loop should report lines ss_log_peer dropped
 * that no later line has reported (ms from now_ms, 0: now, -1: nothing
 * to report), and the report itself once due. */
long long ss__log_peer_due_ms(long long now_ms);
void ss__log_peer_flush(void);

/* addr.c */
typedef struct ss_addr_parts {
    int is_unix;
    char host[256]; /* empty: any address */
    char port[6];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} ss_addr_parts_t;
int ss__addr_parse(const char *text, ss_addr_parts_t *out, char *err,
                   size_t errlen);
void ss__addr_format(const struct sockaddr *sa, socklen_t len, char *buf,
                     size_t cap);

/* request.c */
ss_request_t *ss__request_new(ss_server_t *srv, int fd,
                              const struct sockaddr *peer, socklen_t peer_len);
int ss__request_set_datagram(ss_request_t *req, const void *data, size_t len);
void ss__request_run(ss_request_t *req);
void ss__request_free(ss_request_t *req);
void ss__request_forget(ss_request_t *req);
void ss__request_drop(ss_request_t *req);
int ss__wait(ss_request_t *req, struct pollfd *fds, unsigned nfds,
             long long deadline_ms);
int ss__wait_fd(ss_request_t *req, int fd, short events,
                long long deadline_ms);
long long ss__call_deadline(const ss_request_t *req);

/* server.c */
void ss__server_ref(ss_server_t *srv);
void ss__server_unref(ss_server_t *srv);
void ss__server_cancel_requests(ss_server_t *srv);
long long ss__grace_deadline_ms(const ss_server_t *srv);
void ss__close_fd(int *fd);
ss_request_t *ss__server_take_request(ss_server_t *srv);
int ss__accept_raw(ss_server_t *srv, struct sockaddr_storage *peer,
                   socklen_t *len);
int ss__bind_again(ss_server_t *srv, char *err, size_t errlen);

/* mode_event.c: the wait seam when req->task is set */
int ss__event_wait(ss_request_t *req, struct pollfd *fds, unsigned nfds,
                   long long deadline_ms);
void ss__event_maybe_yield(ss_request_t *req);
void ss__event_forget(ss_request_t *req, int fd);

/* privileges.c */
int ss__resolve_identity(ss_server_t *srv, char *err, size_t errlen);
int ss__drop_privileges(ss_server_t *srv, char *err, size_t errlen);

/* workers.c */
int ss__workers_prepare(ss_server_t *srv, char *err, size_t errlen);
int ss__master_serve(ss_server_t *srv);
void ss__workers_free(ss_server_t *srv);
/* server.c: the handler's open once more, for a master's reload: 0, or
 * -errno with the old state kept. */
int ss__reopen_handler(ss_server_t *srv);
void ss__worker_loop_pass(ss_server_t *srv, int *timeout_ms);
void ss__worker_took(ss_server_t *srv);
void ss__worker_finished(ss_server_t *srv);
int ss__worker_lock_accept(ss_server_t *srv);
void ss__worker_unlock_accept(ss_server_t *srv);

/* modes.c: the strategy for an id (SS_MODE_DEFAULT: thread), or NULL. */
const ss_mode_t *ss__mode_for(ss_mode_id_t id);

/* error.c: write the message into err when given (cut to errlen, always
 * NUL-terminated; NULL or 0: none) and return rc. */
int ss__fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    SS_PRINTF(4, 5);

extern const ss_mode_t ss__mode_sync;
extern const ss_mode_t ss__mode_fork;
extern const ss_mode_t ss__mode_thread;
extern const ss_mode_t ss__mode_event;
extern const ss_mode_t ss__mode_prethread;

#endif /* SOCKETSERVER_INTERNAL_H */
