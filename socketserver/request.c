/* request.c -- a request's life: made for a connection or a datagram,
 * run through the handler, closed gracefully; and what a handler may ask
 * of it. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

const char *ss_proxy_peer(ss_request_t *req)
{
    if (!req->via)
        return NULL;
    if (!req->via->text[0])
        ss__addr_format((const struct sockaddr *)&req->via->addr, req->via->len,
                        req->via->text, sizeof(req->via->text));
    return req->via->text;
}

const struct sockaddr *ss_proxy_peer_addr(const ss_request_t *req,
                                          socklen_t *len)
{
    if (len)
        *len = req->via ? req->via->len : 0;
    return req->via ? (const struct sockaddr *)&req->via->addr : NULL;
}

void *ss_data(const ss_request_t *req)
{
    return req->data;
}
void ss_set_data(ss_request_t *req, void *data)
{
    req->data = data;
}
ss_server_t *ss_request_server(const ss_request_t *req)
{
    return req->server;
}
void *ss_context(const ss_request_t *req)
{
    return req->server->cfg.context;
}
int ss_is_datagram(const ss_request_t *req)
{
    return req->datagram;
}
int ss_fd(const ss_request_t *req)
{
    return req->fd;
}
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
    req->waiter = &ss__poll_waiter;
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
                ss__handler_name(srv->cfg.handler), ss_peer(req),
                strerror(-err));
}

int ss__request_verify(ss_request_t *req)
{
    ss_server_t *srv = req->server;
    if (!srv->cfg.verify_request || srv->cfg.verify_request(srv, req))
        return 1;
    ss_log_peer(SS_LOG_DEBUG, "%s: rejected by verify_request", ss_peer(req));
    return 0;
}

/* Behind a balancer, before anything else: the PROXY header, then
 * verify_request on the client it names.  A connection that fails either
 * is closed unserved, with one rate-limited line naming the peer and what
 * was wrong (at debug level for a bare connect that sent nothing: that is
 * how a balancer's health check looks). */
static int admitted(ss_request_t *req)
{
    if (!req->server->proxy_trust || req->datagram)
        return 1;
    const char *why;
    int rc = ss__proxy_accept(req, &why);
    if (rc < 0) {
        ss_log_peer(rc == -ENODATA ? SS_LOG_DEBUG : SS_LOG_WARN,
                    "%s: PROXY header refused: %s", ss_peer(req),
                    why ? why : strerror(-rc));
        return 0;
    }
    return ss__request_verify(req);
}

/* setup, handle, finish -- finish always -- then report any failure. */
void ss__request_run(ss_request_t *req)
{
    if (!admitted(req))
        return;
    const ss_handler_t *h = req->server->cfg.handler;
    int rc = h->setup ? h->setup(req) : 0;
    if (rc >= 0 && h->handle)
        rc = h->handle(req);
    if (h->finish)
        h->finish(req);
    if (rc < 0)
        report_error(req, rc);
}

/* Close the request's connection through its waiter, which forgets it
 * first (or the next descriptor with that number would inherit a watch). */
static void close_fd(ss_request_t *req)
{
    ss_fd_close(req, req->fd);
    req->fd = -1;
}

/* How to close: LINGER (below), or a plain close(2), sending FIN first
 * by shutdown(2) when the peer may still send (SHUT_FIRST).  close() on a
 * socket whose receive queue holds unread bytes sends RST instead of FIN,
 * and an RST throws away what of our reply is still in flight: unsent in
 * our queue, lost and owed a retransmission, or (on some stacks) received
 * but unread.  So, in this order:
 *
 *   a read met the peer's end of file    close: nothing can follow it
 *   read-ahead the handler never took    linger: the client sent more
 *                                        than was used (pipelining, a
 *                                        skipped body); more may follow
 *   a non-blocking peek finds bytes      linger: close would reset now
 *   ... finds end of file, or an error   close (a reset: nothing to save)
 *   ... finds nothing                    shutdown, close; on a Unix socket
 *                                        whose handler never read, linger
 *
 * Why "nothing" needs no drain: shutdown queues our FIN behind every byte
 * of the reply before anything can go wrong, and close then finds no
 * unread input.  Bytes a client still sends (it spoke while we replied
 * without reading, or pipelined) meet a socket that has sent reply and
 * FIN in order, and draw an RST only after them, so the client reads the
 * whole reply and an end of file.  Without the shutdown, bytes landing
 * between the peek and the close would make close itself send RST and
 * no FIN (the hostile suite's thankyou case sees it under load).  A Unix
 * socket has no such order: a send after our close fails with EPIPE.
 * The residual case, as with nginx: a TCP client that sends after we
 * closed while a reply segment is lost and owed a retransmission.
 *
 * Against the old linger for every connection this saves the wait for
 * the client's FIN, which held a thread (in sync mode the whole server)
 * for up to SS_LINGER_MS, and the poller calls of that wait. */
enum { CLOSE_NOW, SHUT_FIRST, LINGER };

static int close_kind(ss_request_t *req)
{
    if (req->seen & SS_SEEN_EOF)
        return CLOSE_NOW;
    if (req->in_off < req->in_len)
        return LINGER;
    char c;
    ssize_t n;
    do
        n = recv(req->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        return n > 0 ? LINGER : CLOSE_NOW;
    if (!(req->seen & SS_SEEN_INPUT) && req->peer.ss_family == AF_UNIX)
        return LINGER;
    return SHUT_FIRST;
}

/* The lingering close, as nginx and Apache do it: send FIN, then read and
 * discard what the peer still sends for a short, bounded time, so the
 * close finds nothing unread and sends no RST. */
static void close_lingering(ss_request_t *req)
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

static void close_gracefully(ss_request_t *req)
{
    int kind = close_kind(req);
    if (kind == LINGER) {
        close_lingering(req);
        return;
    }
    if (kind == SHUT_FIRST)
        shutdown(req->fd, SHUT_WR);
    close_fd(req);
}

void ss__request_free(ss_request_t *req)
{
    if (!req)
        return;
    if (!req->datagram && req->fd >= 0)
        close_gracefully(req);
    free(req->in);
    free(req->via);
    ss_server_t *srv = req->server;
    if (req->counted && srv->hooks.finished)
        srv->hooks.finished(srv);
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
