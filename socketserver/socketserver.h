/* socketserver.h -- the public header of libsocketserver (it includes
 * socketserver_choices.h and socketserver_log.h: include this one).
 *
 * A server owns a listening socket (TCP over IPv4/IPv6, UDP, Unix stream or
 * datagram).  A *mode* decides how each connection or datagram runs (sync,
 * fork, thread, ...).  A *handler* -- a const struct of callbacks written in
 * blocking style -- does the talking, and runs unchanged in every mode.
 *
 * Handlers do all their I/O through the ss_* request functions below, never
 * with read()/write() on a descriptor: that seam is what lets a mode run the
 * same handler on a thread, in a child process or as a coroutine.
 *
 * Conventions: functions that can fail return a negative errno value
 * (-ETIMEDOUT, -ECONNRESET, ...) or one of the library's own SS_E* codes;
 * ss_strerror(rc) describes either.
 */
#ifndef SOCKETSERVER_H
#define SOCKETSERVER_H

#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SS_VERSION "0.1.0"

#if defined(__GNUC__) || defined(__clang__)
#define SS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SS_PRINTF(fmt, args)
#endif

/* Built as a shared library with hidden visibility, only what this header
 * declares is exported. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(SS_BUILDING_LIBRARY)
#pragma GCC visibility push(default)
#endif

typedef struct ss_server ss_server_t;
typedef struct ss_request ss_request_t;

/* ---- Errors ------------------------------------------------------------ */

/* serve_forever's error when workers keep failing at boot (the master
 * stops rather than respawn them in a loop).  Not an errno value. */
#define SS_EWORKERS (-1000)

/* What a return code of this library means: strerror(-rc) for a negative
 * errno, the library's own words for an SS_E* code. */
const char *ss_strerror(int rc);

#include "socketserver_choices.h" /* the strategies a configuration names */

/* ---- Handlers ---------------------------------------------------------- */

/* The callbacks of a handler, as in Python's BaseRequestHandler.  Any may be
 * NULL.  setup and handle return 0 on success or a negative errno; a failure
 * is passed to the server's handle_error hook.  handle is skipped when setup
 * fails; finish always runs.
 *
 * open and close bracket the server's life: open runs in ss_server_create
 * after the bind (check the options, load a file, refuse a mode; keep state
 * with ss_server_set_handler_data); a failure makes create fail with the
 * message open wrote into err (never NULL there, and at least 256 bytes,
 * whatever create's caller gave).  close runs when the server is freed.  A
 * master's reload (HUP with workers) runs open again; only if it succeeds
 * and set new handler data does close run, seeing the old data. */
typedef struct ss_handler {
    const char *name;    /* short name, used by --handler */
    const char *summary; /* one line, shown by --list */
    int (*setup)(ss_request_t *req);
    int (*handle)(ss_request_t *req);
    void (*finish)(ss_request_t *req);
    int (*open)(ss_server_t *srv, char *err, size_t errlen);
    void (*close)(ss_server_t *srv);
    int timeout_ms; /* the idle timeout its requests get when the config's
                       timeout_ms is 0 (not set): how long its clients may
                       rightly stay quiet, or not read.  0: none */
    const struct ss_handler_option *options; /* its flags, NULL-name-ended
                                                (Handler options, below) */
} ss_handler_t;

/* ---- Request functions (the only I/O a handler does) ------------------- *
 * Every blocking call honours the request's timeout (ss_set_timeout; the
 * server's timeout_ms by default) and returns -ETIMEDOUT when it expires,
 * or -ECANCELED when the server is stopping and the grace period is over.
 * The timeout is an idle timeout: it bounds each wait for the peer, and
 * a call that moves bytes in steps (a line arriving in pieces, a long
 * send) starts it again after each step.  The server's deadline_ms bounds
 * a connection's whole life, however steadily it trickles.
 *
 * On a datagram request the same functions work on the datagram: the recv
 * family reads the received datagram and then reports end of file; each
 * send sends one reply datagram to the sender. */

/* Receive up to len bytes: >0 bytes read, 0 at end of file, <0 error. */
ssize_t ss_recv(ss_request_t *req, void *buf, size_t len);

/* Receive exactly n bytes: n, or fewer if the peer closed first; <0 error. */
ssize_t ss_recv_exact(ss_request_t *req, void *buf, size_t n);

/* Read one line, up to and including '\n', into buf (always NUL-terminated;
 * cap is at least 2, else -EINVAL).
 * Returns its length, 0 at end of file, or -EMSGSIZE when the line does not
 * fit in cap - 1 bytes (those cap - 1 bytes are consumed; the connection is
 * then mid-line, and most handlers close it).  A last line without '\n' at
 * end of file is returned as it is.  On another error (-ETIMEDOUT, ...) the
 * part of the line read so far is lost. */
ssize_t ss_read_line(ss_request_t *req, char *buf, size_t cap);

/* Read one message: a line, as ss_read_line reads it, or the bytes the
 * peer sent without a line end before it fell silent for pause_ms
 * milliseconds.  For clients that send each message whole with no line end
 * and then wait for the answer (seed 003's), while line-based clients (nc,
 * telnet) are served line by line.  The pause counts from the last bytes
 * received and only once a message has begun: waiting for one to begin is
 * bounded by the request's timeout alone.  Silence after a partial message
 * ends it even when the idle timeout is the shorter; only the connection's
 * deadline makes it -ETIMEDOUT.  When a message ended at a pause right after
 * a '\r', a '\n' first in the next call is skipped (a CRLF split by the
 * pause ends one line, not two).  Returns as ss_read_line: the length, 0 at
 * end of file, -EMSGSIZE past cap - 1 bytes, -EINVAL for a cap below 2.
 * pause_ms <= 0: lines only, as ss_read_line. */
ssize_t ss_read_message(ss_request_t *req, char *buf, size_t cap, int pause_ms);

/* Send all len bytes, looping over partial writes: 0 or <0 error. */
int ss_send_all(ss_request_t *req, const void *buf, size_t len);
/* len bytes of the open file fd from offset, as ss_send_all would send
 * them: 0, -EIO when the file ended first (it shrank: the client sees a
 * short body, never a wrong one), or -errno.  sendfile(2) where the
 * system has it (no copy through the process), else pread and send. */
int ss_send_file(ss_request_t *req, int fd, long long offset, long long len);

/* printf-style send of the whole formatted text: 0 or <0 error. */
int ss_sendf(ss_request_t *req, const char *fmt, ...) SS_PRINTF(2, 3);

/* Pause for ms milliseconds (paced output): 0, -ETIMEDOUT if the
 * connection's deadline falls first (the idle timeout does not apply: this
 * is no wait for the peer), -ECANCELED if the server is being stopped. */
int ss_sleep(ss_request_t *req, unsigned ms);

/* Set the timeout of each later blocking call, in ms (0 = none). */
void ss_set_timeout(ss_request_t *req, int timeout_ms);

/* The peer's address as text: "127.0.0.1:5000", "[::1]:5000", "unix:/p",
 * or "unix:" for an unnamed Unix socket. */
const char *ss_peer(ss_request_t *req);
const struct sockaddr *ss_peer_addr(const ss_request_t *req, socklen_t *len);

/* Behind a balancer (proxy_protocol on): the balancer's own address,
 * that is the connection's peer, as ss_peer formats it; NULL when no
 * header named another client (a LOCAL health check, or the protocol
 * off). */
const char *ss_proxy_peer(ss_request_t *req);
const struct sockaddr *ss_proxy_peer_addr(const ss_request_t *req,
                                          socklen_t *len);

/* Per-request user data, owned by the handler (free it in finish). */
void *ss_data(const ss_request_t *req);
void ss_set_data(ss_request_t *req, void *data);

/* The server running this request, and its user context. */
ss_server_t *ss_request_server(const ss_request_t *req);
void *ss_context(const ss_request_t *req);

/* The handler's per-server state, set by its open callback. */
void *ss_handler_data(const ss_request_t *req);

/* ---- More descriptors: relays and rooms -------------------------------- *
 * A handler may use other descriptors (an outgoing connection, a pipe), as
 * long as its waiting goes through these functions too.  ss_fd gives the
 * request's own connection for a poll set or a shutdown(); its I/O stays
 * with the functions above. */

int ss_fd(const ss_request_t *req);

/* Connect to "HOST:PORT", "[IPV6]:PORT" or "unix:PATH" without blocking
 * the mode: a new non-blocking, close-on-exec descriptor, or <0 error.
 * (A host name is resolved with getaddrinfo, which may block: prefer
 * numeric addresses in event-driven modes.) */
int ss_connect(ss_request_t *req, const char *address);

/* ss_recv and ss_send_all on another descriptor. */
ssize_t ss_fd_recv(ss_request_t *req, int fd, void *buf, size_t len);
int ss_fd_send_all(ss_request_t *req, int fd, const void *buf, size_t len);

/* One send that never waits: the bytes taken (maybe fewer than len), or
 * -EAGAIN when none fit now, or another error.  For relays that must not
 * block halfway through a buffer while their peer is blocked too. */
ssize_t ss_fd_send(ss_request_t *req, int fd, const void *buf, size_t len);

/* Close a descriptor this handler waited on (never close() it directly in
 * the event mode: its poller must forget the descriptor first). */
void ss_fd_close(ss_request_t *req, int fd);

/* Wait until one of fds is ready (revents set, as poll(2)): the number
 * ready, -ETIMEDOUT after timeout_ms (-1: the request's timeout, if any),
 * or -ECANCELED.  The request's own descriptor counts as readable while
 * ss_read_line holds bytes it has read ahead. */
int ss_poll(ss_request_t *req, struct pollfd *fds, unsigned nfds,
            int timeout_ms);

/* Datagram requests: is this one, and its bytes (NULL on a stream). */
int ss_is_datagram(const ss_request_t *req);
const void *ss_datagram(const ss_request_t *req, size_t *len);

/* Send one datagram to the sender of this request: 0 or <0 error
 * (-EMSGSIZE when too large, -EDESTADDRREQ for an unnamed Unix peer,
 * -EAGAIN when it cannot be queued now: it is then dropped, never waited
 * for).  On a stream request it is ss_send_all. */
int ss_reply(ss_request_t *req, const void *buf, size_t len);

/* ---- Servers ----------------------------------------------------------- */

/* The most addresses one server listens on. */
#define SS_MAX_LISTENERS 16
#define SS_TIMEOUT_NONE                                                        \
    (-1) /* timeout_ms: no idle timeout, whatever the                          \
            handler's default */

typedef struct ss_config {
    const char *address; /* "127.0.0.1:8000", "[::1]:0", "unix:/p" */
    const char *const *extra_addresses; /* NULL, or a NULL-terminated list
                                    of more addresses, served alike in
                                    every mode (SS_MAX_LISTENERS in all) */
    int datagram;                       /* UDP, or Unix datagram with "unix:" */
    ss_mode_id_t mode;                  /* SS_MODE_*; 0: thread */
    const ss_handler_t *handler;        /* required */
    void *context; /* user pointer for hooks and handlers */
    const struct ss_option_value *options; /* the handler's, NULL-name-ended;
                                              must outlive the server */

    int backlog;         /* listen backlog; 0: SOMAXCONN */
    int reuse_address;   /* SO_REUSEADDR; also replaces a stale Unix socket */
    int reuse_port;      /* SO_REUSEPORT */
    int tcp_nodelay;     /* TCP_NODELAY on accepted connections */
    size_t max_datagram; /* largest datagram accepted; 0: 8192 */
    int timeout_ms;      /* idle timeout of each wait for a peer; 0: the
                            handler's timeout_ms; SS_TIMEOUT_NONE: none.
                            ss_server_config shows the one in force */
    int deadline_ms;     /* a connection's whole life; 0: none.  Past it,
                            every blocking call fails with -ETIMEDOUT */

    int max_conns;      /* connections open at once in this
                           process, in every mode; beyond it the
                           server stops accepting (clients wait in
                           the backlog); 0: the mode's own caps */
    int max_children;   /* fork: live children at most; 0: 40 */
    int max_threads;    /* thread: live threads at most; 0: 256 */
    int idle_threads;   /* thread: finished threads kept parked for the next
                           connections (no pthread_create for those), at
                           most; ss_config_init: 32; 0: none, a new thread
                           each; above max_threads: max_threads */
    int thread_idle_ms; /* thread: a parked thread retires after this long
                           without a connection; 0: 10000 */
    size_t thread_stack_size;        /* thread, prethread: stack size; 0: the
                                        system default */
    int pool_threads;                /* prethread: threads; 0: 2 x cores */
    ss_pool_accept_id_t pool_accept; /* prethread: SS_POOL_ACCEPT_QUEUE
                                 (one thread accepts and queues; the
                                 default) or _LOCK (each pool thread
                                 accepts, under a mutex) */
    ss_poller_id_t poller;           /* event: SS_POLLER_*; 0: the best here */
    size_t coro_stack_size; /* event: stack per connection; 0: 64 KiB */
    int workers;            /* > 0: a master supervises this many worker
                               processes, each running `mode` */
    ss_accept_id_t accept;  /* workers: SS_ACCEPT_SHARED (all accept on
                               the one socket; the default), _LOCK (one
                               at a time, a process-shared lock),
                               _REUSEPORT (a socket each, SO_REUSEPORT),
                               _PASS (the master accepts, hands over) */
    int max_requests;       /* workers: recycle after this many
                               connections (+ 0..max_requests_jitter) */
    int max_requests_jitter;
    int worker_timeout_ms; /* workers: kill one silent this long */
    int (*worker_init)(ss_server_t *srv); /* in each new worker; <0: it
                                 failed to boot */
    const char *const *upgrade_argv;      /* workers: what ss_server_upgrade
                                      starts in this master's place (argv[0]:
                                      the program, looked up in PATH without
                                      a '/'); NULL: no upgrades */
    int upgrade_timeout_ms; /* workers: how long the new master may take
                               until its workers serve; 0: 30000 */
    const char *user;       /* serve as this user (and its group, or
                               `group`): dropped after the bind, in each
                               worker or in this process */
    const char *group;
    int refuse_root;    /* refuse to serve as root */
    int block_on_close; /* close waits for in-flight requests */
    int grace_ms;       /* ...for this long, then stops them */

    /* Behind a balancer (HAProxy's PROXY protocol, stream servers only):
     * each connection starts with a header naming the real client, read
     * before the handler's setup; from then on ss_peer is the client and
     * ss_proxy_peer the balancer.  A connection from a source not trusted,
     * or without a valid header in time, is closed unserved. */
    ss_proxy_id_t proxy_protocol; /* SS_PROXY_*; 0: off */
    const char *proxy_from;       /* who may send one: addresses, CIDRs and
                                     "unix", comma-separated; NULL: loopback
                                     (127.0.0.0/8, ::1) and Unix sockets */
    int proxy_timeout_ms;         /* the header's deadline; 0: 5000 */

    /* Hooks, each optional (Python's override points). */
    int (*verify_request)(ss_server_t *srv, ss_request_t *req); /* 0 rejects */
    void (*handle_error)(ss_server_t *srv, ss_request_t *req, int err);
    void (*service_actions)(ss_server_t *srv); /* each loop pass */
    int service_interval_ms;                   /* ...at least this often;
                                                  0: 500 */
    void (*handle_timeout)(ss_server_t *srv);  /* handle_request timed out */
    void (*on_ready)(ss_server_t *srv);        /* serving begins, once: at the
                                        start of serve_forever, or with workers
                                        once all of them serve (readiness for a
                                        supervisor: systemd's READY=1) */
} ss_config_t;

/* Fill cfg with the defaults: thread mode, block_on_close on, 10 s grace,
 * 32 idle threads, everything else 0 or NULL.  Set address and handler
 * afterwards. */
void ss_config_init(ss_config_t *cfg);

/* Create a server: bind and listen on each address.  Returns 0 and *out, or a
 * negative errno with a message naming the address and the failing call in err
 * (may be NULL; a short buffer gets the message cut, always
 * NUL-terminated); on failure nothing is left behind (no descriptor, no
 * socket file).  Under systemd socket activation (LISTEN_PID is this
 * process, LISTEN_FDS >= 1) it serves the inherited descriptors 3, 4, ...
 * (LISTEN_FDS of them) instead of binding the addresses. */
int ss_server_create(ss_server_t **out, const ss_config_t *cfg, char *err,
                     size_t errlen);

/* Serve until ss_server_shutdown: returns 0, or <0 on a fatal error. */
int ss_server_serve_forever(ss_server_t *srv);

/* Wait up to timeout_ms (-1: forever) for one connection or datagram and
 * process it: 0 when one was processed, -ETIMEDOUT when none came (after
 * calling handle_timeout), -ECANCELED after ss_server_shutdown. */
int ss_server_handle_request(ss_server_t *srv, int timeout_ms);

/* Ask serve_forever to return.  Wakes it at once; callable from any thread
 * and from a signal handler (async-signal-safe); never blocks.  Requests in
 * flight go on until ss_server_close, or until the grace period ends (in
 * the event mode they run inside serve_forever and close only: call close
 * soon after serve_forever returns). */
void ss_server_shutdown(ss_server_t *srv);

/* With workers, the master's controls (each async-signal-safe, as
 * ss_server_shutdown; in a worker they do nothing but stop_now):
 *   stop_now     fast stop: workers are told to quit at once (SIGQUIT)
 *   reload       the handler's open runs again (on success the old
 *                state's close follows; on failure the old state stays),
 *                new workers start, the old ones finish and leave
 *   add_workers  one more (+1) or one fewer (-1) worker; never below 1
 *   report       log each worker's pid, connections served, connections
 *                open and uptime
 *   reopen_logs  ss_log_reopen in the master and every worker
 *   upgrade      a binary upgrade: start cfg.upgrade_argv with every
 *                listening socket inherited (LISTEN_FDS, as systemd
 *                does); once all its workers serve, this master stops
 *                gracefully (serve_forever returns 0) and leaves the
 *                socket files to it; if it exits or is not serving
 *                within upgrade_timeout_ms, it is stopped, this master
 *                serves on, and the log says why */
void ss_server_stop_now(ss_server_t *srv);
void ss_server_reload(ss_server_t *srv);
void ss_server_add_workers(ss_server_t *srv, int delta);
void ss_server_report(ss_server_t *srv);
void ss_server_upgrade(ss_server_t *srv);
/* reopen_logs: ss_log_reopen here, and in every worker (SIGUSR1). */
void ss_server_reopen_logs(ss_server_t *srv);

/* Close the listening socket (and remove its Unix socket file), wait for
 * requests in flight when block_on_close is set (at most grace_ms, then
 * they are cancelled: their waits fail with -ECANCELED), and free the
 * server.  Call it once serve_forever has returned, from any thread.
 * After the cancel, fork mode kills children that still run; thread mode
 * cannot kill a thread, so one that ignores -ECANCELED is detached and
 * keeps running (it keeps the server alive, not your context).  Without
 * block_on_close nothing is waited for: threads run on detached, and
 * children not yet exited are left to the process (zombies until it
 * exits), as with Python's block_on_close = False. */
void ss_server_close(ss_server_t *srv);

/* Check an address's syntax without resolving or binding it: 0, or
 * -EINVAL with the reason in err (may be NULL). */
int ss_address_check(const char *address, char *err, size_t errlen);

/* The first listener's bound address as text, with the real port
 * ("127.0.0.1:40121"), and its descriptor. */
const char *ss_server_address(const ss_server_t *srv);
int ss_server_fd(const ss_server_t *srv);
/* How many listeners, and the i-th one's address and descriptor (NULL
 * and -1 past the end), in the order the addresses were given. */
int ss_server_listener_count(const ss_server_t *srv);
const char *ss_server_listener_address(const ss_server_t *srv, int i);
int ss_server_listener_fd(const ss_server_t *srv, int i);
void *ss_server_context(const ss_server_t *srv);
const ss_config_t *ss_server_config(const ss_server_t *srv);
void ss_server_set_handler_data(ss_server_t *srv, void *data);
void *ss_server_handler_data(const ss_server_t *srv);

/* 1 when serve_forever returned because an upgrade's new master took
 * over (the service goes on: no "stopping" to announce), else 0. */
int ss_server_handed_over(const ss_server_t *srv);

/* Whether this server's requests may run in different processes (fork
 * mode, or more than one worker): then state shared between requests
 * (a chat room) must not live in one process's memory. */
int ss_server_is_multiprocess(const ss_server_t *srv);

/* ---- Handler options ---------------------------------------------------- *
 * ss_main makes each a flag, --NAME VALUE, checked by type; the handler reads
 * the value given last (or NULL) with ss_server_option, in its open. */
enum { SS_OPTION_TEXT, SS_OPTION_INT, SS_OPTION_ADDRESS }; /* INT: lo..hi */
typedef struct ss_handler_option {
    const char *name, *meta, *help; /* "poem" (--poem), "FILE", one line */
    int type;                       /* SS_OPTION_* */
    long lo, hi;
} ss_handler_option_t;
typedef struct ss_option_value {
    const char *name, *value; /* "poem", "/etc/motd" */
} ss_option_value_t;
const char *ss_server_option(const ss_server_t *srv, const char *name);

#if (defined(__GNUC__) || defined(__clang__)) && defined(SS_BUILDING_LIBRARY)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#include "socketserver_log.h" /* ss_log and friends */
#endif                        /* SOCKETSERVER_H */
