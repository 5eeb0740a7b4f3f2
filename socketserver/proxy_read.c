/* proxy_read.c -- the PROXY protocol on a connection: who may send a
 * header, reading it within its deadline through the wait seam (so the
 * event mode never blocks on it), and the client it names taking the
 * peer's place.  The parsing itself is proxy.c's. */
#include "proxy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_TIMEOUT_MS 5000

int ss__proxy_prepare(ss_server_t *srv, char *err, size_t errlen)
{
    if (srv->cfg.proxy_protocol == SS_PROXY_OFF)
        return 0;
    srv->proxy_trust = malloc(sizeof(*srv->proxy_trust));
    if (!srv->proxy_trust)
        return ss__fail(err, errlen, -ENOMEM, "out of memory");
    return ss__proxy_trust_parse(srv->cfg.proxy_from, srv->proxy_trust, err,
                                 errlen);
}

/* The header's deadline: its own timeout, or the connection's end of
 * life if that comes first. */
static long long header_deadline(const ss_request_t *req)
{
    int timeout = req->server->cfg.proxy_timeout_ms;
    long long at = ss__now_ms() + (timeout > 0 ? timeout : DEFAULT_TIMEOUT_MS);
    long long end = req->deadline_at_ms;
    return end && end < at ? end : at;
}

/* The read-ahead buffer, empty, for the header and what may follow it. */
static int start_read_ahead(ss_request_t *req)
{
    free(req->in);
    req->in = malloc(SS_READ_AHEAD);
    req->in_off = req->in_len = 0;
    req->in_cap = req->in ? SS_READ_AHEAD : 0;
    return req->in ? 0 : -ENOMEM;
}

/* One more read into the read-ahead, waiting for it: >0 bytes, or -errno
 * with *why set (-ENODATA: closed before a single byte). */
static ssize_t read_more(ss_request_t *req, long long deadline,
                         const char **why)
{
    ssize_t n = ss__fd_recv(req, req->fd, req->in + req->in_len,
                            req->in_cap - req->in_len, deadline);
    if (n > 0)
        return n;
    if (n == 0) {
        *why = req->in_len ? "closed in the middle of the header"
                           : "closed before sending a header";
        return req->in_len ? -EPROTO : -ENODATA;
    }
    if (n == -ETIMEDOUT)
        *why = req->in_len ? "the header was not complete in time"
                           : "no header in time";
    else
        *why = strerror((int)-n);
    return n;
}

/* Read until a whole header is in the read-ahead; the bytes after it stay
 * there, for the handler.  0 and *h, or -errno with *why. */
static int read_header(ss_request_t *req, ss_proxy_header_t *h,
                       const char **why)
{
    long long deadline = header_deadline(req);
    int versions = (int)req->server->cfg.proxy_protocol;
    if (start_read_ahead(req) < 0)
        return *why = "out of memory", -ENOMEM;
    for (;;) {
        ssize_t n = read_more(req, deadline, why);
        if (n < 0)
            return (int)n;
        req->in_len += (size_t)n;
        int rc = ss__proxy_parse(req->in, req->in_len, versions, h, why);
        if (rc > 0) {
            req->in_off = (size_t)rc;
            return 0;
        }
        if (rc < 0)
            return rc;
        if (req->in_len == req->in_cap) /* the parser caps a header below */
            return *why = "header longer than allowed", -EPROTO;
    }
}

/* The client named takes the peer's place; the balancer's address is
 * kept for ss_proxy_peer.  A LOCAL header (a health check) names none. */
static int take_client(ss_request_t *req, const ss_proxy_header_t *h)
{
    if (h->local)
        return 0;
    ss_via_t *via = calloc(1, sizeof(*via));
    if (!via)
        return -ENOMEM;
    via->addr = req->peer;
    via->len = req->peer_len;
    req->via = via;
    memcpy(&req->peer, &h->src, h->src_len);
    req->peer_len = h->src_len;
    req->peer_text[0] = '\0'; /* ss_peer formats the client from now on */
    return 0;
}

/* An empty read-ahead goes at once: an idle connection holds none. */
static void drop_empty_read_ahead(ss_request_t *req)
{
    if (req->in_off < req->in_len)
        return;
    free(req->in);
    req->in = NULL;
    req->in_off = req->in_len = req->in_cap = 0;
}

int ss__proxy_accept(ss_request_t *req, const char **why)
{
    *why = NULL;
    if (!ss__proxy_trusted(req->server->proxy_trust,
                           (const struct sockaddr *)&req->peer, req->peer_len))
        return *why = "not a trusted source of PROXY headers (proxy_from)",
               -EPERM;
    ss_proxy_header_t h;
    int rc = read_header(req, &h, why);
    if (rc == 0 && (rc = take_client(req, &h)) < 0)
        *why = "out of memory";
    drop_empty_read_ahead(req);
    return rc;
}
