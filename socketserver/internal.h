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
/* Thread mode's parked threads: enough for a burst of short connections
 * from a few dozen clients at once (the bench's 32) to reuse threads, at
 * a few pages of stack each (about 10 KiB resident); 10 s outlasts the
 * pauses between bursts, yet a quiet server is back to its loop thread
 * soon after the load is gone. */
#define SS_DEFAULT_IDLE_THREADS 32
#define SS_DEFAULT_THREAD_IDLE_MS 10000
#define SS_DEFAULT_GRACE_MS 10000
#define SS_DEFAULT_SERVICE_MS 500
#define SS_READ_AHEAD 4096 /* buffer behind ss_read_line */
#define SS_LINGER_MS 500   /* bound on the drain after shutdown(SHUT_WR) */
#define SS_LINGER_BYTES 65536
#define SS_DRAIN_MAX 4096  /* queued connections served at close, each */
#define SS_ACCEPT_BATCH 32 /* connections taken in one pass of the loop */

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
    /* Whether poll_wait's last wait left ready descriptors untaken: the
     * loop then asks the listeners directly, since they may be among
     * them.  NULL: never. */
    int (*backlogged)(ss_server_t *srv);
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

/* ---- Hooks a process layer installs (worker.c, master.c) --------------
 * The serve loop and the accept layer call these when set, and never name
 * the layer that set them: a worker or a master is one more strategy,
 * chosen once at create.  Each may be NULL. */
typedef struct ss_loop_hooks {
    /* At the top of each pass; may shorten *timeout_ms (a heartbeat). */
    void (*before_pass)(ss_server_t *srv, int *timeout_ms);
    /* Whether this pass may accept (an accept lock taken); when not, it
     * may shorten *timeout_ms to try again soon. */
    int (*try_accept)(ss_server_t *srv, int *timeout_ms);
    /* After the pass's accept, before the request is served (the lock
     * let go), when try_accept said yes. */
    void (*accept_done)(ss_server_t *srv);
    /* A request was taken / has finished (counters, recycling). */
    void (*took)(ss_server_t *srv);
    void (*finished)(ss_server_t *srv);
    /* One more descriptor the loop watches (-1: none), and what to do
     * when it is readable (a worker's lifeline to its master). */
    int watch_fd;
    void (*watch_ready)(ss_server_t *srv);
    /* Replaces the serve loop (a master supervises instead of serving). */
    int (*serve)(ss_server_t *srv);
    /* Frees the layer's state (srv->process) with the server. */
    void (*release)(ss_server_t *srv);
} ss_loop_hooks_t;

/* A binary upgrade's successor finds its predecessor's pipe here (the
 * successor's listeners come as systemd's do, LISTEN_FDS). */
#define SS_UPGRADE_READY_ENV "SOCKETSERVER_READY_FD"

/* The most descriptors the serve loop watches: its wake pipe, the mode's,
 * the process layer's, and each listener. */
#define SS_LOOP_FDS (3 + SS_MAX_LISTENERS)

/* One listening (stream) or bound (datagram) socket of a server. */
typedef struct ss_listener {
    int fd;
    int family;                  /* AF_INET, AF_INET6 or AF_UNIX */
    char address[SS_ADDRSTRLEN]; /* as bound, with the real port */
    /* The socket file this server made (removed by its owner), or "". */
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} ss_listener_t;

struct ss_server {
    ss_config_t cfg;
    const ss_mode_t *mode;
    void *mode_state;
    ss_listener_t listeners[SS_MAX_LISTENERS];
    int nlisteners;
    int next_listener; /* where the loop looks first: each gets its turn */
    pid_t owner_pid;   /* only the creating process removes socket files */

    /* Written by ss_server_shutdown and never drained: it wakes the loop
     * and every request's wait, then stays readable. */
    int wake_r, wake_w;
    int abort_r, abort_w; /* written once to cancel every request's wait */
    atomic_int shutdown_requested; /* lock-free: set from signal handlers */
    atomic_llong hard_stop_at_ms;  /* 0, or when waits start to fail */
    atomic_int refs;               /* the owner plus each running request */
    atomic_int stop_now;           /* fast stop asked (SIGQUIT) */

    /* The accept layer's: written by whoever accepts (in prethread-lock
     * mode, pool threads), read by the loop -- hence atomic. */
    atomic_llong accept_paused_until_ms; /* after EMFILE and friends */
    atomic_llong accept_error_logged_ms;
    int passed; /* listeners[0] is a channel of passed connections */
    unsigned char *datagram_buf; /* max_datagram bytes */

    struct ss_proxy_trust *proxy_trust; /* proxy_from, parsed; NULL: off */
    void *handler_data;                 /* ss_server_set_handler_data */
    int handler_opened;                 /* handler->close is owed */
    uid_t run_uid; /* serve as these (user, group); -1: keep */
    gid_t run_gid;

    ss_loop_hooks_t hooks;
    void *process;   /* the process layer's state: a worker's or a master's */
    int supervises;  /* a master: it runs no requests of its own */
    int handed_over; /* a master that stepped down for its successor */
};

/* How a request waits: the one seam between the request functions and a
 * mode.  The default polls (wait.c); the event mode installs its own in
 * each coroutine's request, and the request functions never know. */
typedef struct ss_waiter {
    /* Same contract as ss__wait below. */
    int (*wait)(ss_request_t *req, struct pollfd *fds, unsigned nfds,
                long long deadline_ms);
    /* After each call that moved bytes: a chance to let others run (a
     * client that always has data must not starve them).  NULL: none. */
    void (*progress)(ss_request_t *req);
    /* Before a descriptor the request waited on is closed.  NULL: none. */
    void (*forget)(ss_request_t *req, int fd);
} ss_waiter_t;

/* The balancer's own address, kept when a PROXY header named the client
 * (allocated then only: most requests have none). */
typedef struct ss_via {
    struct sockaddr_storage addr;
    socklen_t len;
    char text[SS_ADDRSTRLEN]; /* formatted on first ss_proxy_peer */
} ss_via_t;

struct ss_request {
    ss_server_t *server;
    int fd;       /* the connection, or the server socket for datagrams */
    int datagram; /* 1: in holds the datagram; sends go to peer */
    int timeout_ms;
    long long deadline_at_ms; /* the connection's end of life, or 0 */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char peer_text[SS_ADDRSTRLEN]; /* formatted on first ss_peer */
    ss_via_t *via; /* behind a balancer: who connected; else NULL */
    void *data;
    /* Bytes received but not yet returned: the read-ahead of ss_read_line,
     * or the whole datagram. */
    char *in;
    size_t in_off, in_len, in_cap;
    const ss_waiter_t *waiter;
    void *waiter_data; /* the waiter's own (the event mode's task) */
    int counted;       /* hooks.took was called: hooks.finished is owed */
    /* What reads on fd met, for the close to decide whether to linger:
     * SS_SEEN_INPUT (bytes), SS_SEEN_EOF (the peer's end of file). */
    unsigned seen;
    /* ss_read_message ended a message at a pause right after a '\r': a
     * '\n' that comes first in the next one belongs to that line end. */
    int split_crlf;
};
#define SS_SEEN_INPUT 1u
#define SS_SEEN_EOF 2u

/* ---- Layer 0: util.c, log.c, error.c, addr.c ----------------------- */

/* A handler's name for messages: it may have none. */
static inline const char *ss__handler_name(const ss_handler_t *h)
{
    return h && h->name ? h->name : "handler";
}

long long ss__now_ms(void);
int ss__set_nonblocking_cloexec(int fd);
int ss__set_new_fd_flags(int fd);
int ss__make_pipe(int *r, int *w);
void ss__close_fd(int *fd);
/* log.c: share ss_log_peer's limit with the processes this one forks
 * from now on (called by ss_server_create, before any fork of ours). */
void ss__log_share_peer_limit(void);
/* log.c: when the serve loop should report lines ss_log_peer dropped
 * that no later line has reported (ms from now_ms, 0: now, -1: nothing
 * to report), and the report itself once due. */
long long ss__log_peer_due_ms(long long now_ms);
void ss__log_peer_flush(void);

/* log.c: a failure something retries (the master's bind, its fork) may
 * recur on every pass while its cause lasts.  Its first line is logged at
 * once; while it goes on, at most one each interval_ms (0: 20 s, so three
 * a minute), carrying how many were held back.  _ok: it is over, and the
 * next failure is news again.  One state per kind of failure. */
typedef struct ss_log_backoff {
    int interval_ms;
    long long next_ms;
    unsigned held;
} ss_log_backoff_t;
#define SS_LOG_BACKOFF_MS 20000
void ss__log_backoff(ss_log_backoff_t *b, int level, const char *fmt, ...)
    SS_PRINTF(3, 4);
void ss__log_backoff_ok(ss_log_backoff_t *b);

/* error.c: write the message into err when given (cut to errlen, always
 * NUL-terminated; NULL or 0: none) and return rc. */
int ss__fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    SS_PRINTF(4, 5);

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

/* ---- Layer 1: lifetime.c, listen.c, wait.c, privileges.c ------------ */

/* lifetime.c: a server object with no resources yet (every descriptor
 * -1), or NULL; references (the owner holds one, each running request
 * one: the last one out frees it, releasing everything it holds). */
ss_server_t *ss__server_alloc(const ss_config_t *cfg);
void ss__server_ref(ss_server_t *srv);
void ss__server_unref(ss_server_t *srv);

/* listen.c: the server's sockets -- inherited from systemd, or bound to
 * cfg.address and cfg.extra_addresses -- with their addresses recorded:
 * 0, or -errno with the failing call named in err.  bind_again: another
 * socket on listener i's address (accept "reuseport"): the descriptor,
 * or -errno.  close_listeners: every listener's descriptor (in the
 * process that made them, their socket files too). */
int ss__listen(ss_server_t *srv, char *err, size_t errlen);
/* The i-th address a configuration names: cfg->address, then the
 * extra_addresses in order; NULL past the last. */
const char *ss__config_address(const ss_config_t *cfg, int i);
int ss__bind_again(ss_server_t *srv, int i, char *err, size_t errlen);
void ss__close_listeners(ss_server_t *srv);
void ss__remove_socket_files(ss_server_t *srv);
int ss__check_reuse_port(ss_server_t *srv, char *err, size_t errlen);

/* wait.c: block until one of fds is ready (revents set; returns how
 * many), deadline_ms passes (-ETIMEDOUT), or the server cancels its
 * requests (-ECANCELED).  Deadlines are absolute, in ss__now_ms time; 0
 * means none.  With nfds 0 it just waits for the time. */
extern const ss_waiter_t ss__poll_waiter;
int ss__wait(ss_request_t *req, struct pollfd *fds, unsigned nfds,
             long long deadline_ms);
int ss__wait_fd(ss_request_t *req, int fd, short events, long long deadline_ms);
long long ss__call_deadline(const ss_request_t *req);
void ss__made_progress(ss_request_t *req);

/* privileges.c */
int ss__resolve_identity(ss_server_t *srv, char *err, size_t errlen);
int ss__drop_privileges(ss_server_t *srv, char *err, size_t errlen);

/* ---- Layer 2: request.c, io.c, connect.c, accept.c ------------------ */
ss_request_t *ss__request_new(ss_server_t *srv, int fd,
                              const struct sockaddr *peer, socklen_t peer_len);
int ss__request_set_datagram(ss_request_t *req, const void *data, size_t len);
void ss__request_run(ss_request_t *req);
void ss__request_free(ss_request_t *req);
void ss__request_forget(ss_request_t *req);
void ss__request_drop(ss_request_t *req);
/* io.c: recv(2) waiting through the seam until deadline (absolute, 0:
 * none): >0 bytes, 0 at end of file, or -errno. */
ssize_t ss__fd_recv(ss_request_t *req, int fd, void *buf, size_t len,
                    long long deadline);
/* verify_request's verdict (1: serve it), logged when it says no. */
int ss__request_verify(ss_request_t *req);

/* proxy_read.c: the PROXY protocol on a connection.  prepare: the trusted
 * sources, parsed at create (0, or -errno with the bad entry named).
 * accept: the peer is trusted, the header arrived whole within its
 * deadline into the read-ahead (what follows it stays there for the
 * handler) and its client took the peer's place: 0, or -errno with *why
 * saying what was wrong (-ENODATA: closed before sending a byte, as a
 * health check's bare connect does). */
int ss__proxy_prepare(ss_server_t *srv, char *err, size_t errlen);
int ss__proxy_accept(ss_request_t *req, const char **why);

/* accept.c: accept(2) with the error policy every caller needs (the
 * descriptor, or -1: retry later; a lack of descriptors pauses
 * accepting); and one ready connection or datagram that passed
 * verify_request, or NULL (one caller at a time). */
int ss__accept_raw(ss_server_t *srv, const ss_listener_t *l,
                   struct sockaddr_storage *peer, socklen_t *len);
ss_request_t *ss__server_take_request(ss_server_t *srv, const ss_listener_t *l);
/* accept.c: one request from the listeners poll(2) found ready (ready[i]
 * is listener i's entry), the listeners taking turns; or NULL. */
ss_request_t *ss__take_ready(ss_server_t *srv, const struct pollfd *ready);

/* ---- Layer 3: server.c, handler.c ----------------------------------- */
/* Drop privileges, then open the mode: 0, or -errno with err. */
int ss__server_start_mode(ss_server_t *srv, char *err, size_t errlen);
void ss__server_cancel_requests(ss_server_t *srv);
long long ss__grace_deadline_ms(const ss_server_t *srv);
/* handler.c: the handler's open at create (its close is then owed), and
 * once more for a master's reload: 0, or -errno with the old state kept
 * and the reason logged. */
int ss__open_handler(ss_server_t *srv, char *err, size_t errlen);
int ss__reopen_handler(ss_server_t *srv);

/* ---- Layer 4: modes.c, mode_*.c ------------------------------------- */
/* The strategy for an id (SS_MODE_DEFAULT: thread), or NULL. */
const ss_mode_t *ss__mode_for(ss_mode_id_t id);

extern const ss_mode_t ss__mode_sync;
extern const ss_mode_t ss__mode_fork;
extern const ss_mode_t ss__mode_thread;
extern const ss_mode_t ss__mode_event;
extern const ss_mode_t ss__mode_prethread;

/* ---- Layer 5: master.c (and worker.c, which it starts) --------------- */
#define SS_MAX_WORKERS 256
/* Make srv a master of cfg.workers workers: its state and hooks, 0 or
 * -errno with the reason in err. */
int ss__master_prepare(ss_server_t *srv, char *err, size_t errlen);

#endif /* SOCKETSERVER_INTERNAL_H */
