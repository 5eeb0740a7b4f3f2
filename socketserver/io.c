/* io.c -- the I/O functions handlers use.  Each tries the system call
 * first and, on EAGAIN, waits through the seam in wait.c; a handler never
 * learns which mode it runs in. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* recv(2) on any descriptor of this request, waiting through the seam:
 * >0 bytes, 0 at end of file, or -errno (-ETIMEDOUT at deadline). */
ssize_t ss__fd_recv(ss_request_t *req, int fd, void *buf, size_t len,
                    long long deadline)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n >= 0) {
            if (fd == req->fd) /* what the close decides on */
                req->seen |= n > 0 ? SS_SEEN_INPUT : SS_SEEN_EOF;
            ss__made_progress(req);
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
    return ss__fd_recv(req, req->fd, buf, len, deadline);
}

ssize_t ss_recv(ss_request_t *req, void *buf, size_t len)
{
    return recv_until(req, buf, len, ss__call_deadline(req));
}

ssize_t ss_fd_recv(ss_request_t *req, int fd, void *buf, size_t len)
{
    return ss__fd_recv(req, fd, buf, len, ss__call_deadline(req));
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
    ssize_t n = ss__fd_recv(req, req->fd, req->in, req->in_cap, deadline);
    if (n > 0)
        req->in_len = (size_t)n;
    return n;
}

/* The read-ahead is used up and n bytes of a message are in hand: wait for
 * more, until the call's deadline or, once a message has begun and
 * pause_ms > 0, until the peer has been silent that long.  >0 bytes, 0 when
 * the message ends here (end of file, or the pause), <0 error. */
static ssize_t fill_or_pause(ss_request_t *req, size_t n, int pause_ms,
                             long long deadline)
{
    if (n == 0 || pause_ms <= 0)
        return fill_read_ahead(req, deadline);
    long long pause_end = ss__now_ms() + pause_ms;
    long long until = deadline && deadline < pause_end ? deadline : pause_end;
    ssize_t k = fill_read_ahead(req, until);
    /* Silence ends the message, be it the pause or an idle timeout shorter
     * than it: the peer is waiting for our answer, not gone.  Only the
     * connection's end of life is still a timeout. */
    if (k == -ETIMEDOUT &&
        !(req->deadline_at_ms && ss__now_ms() >= req->deadline_at_ms))
        return 0;
    return k;
}

/* A message that ended at a pause right after a '\r' may see its '\n'
 * come later: that is the rest of its line end, not an empty line. */
static void skip_split_lf(ss_request_t *req)
{
    if (req->in_off < req->in_len && req->in[req->in_off] == '\n')
        req->in_off++;
    req->split_crlf = 0;
}

/* ss_read_line, and ss_read_message when pause_ms > 0. */
static ssize_t read_message(ss_request_t *req, char *buf, size_t cap,
                            int pause_ms)
{
    if (cap < 2) /* no room for a byte and the NUL: it could never progress */
        return -EINVAL;
    long long deadline = ss__call_deadline(req);
    size_t n = 0;
    for (;;) {
        if (req->in_off == req->in_len) {
            ssize_t k = fill_or_pause(req, n, pause_ms, deadline);
            if (k <= 0) {
                buf[n] = '\0';
                req->split_crlf =
                    pause_ms > 0 && k == 0 && n > 0 && buf[n - 1] == '\r';
                return k < 0 ? k : (ssize_t)n;
            }
            deadline = ss__call_deadline(req); /* progress: idle again */
        }
        if (req->split_crlf) {
            skip_split_lf(req);
            continue;
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

ssize_t ss_read_line(ss_request_t *req, char *buf, size_t cap)
{
    req->split_crlf = 0; /* only consecutive messages share a line end */
    return read_message(req, buf, cap, 0);
}

ssize_t ss_read_message(ss_request_t *req, char *buf, size_t cap, int pause_ms)
{
    if (pause_ms <= 0)
        return ss_read_line(req, buf, cap);
    return read_message(req, buf, cap, pause_ms);
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
            ss__made_progress(req);
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
    long long deadline =
        timeout_ms < 0 ? ss__call_deadline(req) : ss__now_ms() + timeout_ms;
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
    if (req->waiter->forget) /* an event mode's poller forgets it first */
        req->waiter->forget(req, fd);
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
