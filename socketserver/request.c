/* request.c -- a request's life (run the handler, close gracefully) and the
 * I/O functions handlers use.
 *
 * Every function tries the system call first and, on EAGAIN, waits in
 * ss__wait_fd with an absolute deadline.  That single wait is the seam a
 * mode can replace: blocking modes poll() here; an event mode parks a
 * coroutine instead, and the handler never knows. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- Waiting ----------------------------------------------------------- */

/* The earlier of two deadlines, where 0 means "none". */
static long long earlier(long long a, long long b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

#define SS_MAX_WAIT_FDS 16

/* Block until one of fds is ready (revents set; returns how many),
 * deadline_ms passes (-ETIMEDOUT), or the server cancels its requests
 * (-ECANCELED: the abort pipe is readable, or the hard stop time that a
 * shutdown set has passed).  Deadlines are absolute, in ss__now_ms time;
 * 0 means none.  With nfds 0 it just waits for the time.
 *
 * Until the hard stop time is known the wait also watches the server's
 * wake pipe: a shutdown from another thread sets that time after this poll
 * began, and the pipe (never drained) is how this wait learns of it. */
int ss__wait(ss_request_t *req, struct pollfd *fds, unsigned nfds,
             long long deadline_ms)
{
    for (unsigned i = 0; i < nfds; i++)
        fds[i].revents = 0;
    if (req->task) /* a coroutine: park it instead of blocking the thread */
        return ss__event_wait(req, fds, nfds, deadline_ms);
    ss_server_t *srv = req->server;
    struct pollfd pfd[SS_MAX_WAIT_FDS + 2];
    if (nfds > SS_MAX_WAIT_FDS)
        return -EINVAL;
    memcpy(pfd, fds, nfds * sizeof(*fds));
    pfd[nfds] = (struct pollfd){srv->abort_r, POLLIN, 0};
    pfd[nfds + 1] = (struct pollfd){srv->wake_r, POLLIN, 0};
    for (;;) { /* polls at least once: a deadline of now still looks */
        long long stop = atomic_load(&srv->hard_stop_at_ms);
        if (stop)
            pfd[nfds + 1].fd = -1; /* shutdown known: stop is its deadline */
        long long until = earlier(deadline_ms, stop);
        long long now = ss__now_ms();
        if (stop && now >= stop)
            return -ECANCELED;
        long long left = !until ? -1 : until > now ? until - now : 0;
        int n = poll(pfd, nfds + 2, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0 && pfd[nfds].revents)
            return -ECANCELED;
        int ready = 0;
        for (unsigned i = 0; n > 0 && i < nfds; i++) {
            fds[i].revents = pfd[i].revents;
            ready += pfd[i].revents != 0;
        }
        if (ready)
            return ready;
        if (deadline_ms && ss__now_ms() >= deadline_ms &&
            !(stop && deadline_ms >= stop))
            return -ETIMEDOUT;
    }
}

int ss__wait_fd(ss_request_t *req, int fd, short events, long long deadline_ms)
{
    struct pollfd p = {fd, events, 0};
    int rc = ss__wait(req, &p, fd >= 0 ? 1 : 0, deadline_ms);
    return rc < 0 ? rc : 0;
}

/* When the blocking call starting now must give up: the idle timeout
 * from now, or the connection's deadline if that comes first.  Calls that
 * move bytes in several steps ask again after each step, so the timeout
 * bounds a silence, not a slow but steady transfer (which --deadline
 * bounds).  0: never. */
long long ss__call_deadline(const ss_request_t *req)
{
    long long idle = req->timeout_ms > 0 ? ss__now_ms() + req->timeout_ms : 0;
    return earlier(idle, req->deadline_at_ms);
}

/* ---- Receiving --------------------------------------------------------- */

/* Hand out bytes already received (read-ahead, or the datagram). */
static size_t take_buffered(ss_request_t *req, void *buf, size_t len)
{
    size_t avail = req->in_len - req->in_off;
    size_t n = avail < len ? avail : len;
    memcpy(buf, req->in + req->in_off, n);
    req->in_off += n;
    return n;
}

/* recv(2) on any descriptor of this request, waiting through the seam. */
static ssize_t fd_recv(ss_request_t *req, int fd, void *buf, size_t len,
                       long long deadline)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n >= 0) {
            if (req->task) /* a client that always has data must not starve
                              the others */
                ss__event_maybe_yield(req);
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int rc = ss__wait_fd(req, fd, POLLIN, deadline);
        if (rc < 0)
            return rc;
    }
}

static ssize_t recv_until(ss_request_t *req, void *buf, size_t len,
                          long long deadline)
{
    if (req->in_off < req->in_len)
        return (ssize_t)take_buffered(req, buf, len);
    if (req->datagram)
        return 0; /* the datagram is used up: end of file */
    return fd_recv(req, req->fd, buf, len, deadline);
}

ssize_t ss_recv(ss_request_t *req, void *buf, size_t len)
{
    return recv_until(req, buf, len, ss__call_deadline(req));
}

ssize_t ss_fd_recv(ss_request_t *req, int fd, void *buf, size_t len)
{
    return fd_recv(req, fd, buf, len, ss__call_deadline(req));
}

ssize_t ss_recv_exact(ss_request_t *req, void *buf, size_t n)
{
    long long deadline = ss__call_deadline(req);
    size_t got = 0;
    while (got < n) {
        ssize_t k = recv_until(req, (char *)buf + got, n - got, deadline);
        if (k < 0)
            return k;
        if (k == 0)
            break;
        got += (size_t)k;
        deadline = ss__call_deadline(req); /* progress: idle again */
    }
    return (ssize_t)got;
}

/* Wait until the connection has bytes (or end of file) without holding a
 * buffer: an idle connection then costs no read-ahead memory. */
static int wait_for_bytes(ss_request_t *req, long long deadline)
{
    for (;;) {
        char c;
        ssize_t n = recv(req->fd, &c, 1, MSG_PEEK);
        if (n >= 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int rc = ss__wait_fd(req, req->fd, POLLIN, deadline);
        if (rc < 0)
            return rc;
    }
}

/* Refill the read-ahead buffer: >0 bytes, 0 at end of file, <0 error.
 * The buffer exists only while it holds bytes (nginx's lazy buffers): it
 * is freed when drained and allocated again once bytes are waiting. */
static ssize_t fill_read_ahead(ss_request_t *req, long long deadline)
{
    if (req->datagram)
        return 0;
    free(req->in);
    req->in = NULL;
    req->in_off = req->in_len = req->in_cap = 0;
    int rc = wait_for_bytes(req, deadline);
    if (rc < 0)
        return rc;
    req->in = malloc(SS_READ_AHEAD);
    if (!req->in)
        return -ENOMEM;
    req->in_cap = SS_READ_AHEAD;
    ssize_t n = fd_recv(req, req->fd, req->in, req->in_cap, deadline);
    if (n > 0)
        req->in_len = (size_t)n;
    return n;
}

ssize_t ss_read_line(ss_request_t *req, char *buf, size_t cap)
{
    if (cap < 2) /* no room for a byte and the NUL: it could never progress */
        return -EINVAL;
    long long deadline = ss__call_deadline(req);
    size_t n = 0;
    for (;;) {
        if (req->in_off == req->in_len) {
            ssize_t k = fill_read_ahead(req, deadline);
            if (k <= 0) {
                buf[n] = '\0';
                return k < 0 ? k : (ssize_t)n;
            }
            deadline = ss__call_deadline(req); /* progress: idle again */
        }
        const char *avail = req->in + req->in_off;
        size_t k = req->in_len - req->in_off;
        const char *nl = memchr(avail, '\n', k);
        size_t take = nl ? (size_t)(nl - avail) + 1 : k;
        int too_long = n + take > cap - 1;
        if (too_long)
            take = cap - 1 - n;
        memcpy(buf + n, avail, take);
        req->in_off += take;
        n += take;
        buf[n] = '\0';
        if (too_long)
            return -EMSGSIZE;
        if (nl)
            return (ssize_t)n;
    }
}

/* ---- Sending ----------------------------------------------------------- */

/* An unnamed Unix datagram socket has no address to reply to. */
static int peer_is_unnamed(const ss_request_t *req)
{
    return req->peer.ss_family == AF_UNIX &&
           req->peer_len <= offsetof(struct sockaddr_un, sun_path);
}

/* A reply that cannot be queued now (-EAGAIN, -ENOBUFS: the peer's queue
 * or our buffer is full) is dropped, as any datagram may be.  Waiting for
 * POLLOUT would not help: an unconnected Unix datagram socket always
 * reports it, so the wait would spin. */
static int send_datagram(ss_request_t *req, const void *buf, size_t len)
{
    if (peer_is_unnamed(req))
        return -EDESTADDRREQ;
    for (;;) {
        ssize_t n = sendto(req->fd, buf, len, MSG_NOSIGNAL,
                           (const struct sockaddr *)&req->peer, req->peer_len);
        if (n >= 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

/* send(2) all of buf on any stream descriptor of this request. */
static int fd_send_all(ss_request_t *req, int fd, const void *buf, size_t len)
{
    long long deadline = ss__call_deadline(req);
    const char *p = buf;
    while (len > 0) {
        /* MSG_NOSIGNAL: a peer that went away is an EPIPE, not a SIGPIPE
         * that kills the whole server. */
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            deadline = ss__call_deadline(req); /* progress: idle again */
            if (req->task)
                ss__event_maybe_yield(req);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int rc = ss__wait_fd(req, fd, POLLOUT, deadline);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ss_send_all(ss_request_t *req, const void *buf, size_t len)
{
    if (req->datagram)
        return send_datagram(req, buf, len);
    return fd_send_all(req, req->fd, buf, len);
}

int ss_fd_send_all(ss_request_t *req, int fd, const void *buf, size_t len)
{
    return fd_send_all(req, fd, buf, len);
}

/* Bytes already read ahead are ready now: no waiting for them. */
static int buffered_ready(const ss_request_t *req, struct pollfd *fds,
                          unsigned nfds)
{
    int ready = 0;
    for (unsigned i = 0; i < nfds; i++) {
        fds[i].revents = 0;
        if (fds[i].fd == req->fd && (fds[i].events & POLLIN) &&
            req->in_off < req->in_len && !req->datagram) {
            fds[i].revents = POLLIN;
            ready++;
        }
    }
    return ready;
}

int ss_poll(ss_request_t *req, struct pollfd *fds, unsigned nfds,
            int timeout_ms)
{
    int ready = buffered_ready(req, fds, nfds);
    if (ready)
        return ready;
    long long deadline = timeout_ms < 0 ? ss__call_deadline(req)
                                        : ss__now_ms() + timeout_ms;
    return ss__wait(req, fds, nfds, deadline);
}

ssize_t ss_fd_send(ss_request_t *req, int fd, const void *buf, size_t len)
{
    (void)req;
    for (;;) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

void ss_fd_close(ss_request_t *req, int fd)
{
    if (fd < 0)
        return;
    if (req->task)
        ss__event_forget(req, fd);
    close(fd);
}

int ss_reply(ss_request_t *req, const void *buf, size_t len)
{
    return ss_send_all(req, buf, len);
}

int ss_sendf(ss_request_t *req, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof(small))
        return ss_send_all(req, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = ss_send_all(req, big, (size_t)n);
    free(big);
    return rc;
}

/* Not a wait for the peer, so the idle timeout does not apply: only the
 * connection's deadline (and a stop) can cut it short. */
int ss_sleep(ss_request_t *req, unsigned ms)
{
    long long wake = ss__now_ms() + ms;
    long long deadline = req->deadline_at_ms;
    if (deadline && deadline < wake)
        return ss__wait_fd(req, -1, 0, deadline);
    int rc = ss__wait_fd(req, -1, 0, wake);
    return rc == -ETIMEDOUT ? 0 : rc;
}

/* ---- Accessors --------------------------------------------------------- */

void ss_set_timeout(ss_request_t *req, int timeout_ms)
{
    req->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

const char *ss_peer(ss_request_t *req)
{
    if (!req->peer_text[0])
        ss__addr_format((const struct sockaddr *)&req->peer, req->peer_len,
                        req->peer_text, sizeof(req->peer_text));
    return req->peer_text;
}

const struct sockaddr *ss_peer_addr(const ss_request_t *req, socklen_t *len)
{
    if (len)
        *len = req->peer_len;
    return (const struct sockaddr *)&req->peer;
}

void *ss_data(const ss_request_t *req) { return req->data; }
void ss_set_data(ss_request_t *req, void *data) { req->data = data; }
ss_server_t *ss_request_server(const ss_request_t *req) { return req->server; }
void *ss_context(const ss_request_t *req) { return req->server->cfg.context; }
int ss_is_datagram(const ss_request_t *req) { return req->datagram; }
int ss_fd(const ss_request_t *req) { return req->fd; }
void *ss_handler_data(const ss_request_t *req)
{
    return req->server->handler_data;
}

const void *ss_datagram(const ss_request_t *req, size_t *len)
{
    if (len)
        *len = req->datagram ? req->in_len : 0;
    return req->datagram ? req->in : NULL;
}

/* ---- Life of a request ------------------------------------------------- */

ss_request_t *ss__request_new(ss_server_t *srv, int fd,
                              const struct sockaddr *peer, socklen_t peer_len)
{
    ss_request_t *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    req->server = srv;
    req->fd = fd;
    req->timeout_ms = srv->cfg.timeout_ms;
    if (srv->cfg.deadline_ms > 0) /* per-read timeouts alone let a client
                                     trickle forever (slowloris) */
        req->deadline_at_ms = ss__now_ms() + srv->cfg.deadline_ms;
    if (peer_len > sizeof(req->peer))
        peer_len = sizeof(req->peer);
    memcpy(&req->peer, peer, peer_len);
    req->peer_len = peer_len;
    ss__server_ref(srv);
    return req;
}

/* The request keeps its own copy: the server's receive buffer is reused
 * for the next datagram while this one may still be running elsewhere. */
int ss__request_set_datagram(ss_request_t *req, const void *data, size_t len)
{
    /* First: even if the copy fails, freeing this request must not close
     * req->fd, which is the server's own socket. */
    req->datagram = 1;
    req->in = malloc(len ? len : 1);
    if (!req->in)
        return -ENOMEM;
    memcpy(req->in, data, len);
    req->in_len = req->in_cap = len;
    req->in_off = 0;
    return 0;
}

/* Peer resets and broken pipes are ordinary peer behaviour, not errors. */
static void report_error(ss_request_t *req, int err)
{
    ss_server_t *srv = req->server;
    if (srv->cfg.handle_error) {
        srv->cfg.handle_error(srv, req, err);
        return;
    }
    int quiet = err == -ECONNRESET || err == -EPIPE || err == -ECANCELED;
    ss_log_peer(quiet ? SS_LOG_DEBUG : SS_LOG_WARN, "%s: %s: %s",
                srv->cfg.handler->name, ss_peer(req), strerror(-err));
}

/* setup, handle, finish -- finish always -- then report any failure. */
void ss__request_run(ss_request_t *req)
{
    const ss_handler_t *h = req->server->cfg.handler;
    int rc = h->setup ? h->setup(req) : 0;
    if (rc >= 0 && h->handle)
        rc = h->handle(req);
    if (h->finish)
        h->finish(req);
    if (rc < 0)
        report_error(req, rc);
}

/* Close the request's connection; an event mode's poller forgets it first,
 * or the next descriptor with the same number would inherit its watch. */
static void close_fd(ss_request_t *req)
{
    ss_fd_close(req, req->fd);
    req->fd = -1;
}

/* Close like nginx and Apache: send FIN, then read and discard what the
 * peer still sends for a short, bounded time.  Closing with unread data
 * makes the kernel send RST, which can destroy the reply we just sent
 * before the client has read it. */
static void close_gracefully(ss_request_t *req)
{
    if (shutdown(req->fd, SHUT_WR) == 0) {
        long long deadline = ss__now_ms() + SS_LINGER_MS;
        char junk[2048];
        size_t drained = 0;
        while (drained < SS_LINGER_BYTES) {
            ssize_t n = recv(req->fd, junk, sizeof(junk), 0);
            if (n > 0) {
                drained += (size_t)n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) ||
                ss__wait_fd(req, req->fd, POLLIN, deadline) < 0)
                break;
        }
    }
    close_fd(req);
}

void ss__request_free(ss_request_t *req)
{
    if (!req)
        return;
    if (!req->datagram && req->fd >= 0)
        close_gracefully(req);
    free(req->in);
    ss_server_t *srv = req->server;
    if (req->counted)
        ss__worker_finished(srv);
    free(req);
    ss__server_unref(srv);
}

/* Close a request that will not be served (rejected, or shed for want of
 * a thread or process) without the lingering drain: the serve loop must
 * not wait on it.  Its FIN still goes first, so a client that sent nothing
 * sees a clean end of file. */
void ss__request_drop(ss_request_t *req)
{
    if (!req->datagram && req->fd >= 0) {
        shutdown(req->fd, SHUT_WR);
        close_fd(req);
    }
    ss__request_free(req);
}

/* Drop this process's copy of a request without touching the connection:
 * a forking parent must not shutdown() a socket its child is serving. */
void ss__request_forget(ss_request_t *req)
{
    if (!req->datagram && req->fd >= 0)
        close_fd(req);
    ss__request_free(req);
}
