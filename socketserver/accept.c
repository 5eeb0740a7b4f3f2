/* accept.c -- taking connections and datagrams: accept(2) and its error
 * policy (transient errors retried, a lack of descriptors pauses
 * accepting instead of spinning), connections passed over a channel,
 * datagrams read whole or dropped, and verify_request's verdict. */
/* accept4 is declared only for _GNU_SOURCE on glibc (the BSDs and
 * POSIX.1-2024 have it too); the Makefile's probe says whether it is here. */
#ifdef SS_HAVE_ACCEPT4
#define _GNU_SOURCE
#endif
#include "internal.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_PAUSE_MS 100 /* after EMFILE and friends */
#define ACCEPT_LOG_INTERVAL_MS 1000

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
static void pause_accepting(ss_server_t *srv, const ss_listener_t *l, int err)
{
    long long now = ss__now_ms();
    atomic_store(&srv->accept_paused_until_ms, now + ACCEPT_PAUSE_MS);
    long long logged = atomic_load(&srv->accept_error_logged_ms);
    if (now - logged >= ACCEPT_LOG_INTERVAL_MS &&
        atomic_compare_exchange_strong(&srv->accept_error_logged_ms, &logged,
                                       now)) {
        ss_log(SS_LOG_ERROR, "accept %s: %s; pausing accepts for %d ms",
               l->address, strerror(err), ACCEPT_PAUSE_MS);
    }
}

/* A connection, non-blocking and close-on-exec as every descriptor of the
 * library is: accept4 sets both in the one call; elsewhere two fcntl
 * calls follow accept (its flags are known clear: no read first). */
static int accept_flagged(int listener, struct sockaddr *peer, socklen_t *len)
{
#ifdef SS_HAVE_ACCEPT4
    return accept4(listener, peer, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    int fd = accept(listener, peer, len);
    if (fd >= 0 && ss__set_new_fd_flags(fd) < 0) {
        close(fd);
        errno = ECONNABORTED; /* this one is lost; the next may do */
        return -1;
    }
    return fd;
#endif
}

/* accept(2) with the error handling every caller needs: the descriptor,
 * non-blocking and close-on-exec, or -1 (retry later; a lack of
 * descriptors pauses accepting). */
int ss__accept_raw(ss_server_t *srv, const ss_listener_t *l,
                   struct sockaddr_storage *peer, socklen_t *len)
{
    *len = sizeof(*peer);
    int fd = accept_flagged(l->fd, (struct sockaddr *)peer, len);
    if (fd < 0 && !accept_error_is_transient(errno))
        pause_accepting(srv, l, errno);
    return fd;
}

/* A connection handed over by the master (accept "pass"): one message per
 * connection, its descriptor as SCM_RIGHTS and its peer address as data.
 * The descriptor, or -1. */
static int receive_passed(const ss_listener_t *l, struct sockaddr_storage *peer,
                          socklen_t *len)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = {peer, sizeof(*peer)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    ssize_t n = recvmsg(l->fd, &msg, 0);
    struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(fd));
    *len = (socklen_t)n;
    return fd;
}

/* A new connection, or NULL when there was none after all. */
static ss_request_t *accept_one(ss_server_t *srv, const ss_listener_t *l)
{
    struct sockaddr_storage peer;
    socklen_t len;
    int fd = srv->passed ? receive_passed(l, &peer, &len)
                         : ss__accept_raw(srv, l, &peer, &len);
    if (fd < 0)
        return NULL;
    if (srv->passed && ss__set_nonblocking_cloexec(fd) < 0) {
        close(fd); /* accepted ones have their flags already */
        return NULL;
    }
    if (srv->cfg.tcp_nodelay && peer.ss_family != AF_UNIX) {
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
static ss_request_t *receive_one(ss_server_t *srv, const ss_listener_t *l)
{
    struct sockaddr_storage peer;
    struct iovec iov = {srv->datagram_buf, srv->cfg.max_datagram};
    struct msghdr msg = {.msg_name = &peer,
                         .msg_namelen = sizeof(peer),
                         .msg_iov = &iov,
                         .msg_iovlen = 1};
    ssize_t n = recvmsg(l->fd, &msg, 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            ss_log(SS_LOG_DEBUG, "recvmsg %s: %s", l->address, strerror(errno));
        return NULL;
    }
    /* An unnamed Unix datagram sender comes with no address at all. */
    if (msg.msg_namelen == 0) {
        peer.ss_family = (sa_family_t)l->family;
        msg.msg_namelen = sizeof(sa_family_t);
    }
    if (msg.msg_flags & MSG_TRUNC) {
        char from[SS_ADDRSTRLEN];
        ss__addr_format((struct sockaddr *)&peer, msg.msg_namelen, from,
                        sizeof(from));
        ss_log_peer(SS_LOG_WARN,
                    "%s: datagram dropped: longer than "
                    "max_datagram (%zu bytes)",
                    from, srv->cfg.max_datagram);
        return NULL;
    }
    ss_request_t *req =
        ss__request_new(srv, l->fd, (struct sockaddr *)&peer, msg.msg_namelen);
    if (!req ||
        ss__request_set_datagram(req, srv->datagram_buf, (size_t)n) < 0) {
        ss_log(SS_LOG_ERROR, "out of memory: dropping a datagram");
        ss__request_free(req);
        return NULL;
    }
    return req;
}

/* One request from the listeners poll(2) found ready (ready[i] is
 * listener i's entry), taking turns: the first ready one from where the
 * last call left off, so a busy listener cannot starve another.  NULL
 * when none had one after all.  One caller at a time, as below. */
ss_request_t *ss__take_ready(ss_server_t *srv, const struct pollfd *ready)
{
    for (int k = 0; k < srv->nlisteners; k++) {
        int i = (srv->next_listener + k) % srv->nlisteners;
        if (!ready[i].revents)
            continue;
        srv->next_listener = i + 1;
        ss_request_t *req = ss__server_take_request(srv, &srv->listeners[i]);
        if (req)
            return req;
    }
    return NULL;
}

/* Take one connection or datagram that is ready on listener l and has
 * passed verify_request (unless a PROXY header must be read first), or
 * NULL.  The serve loop calls it; so do modes
 * whose threads accept for themselves (one at a time: not thread-safe). */
ss_request_t *ss__server_take_request(ss_server_t *srv, const ss_listener_t *l)
{
    ss_request_t *req =
        srv->cfg.datagram ? receive_one(srv, l) : accept_one(srv, l);
    if (!req)
        return NULL;
    /* verify_request judges the client: behind a balancer that is known
     * only once the request has read its PROXY header (ss__request_run). */
    if (!srv->proxy_trust && !ss__request_verify(req)) {
        ss__request_drop(req);
        return NULL;
    }
    if (srv->hooks.took) { /* a worker: count it for the master's report */
        req->counted = 1;
        srv->hooks.took(srv);
    }
    return req;
}
