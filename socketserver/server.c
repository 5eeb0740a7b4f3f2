/* server.c -- a server's life: create (bind + listen), the serve loop,
 * shutdown, close.  How each request then runs is the mode's business. */

/* SO_REUSEPORT is not POSIX, and glibc hides it in strict POSIX mode.  It is
 * the one extension this file uses, and only when reuse_port asks for it. */
#define _DEFAULT_SOURCE
#include "internal.h"
#include "poller.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ACCEPT_PAUSE_MS 100      /* after EMFILE and friends */
#define ACCEPT_LOG_INTERVAL_MS 1000

/* ---- Small helpers ----------------------------------------------------- */

void ss__close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

void ss_config_init(ss_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mode = SS_MODE_THREAD;
    cfg->block_on_close = 1;
    cfg->grace_ms = SS_DEFAULT_GRACE_MS;
}

/* Fill in the zero-means-default fields of the server's own copy. */
static void apply_defaults(ss_config_t *cfg)
{
    if (cfg->mode == SS_MODE_DEFAULT)
        cfg->mode = SS_MODE_THREAD;
    if (cfg->accept == SS_ACCEPT_DEFAULT)
        cfg->accept = SS_ACCEPT_SHARED;
    if (cfg->pool_accept == SS_POOL_ACCEPT_DEFAULT)
        cfg->pool_accept = SS_POOL_ACCEPT_QUEUE;
    if (cfg->backlog <= 0)
        cfg->backlog = SOMAXCONN;
    if (cfg->max_datagram == 0)
        cfg->max_datagram = SS_DEFAULT_MAX_DATAGRAM;
    if (cfg->max_children <= 0)
        cfg->max_children = SS_DEFAULT_MAX_CHILDREN;
    if (cfg->max_threads <= 0)
        cfg->max_threads = SS_DEFAULT_MAX_THREADS;
    if (cfg->grace_ms < 0)
        cfg->grace_ms = 0;
    if (cfg->service_interval_ms <= 0)
        cfg->service_interval_ms = SS_DEFAULT_SERVICE_MS;
    if (cfg->max_conns > 0) { /* the modes with a cap of their own */
        if (cfg->max_children > cfg->max_conns)
            cfg->max_children = cfg->max_conns;
        if (cfg->max_threads > cfg->max_conns)
            cfg->max_threads = cfg->max_conns;
    }
}

/* ---- Binding ----------------------------------------------------------- */

/* A Unix socket file nobody listens on is left over from a dead server:
 * connecting to it is refused.  Only then may reuse_address remove it.
 * The probe does not block: a live server with a full backlog answers
 * EAGAIN, and is live. */
static int unix_path_is_stale(const char *path, int socktype)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return 0;
    int probe = socket(AF_UNIX, socktype, 0);
    if (probe < 0)
        return 0;
    ss__set_nonblocking_cloexec(probe);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, path);
    int stale = connect(probe, (struct sockaddr *)&un, sizeof(un)) < 0 &&
                errno == ECONNREFUSED;
    close(probe);
    return stale;
}

/* 0, or -errno with the option that failed in *what. */
static int set_socket_options(const ss_config_t *cfg, int fd, int family,
                              const char **what)
{
    int on = 1;
    if (family == AF_UNIX)
        return 0;
    *what = "setsockopt SO_REUSEADDR";
    if (cfg->reuse_address &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
        return -errno;
    *what = "setsockopt SO_REUSEPORT";
#ifdef SO_REUSEPORT
    if (cfg->reuse_port &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0)
        return -errno;
#else
    if (cfg->reuse_port)
        return -ENOPROTOOPT;
#endif
    return 0;
}

static int bind_retrying_stale(const ss_config_t *cfg, int fd,
                               const struct sockaddr *sa, socklen_t len,
                               int socktype)
{
    if (bind(fd, sa, len) == 0)
        return 0;
    int err = errno;
    const char *path = ((const struct sockaddr_un *)sa)->sun_path;
    if (err != EADDRINUSE || sa->sa_family != AF_UNIX ||
        !cfg->reuse_address || !unix_path_is_stale(path, socktype)) {
        errno = err; /* the probe's errno must not become bind's */
        return -1;
    }
    unlink(path);
    return bind(fd, sa, len);
}

/* socket + options + bind + listen on one address.  Returns the descriptor,
 * or -errno with the failing call named in err. */
static int open_listener(ss_server_t *srv, const struct sockaddr *sa,
                         socklen_t len, char *err, size_t errlen)
{
    const ss_config_t *cfg = &srv->cfg;
    int socktype = cfg->datagram ? SOCK_DGRAM : SOCK_STREAM;
    int fd = socket(sa->sa_family, socktype, 0);
    if (fd < 0)
        return ss__fail(err, errlen, -errno, "socket %s: %s", cfg->address,
                    strerror(errno));
    const char *call = "fcntl";
    int rc = ss__set_nonblocking_cloexec(fd);
    if (rc == 0)
        rc = set_socket_options(cfg, fd, sa->sa_family, &call);
    if (rc == 0) {
        call = "bind";
        rc = bind_retrying_stale(cfg, fd, sa, len, socktype) < 0 ? -errno : 0;
    }
    if (rc == 0 && sa->sa_family == AF_UNIX)
        strcpy(srv->unix_path, ((const struct sockaddr_un *)sa)->sun_path);
    if (rc == 0 && !cfg->datagram) {
        call = "listen";
        rc = listen(fd, cfg->backlog) < 0 ? -errno : 0;
    }
    if (rc == 0)
        return fd;
    close(fd);
    if (srv->unix_path[0]) {
        unlink(srv->unix_path);
        srv->unix_path[0] = '\0';
    }
    return ss__fail(err, errlen, rc, "%s %s: %s", call, cfg->address,
                strerror(-rc));
}

/* Resolve address and bind the first candidate that works, as Python's
 * create_server does. */
static int bind_address(ss_server_t *srv, const char *address, char *err,
                        size_t errlen)
{
    ss_addr_parts_t parts;
    if (ss__addr_parse(address, &parts, err, errlen) < 0)
        return -EINVAL;
    if (parts.is_unix) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        strcpy(un.sun_path, parts.path);
        return open_listener(srv, (struct sockaddr *)&un, sizeof(un), err,
                             errlen);
    }
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                             .ai_socktype =
                                 srv->cfg.datagram ? SOCK_DGRAM : SOCK_STREAM};
    struct addrinfo *list;
    int gai = getaddrinfo(parts.host[0] ? parts.host : NULL, parts.port,
                          &hints, &list);
    if (gai != 0)
        return ss__fail(err, errlen, -EADDRNOTAVAIL, "resolve %s: %s",
                    srv->cfg.address, gai_strerror(gai));
    int fd = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next)
        fd = open_listener(srv, ai->ai_addr, ai->ai_addrlen, err, errlen);
    freeaddrinfo(list);
    return fd;
}

/* systemd's socket activation: when LISTEN_PID names this process and
 * LISTEN_FDS is at least 1, descriptor 3 is a socket already bound (and,
 * for a stream, listening) for us.  Returns it, -1 when not activated, or
 * -errno when it is not a socket of the kind asked for.  The variables are
 * removed so that children do not take the socket for theirs. */
static int activated_socket(const ss_config_t *cfg, char *err, size_t errlen)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || atol(pid) != (long)getpid() || atoi(fds) < 1)
        return -1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        type != (cfg->datagram ? SOCK_DGRAM : SOCK_STREAM))
        return ss__fail(err, errlen, -ENOTSOCK,
                    "LISTEN_FDS: descriptor 3 is not a %s socket",
                    cfg->datagram ? "datagram" : "stream");
    int rc = ss__set_nonblocking_cloexec(3);
    return rc < 0 ? rc : 3;
}

static int record_bound_address(ss_server_t *srv)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(srv->fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    srv->family = ss.ss_family;
    ss__addr_format((struct sockaddr *)&ss, len, srv->address,
                    sizeof(srv->address));
    return 0;
}

/* Another listener on the server's bound address, with its options
 * (accept "reuseport": one per worker, and the kernel spreads connections
 * over them).  The descriptor, or -errno with the reason in err. */
int ss__bind_again(ss_server_t *srv, char *err, size_t errlen)
{
    return bind_address(srv, srv->address, err, errlen);
}

/* Everything create may have acquired, released in reverse. */
static void server_free(ss_server_t *srv)
{
    if (srv->handler_opened && srv->cfg.handler->close)
        srv->cfg.handler->close(srv);
    if (srv->mode_state && srv->mode->release)
        srv->mode->release(srv);
    ss__close_fd(&srv->fd);
    if (srv->unix_path[0] && srv->owner_pid == getpid())
        unlink(srv->unix_path);
    ss__close_fd(&srv->wake_r);
    ss__close_fd(&srv->wake_w);
    ss__close_fd(&srv->abort_r);
    ss__close_fd(&srv->abort_w);
    ss__close_fd(&srv->parent_fd);
    ss__workers_free(srv);
    free(srv->datagram_buf);
    free(srv);
}

/* The handler's open, if any: 0 or -errno, with its message (or one
 * naming the handler) in err.  open always gets a buffer of its own, so
 * a handler may write its message without checking: the caller's err may
 * be NULL or short. */
static int call_open(ss_server_t *srv, char *err, size_t errlen)
{
    const ss_handler_t *h = srv->cfg.handler;
    char why[256] = "";
    int rc = h->open ? h->open(srv, why, sizeof(why)) : 0;
    if (rc > 0)
        rc = -EINVAL; /* open must return 0 or -errno */
    if (rc < 0 && why[0])
        return ss__fail(err, errlen, rc, "%s", why);
    if (rc < 0)
        return ss__fail(err, errlen, rc, "%s handler: %s", h->name,
                        ss_strerror(rc));
    return 0;
}

/* The handler's open runs once the socket is bound; its close is owed
 * only when open succeeded. */
static int open_handler(ss_server_t *srv, char *err, size_t errlen)
{
    int rc = call_open(srv, err, errlen);
    srv->handler_opened = rc == 0;
    return rc;
}

/* A reload in a master: open the handler again before the new workers
 * start, so that they get what it loads now (a poem file read again).
 * Only once that succeeded is the old state closed: close sees it through
 * ss_server_handler_data as before, and the new state takes its place.  A
 * failed open keeps the old state, and says why. */
int ss__reopen_handler(ss_server_t *srv)
{
    const ss_handler_t *h = srv->cfg.handler;
    if (!h->open)
        return 0;
    void *old = srv->handler_data;
    char err[256];
    int rc = call_open(srv, err, sizeof(err));
    if (rc < 0) {
        srv->handler_data = old;
        ss_log(SS_LOG_ERROR, "reload: %s: %s; the handler stays as it was",
               h->name, err);
        return rc;
    }
    void *fresh = srv->handler_data;
    if (fresh != old && srv->handler_opened && h->close) {
        srv->handler_data = old;
        h->close(srv);
    }
    srv->handler_data = fresh;
    srv->handler_opened = 1;
    return 0;
}

/* Options checked here rather than when a mode opens: with workers, the
 * mode opens only in the workers, where an error is too late to report. */
static int check_config(const ss_config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->handler)
        return ss__fail(err, errlen, -EINVAL, "no handler given");
    if (!ss__mode_for(cfg->mode))
        return ss__fail(err, errlen, -EINVAL, "unknown mode %d", cfg->mode);
    if (!cfg->address)
        return ss__fail(err, errlen, -EINVAL, "no address given");
    if (!ss_choice_name(SS_CHOICE_POLLER, cfg->poller))
        return ss__fail(err, errlen, -EINVAL, "poller %d: not on this system",
                        cfg->poller);
    if (!ss_choice_name(SS_CHOICE_POOL_ACCEPT, cfg->pool_accept))
        return ss__fail(err, errlen, -EINVAL, "unknown pool accept design %d",
                        cfg->pool_accept);
    if (!ss_choice_name(SS_CHOICE_ACCEPT, cfg->accept))
        return ss__fail(err, errlen, -EINVAL, "unknown accept strategy %d",
                        cfg->accept);
    if (cfg->workers < 0 || cfg->workers > SS_MAX_WORKERS)
        return ss__fail(err, errlen, -EINVAL, "workers: from 0 to %d, not %d",
                        SS_MAX_WORKERS, cfg->workers);
    if (cfg->workers > 0 && cfg->accept == SS_ACCEPT_PASS && cfg->datagram)
        return ss__fail(err, errlen, -EINVAL,
                    "accept pass needs a stream server (connections to hand "
                    "over)");
    if (cfg->workers > 0 && cfg->accept == SS_ACCEPT_REUSEPORT &&
        !strncmp(cfg->address, "unix:", 5))
        return ss__fail(err, errlen, -EINVAL,
                    "accept reuseport needs a TCP or UDP address");
    return 0;
}

int ss_server_create(ss_server_t **out, const ss_config_t *cfg, char *err,
                     size_t errlen)
{
    *out = NULL;
    int rc = check_config(cfg, err, errlen);
    if (rc < 0)
        return rc;
    ss_server_t *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return ss__fail(err, errlen, -ENOMEM, "out of memory");
    srv->cfg = *cfg;
    apply_defaults(&srv->cfg);
    srv->mode = ss__mode_for(srv->cfg.mode);
    srv->fd = srv->wake_r = srv->wake_w = srv->abort_r = srv->abort_w = -1;
    srv->parent_fd = -1;
    if (srv->cfg.workers > 0 && srv->cfg.accept == SS_ACCEPT_REUSEPORT)
        srv->cfg.reuse_port = 1; /* the workers bind beside the master */
    srv->owner_pid = getpid();
    ss__log_share_peer_limit();
    atomic_init(&srv->refs, 1);
    atomic_init(&srv->hard_stop_at_ms, 0);
    atomic_init(&srv->shutdown_requested, 0);

    srv->fd = rc = activated_socket(&srv->cfg, err, errlen);
    if (rc == -1) /* not socket-activated: bind it ourselves */
        srv->fd = rc = bind_address(srv, srv->cfg.address, err, errlen);
    if (rc >= 0 && (rc = record_bound_address(srv)) < 0)
        ss__fail(err, errlen, rc, "getsockname %s: %s", cfg->address,
             strerror(-rc));
    if (rc >= 0 && ((rc = ss__make_pipe(&srv->wake_r, &srv->wake_w)) < 0 ||
                    (rc = ss__make_pipe(&srv->abort_r, &srv->abort_w)) < 0))
        ss__fail(err, errlen, rc, "pipe: %s", strerror(-rc));
    if (rc >= 0 && srv->cfg.datagram &&
        !(srv->datagram_buf = malloc(srv->cfg.max_datagram)))
        rc = ss__fail(err, errlen, -ENOMEM, "out of memory");
    if (rc >= 0)
        rc = ss__resolve_identity(srv, err, errlen);
    if (rc >= 0 && srv->cfg.workers == 0) /* workers drop in each worker */
        rc = ss__drop_privileges(srv, err, errlen);
    if (rc >= 0 && srv->cfg.workers > 0)
        rc = ss__workers_prepare(srv, err, errlen); /* modes open in workers */
    else if (rc >= 0 && (rc = srv->mode->open(srv)) < 0)
        ss__fail(err, errlen, rc, "%s mode: %s",
                 ss_choice_name(SS_CHOICE_MODE, srv->cfg.mode), strerror(-rc));
    if (rc >= 0)
        rc = open_handler(srv, err, errlen);
    if (rc < 0) {
        if (srv->fd < 0)
            srv->fd = -1; /* bind_address returned an error, not an fd */
        server_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

/* ---- References -------------------------------------------------------- */

/* The owner holds one reference and each running request one, so a thread
 * that outlives ss_server_close (block_on_close off) still finds its
 * server; the last one out frees it. */
void ss__server_ref(ss_server_t *srv) { atomic_fetch_add(&srv->refs, 1); }

void ss__server_unref(ss_server_t *srv)
{
    if (atomic_fetch_sub(&srv->refs, 1) == 1)
        server_free(srv);
}

/* ---- Accepting --------------------------------------------------------- */

/* Errors after which the next accept may well succeed: the connection was
 * lost before we took it, or accept(2)'s list of already-pending network
 * errors. */
static int accept_error_is_transient(int err)
{
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case EPERM: /* a firewall refused it */
        return 1;
    default:
        return 0;
    }
}

/* Out of descriptors or memory: the connection stays queued and the
 * listener stays readable, so retrying at once would spin.  Stop watching
 * the listener for a moment instead, and say so at most once a second. */
static void pause_accepting(ss_server_t *srv, int err)
{
    long long now = ss__now_ms();
    srv->accept_paused_until_ms = now + ACCEPT_PAUSE_MS;
    if (now - srv->accept_error_logged_ms >= ACCEPT_LOG_INTERVAL_MS) {
        srv->accept_error_logged_ms = now;
        ss_log(SS_LOG_ERROR, "accept %s: %s; pausing accepts for %d ms",
               srv->address, strerror(err), ACCEPT_PAUSE_MS);
    }
}

/* verify_request's verdict: a rejected request is closed here. */
static int verified(ss_server_t *srv, ss_request_t *req)
{
    if (!srv->cfg.verify_request || srv->cfg.verify_request(srv, req))
        return 1;
    ss_log_peer(SS_LOG_DEBUG, "%s: rejected by verify_request", ss_peer(req));
    ss__request_drop(req);
    return 0;
}

/* accept(2) with the error handling every caller needs: the descriptor,
 * or -1 (retry later; a lack of descriptors pauses accepting). */
int ss__accept_raw(ss_server_t *srv, struct sockaddr_storage *peer,
                   socklen_t *len)
{
    *len = sizeof(*peer);
    int fd = accept(srv->fd, (struct sockaddr *)peer, len);
    if (fd < 0 && !accept_error_is_transient(errno))
        pause_accepting(srv, errno);
    return fd;
}

/* A connection handed over by the master (accept "pass"): one message per
 * connection, its descriptor as SCM_RIGHTS and its peer address as data.
 * The descriptor, or -1. */
static int receive_passed(ss_server_t *srv, struct sockaddr_storage *peer,
                          socklen_t *len)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = {peer, sizeof(*peer)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    ssize_t n = recvmsg(srv->fd, &msg, 0);
    struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(fd));
    *len = (socklen_t)n;
    return fd;
}

/* A new connection, or NULL when there was none after all. */
static ss_request_t *accept_one(ss_server_t *srv)
{
    struct sockaddr_storage peer;
    socklen_t len;
    int fd = srv->passed ? receive_passed(srv, &peer, &len)
                         : ss__accept_raw(srv, &peer, &len);
    if (fd < 0)
        return NULL;
    if ((srv->passed ? ss__set_nonblocking_cloexec(fd)
                     : ss__set_new_fd_flags(fd)) < 0) {
        close(fd);
        return NULL;
    }
    if (srv->cfg.tcp_nodelay && srv->family != AF_UNIX) {
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    }
    ss_request_t *req = ss__request_new(srv, fd, (struct sockaddr *)&peer, len);
    if (!req) {
        ss_log(SS_LOG_ERROR, "out of memory: dropping a connection");
        close(fd);
    }
    return req;
}

/* Read one datagram.  MSG_TRUNC in msg_flags says it was longer than our
 * buffer: report and drop it rather than hand the handler a cut one.
 * The request, or NULL when there was none to serve. */
static ss_request_t *receive_one(ss_server_t *srv)
{
    struct sockaddr_storage peer;
    struct iovec iov = {srv->datagram_buf, srv->cfg.max_datagram};
    struct msghdr msg = {.msg_name = &peer, .msg_namelen = sizeof(peer),
                         .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(srv->fd, &msg, 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            ss_log(SS_LOG_DEBUG, "recvmsg %s: %s", srv->address,
                   strerror(errno));
        return NULL;
    }
    /* An unnamed Unix datagram sender comes with no address at all. */
    if (msg.msg_namelen == 0) {
        peer.ss_family = (sa_family_t)srv->family;
        msg.msg_namelen = sizeof(sa_family_t);
    }
    if (msg.msg_flags & MSG_TRUNC) {
        char from[SS_ADDRSTRLEN];
        ss__addr_format((struct sockaddr *)&peer, msg.msg_namelen, from,
                        sizeof(from));
        ss_log_peer(SS_LOG_WARN, "%s: datagram dropped: longer than "
                    "max_datagram (%zu bytes)", from, srv->cfg.max_datagram);
        return NULL;
    }
    ss_request_t *req = ss__request_new(srv, srv->fd, (struct sockaddr *)&peer,
                                        msg.msg_namelen);
    if (!req || ss__request_set_datagram(req, srv->datagram_buf,
                                         (size_t)n) < 0) {
        ss_log(SS_LOG_ERROR, "out of memory: dropping a datagram");
        ss__request_free(req);
        return NULL;
    }
    return req;
}

/* Take one connection or datagram that is ready and has passed
 * verify_request, or NULL.  The serve loop calls it; so do modes whose
 * threads accept for themselves (one at a time: not thread-safe). */
ss_request_t *ss__server_take_request(ss_server_t *srv)
{
    ss_request_t *req = srv->cfg.datagram ? receive_one(srv) : accept_one(srv);
    if (!req || !verified(srv, req))
        return NULL;
    if (srv->slot) { /* a worker: count it for the master's report */
        req->counted = 1;
        ss__worker_took(srv);
    }
    return req;
}

/* ---- The loop ---------------------------------------------------------- */

static int min_timeout(int a, long long b)
{
    if (b < 0)
        return a;
    if (b > 60000)
        b = 60000;
    return a < 0 || b < a ? (int)b : a;
}

/* How long a pass may wait: the caller's limit, cut short for a paused
 * accept, the mode's housekeeping, the service hook, a report of dropped
 * log lines and a worker's heartbeat. */
static int pass_timeout(ss_server_t *srv, int timeout_ms, int accepting,
                        long long now)
{
    int timeout = timeout_ms;
    if (!accepting)
        timeout = min_timeout(timeout, srv->accept_paused_until_ms - now);
    if (srv->mode->service_due_ms)
        timeout = min_timeout(timeout, srv->mode->service_due_ms(srv));
    if (srv->cfg.service_actions)
        timeout = min_timeout(timeout, srv->cfg.service_interval_ms);
    timeout = min_timeout(timeout, ss__log_peer_due_ms(now));
    if (srv->slot)
        ss__worker_loop_pass(srv, &timeout);
    return timeout;
}

/* Whether this pass may accept: not paused, the mode has room, and in a
 * worker with the accept lock, this worker holds it (*locked). */
static int may_accept(ss_server_t *srv, long long now, int *locked)
{
    *locked = 0;
    if (now < srv->accept_paused_until_ms ||
        (srv->mode->has_room && !srv->mode->has_room(srv)))
        return 0;
    if (!srv->slot || srv->cfg.accept != SS_ACCEPT_LOCK)
        return 1;
    return *locked = ss__worker_lock_accept(srv);
}

/* One pass: wait up to timeout_ms (-1: no limit of our own) for a request,
 * the mode's wake descriptor or a shutdown; do the housekeeping; process at
 * most one request (even during a shutdown: it was accepted, it is
 * served).  1: processed one; 0: none; -ECANCELED: shut down. */
static int serve_once(ss_server_t *srv, int timeout_ms)
{
    long long now = ss__now_ms();
    int locked, accepting = may_accept(srv, now, &locked);
    int timeout = pass_timeout(srv, timeout_ms, accepting, now);
    if (!accepting && srv->slot && srv->cfg.accept == SS_ACCEPT_LOCK)
        timeout = min_timeout(timeout, 20); /* try the lock again soon */
    int mode_fd = srv->mode->wake_fd ? srv->mode->wake_fd(srv) : -1;
    struct pollfd pfd[4] = {{srv->wake_r, POLLIN, 0},
                            {accepting ? srv->fd : -1, POLLIN, 0},
                            {mode_fd, POLLIN, 0},
                            {srv->parent_fd, POLLIN, 0}};
    int n = srv->mode->poll_wait ? srv->mode->poll_wait(srv, pfd, 4, timeout)
                                 : poll(pfd, 4, timeout);
    int poll_err = n < 0 && errno != EINTR ? -errno : 0;
    ss_request_t *req = n > 0 && pfd[1].revents ? ss__server_take_request(srv)
                                                : NULL;
    if (locked)
        ss__worker_unlock_accept(srv); /* before serving: others may accept */
    if (n > 0 && pfd[3].revents) { /* a worker whose master is gone */
        ss_log(SS_LOG_WARN, "the master is gone; stopping");
        ss__close_fd(&srv->parent_fd);
        ss_server_shutdown(srv);
    }
    if (srv->mode->service)
        srv->mode->service(srv);
    ss__log_peer_flush();
    if (req)
        srv->mode->process(srv, req);
    if (poll_err)
        return poll_err;
    if (atomic_load(&srv->shutdown_requested))
        return -ECANCELED;
    if (srv->cfg.service_actions)
        srv->cfg.service_actions(srv);
    return req != NULL;
}

int ss_server_serve_forever(ss_server_t *srv)
{
    if (srv->master)
        return ss__master_serve(srv);
    while (!atomic_load(&srv->shutdown_requested)) {
        int rc = serve_once(srv, -1);
        if (rc < 0 && rc != -ECANCELED)
            return rc;
    }
    return 0;
}

int ss_server_handle_request(ss_server_t *srv, int timeout_ms)
{
    if (srv->master)
        return -ENOTSUP; /* workers serve; the master only supervises */
    long long deadline = timeout_ms >= 0 ? ss__now_ms() + timeout_ms : -1;
    long long left = timeout_ms;
    for (;;) { /* at least one pass: a timeout of 0 serves what is queued */
        int rc = serve_once(srv, (int)left);
        if (rc != 0)
            return rc > 0 ? 0 : rc;
        left = deadline < 0 ? -1 : deadline - ss__now_ms();
        if (deadline >= 0 && left <= 0) {
            if (srv->cfg.handle_timeout)
                srv->cfg.handle_timeout(srv);
            return -ETIMEDOUT;
        }
    }
}

/* Async-signal-safe: two lock-free atomics and a write(2).  The hard stop
 * time is when in-flight requests' waits start to fail with -ECANCELED; it
 * is set before anything can wake, so whoever wakes sees it. */
void ss_server_shutdown(ss_server_t *srv)
{
    int saved_errno = errno;
    long long none = 0;
    atomic_compare_exchange_strong(&srv->hard_stop_at_ms, &none,
                                   ss__now_ms() + srv->cfg.grace_ms);
    atomic_store(&srv->shutdown_requested, 1);
    ssize_t w = write(srv->wake_w, "x", 1);
    (void)w; /* a full pipe already holds a wake-up */
    errno = saved_errno;
}

/* The grace period ends grace_ms after shutdown was asked, or from now if
 * the server is closed without a shutdown. */
long long ss__grace_deadline_ms(const ss_server_t *srv)
{
    long long stop = atomic_load(&srv->hard_stop_at_ms);
    return stop ? stop : ss__now_ms() + srv->cfg.grace_ms;
}

/* Make every request's wait fail with -ECANCELED, in this process and in
 * forked children: the abort pipe is never drained, so it stays readable. */
void ss__server_cancel_requests(ss_server_t *srv)
{
    ssize_t w = write(srv->abort_w, "x", 1);
    (void)w;
}

void ss_server_close(ss_server_t *srv)
{
    if (!srv)
        return;
    /* Stop accepting first (threads that accept for themselves are told
     * before the listener goes).  A datagram socket stays open until the
     * last request is freed: requests still running reply on it. */
    if (srv->mode->stop_accepting && srv->mode_state)
        srv->mode->stop_accepting(srv);
    if (!srv->cfg.datagram)
        ss__close_fd(&srv->fd);
    if (srv->unix_path[0] && srv->owner_pid == getpid()) {
        unlink(srv->unix_path);
        srv->unix_path[0] = '\0';
    }
    if (srv->mode->close && srv->mode_state) /* a master has no mode */
        srv->mode->close(srv);
    ss__server_unref(srv);
}

const char *ss_server_address(const ss_server_t *srv) { return srv->address; }
int ss_server_fd(const ss_server_t *srv) { return srv->fd; }
void *ss_server_context(const ss_server_t *srv) { return srv->cfg.context; }
const ss_config_t *ss_server_config(const ss_server_t *srv)
{
    return &srv->cfg;
}

void ss_server_set_handler_data(ss_server_t *srv, void *data)
{
    srv->handler_data = data;
}

void *ss_server_handler_data(const ss_server_t *srv)
{
    return srv->handler_data;
}

int ss_server_is_multiprocess(const ss_server_t *srv)
{
    return srv->cfg.mode == SS_MODE_FORK || srv->cfg.workers > 1;
}
