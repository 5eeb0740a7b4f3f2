/* http -- seed 003's web service, the part Python's http.server plays:
 * static files from --root (default ".") over HTTP/1.1 and HTTP/1.0.
 * This file is the conversation: read a request head, answer it, again;
 * its parts are listed in http.h.
 *
 * GET and HEAD; a directory serves its index.html, else a listing; a
 * directory URL without its trailing slash is redirected (301) to it,
 * query kept.  Files carry Last-Modified, a strong ETag and Accept-Ranges;
 * If-None-Match and If-Modified-Since get 304, a single Range 206 (or
 * 416), several ranges the whole file.  Other methods: 405 for those
 * RFC 9110 defines, 501 for the rest.  Keep-alive is the default in
 * HTTP/1.1 (Connection: close ends it) and opt-in in HTTP/1.0; a
 * connection idle between requests is closed after HTTP_IDLE_MS, 15 s
 * (or the server's --timeout when shorter).
 *
 * No request reads outside the root: the path is percent-decoded exactly
 * once, dot segments are resolved (one climbing above the root, NUL and
 * backslash bytes get 400), and every file is opened beneath the root's
 * descriptor, symlinks resolved inside it, else it does not exist (404). */
/* realpath() is in POSIX.1-2008's XSI option (Issue 8 moved it to the
 * base), and glibc declares it only when XSI is asked for. */
#define _XOPEN_SOURCE 700
#include "http.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long a connection may wait for a request head (each piece of it
 * restarts the wait), the first and each kept-alive one; the server's
 * timeout when shorter.  nginx waits 60 s for a head and 75 s between
 * requests, which costs it a few hundred bytes in its event loop; here,
 * in the default thread mode (and in sync, fork and prethread), a waiting
 * connection holds a thread or a process, so the wait is short, as
 * Apache's 5 s is for the same reason.  Responses are sent under the
 * server's timeout: the handler's 60 s, nginx's send_timeout, unless
 * --timeout says otherwise. */
#define HTTP_IDLE_MS 15000

/* ---- Files ----------------------------------------------------------------
 */

/* A 304, a 416, or the file (whole or the range asked for). */
static int answer_file(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                       const http_request_t *r, const http_file_t *f)
{
    rp->file = f;
    if (http_not_modified(r, f)) {
        rp->status = 304;
        return http_send_response(req, c, rp, NULL, 0);
    }
    rp->status = rp->head_only ? 200 : http_range(r, f, &rp->first, &rp->last);
    if (rp->status == 416)
        return http_send_status_page(req, c, rp, 416);
    rp->type = f->type;
    return http_send_file(req, c, rp, f);
}

/* An open regular file: small ones are read whole into c->cached and
 * remembered in the cache, so the next request needs no open. */
static int answer_opened(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                         const http_request_t *r, int fd, const struct stat *st)
{
    http_file_t f = {fd, NULL, (long long)st->st_size, st->st_mtim,
                     http_content_type(c->path)};
    if (st->st_size <= HTTP_CACHE_FILE_MAX &&
        pread(fd, c->cached, (size_t)st->st_size, 0) == st->st_size) {
        http_cache_put(c->site->cache, c->path, st, c->cached, f.type);
        f.fd = -1;
        f.body = c->cached;
    }
    int rc = answer_file(req, c, rp, r, &f);
    close(fd);
    return rc;
}

/* c->path beneath the root: 0 with the descriptor and its status, else
 * the status to answer: missing, unreadable and outside (a symlink to
 * /etc) all look alike, 404. */
static int open_path(http_conn_t *c, int *fd, struct stat *st)
{
    int rc = http_open_beneath(c->site->root_fd, c->path, fd);
    if (rc == 0 && fstat(*fd, st) < 0) {
        rc = -errno;
        close(*fd);
    }
    return rc == 0 ? 0 : rc == -ENOMEM ? 500 : 404;
}

/* ---- Directories -----------------------------------------------------------
 */

static int send_listing(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                        int dir_fd)
{
    strbuf_t page = {NULL, 0, 0, 0};
    int rc = http_build_listing(&page, c->path, dir_fd);
    if (rc < 0) {
        free(page.data);
        return http_send_status_page(req, c, rp, 500);
    }
    rp->status = 200;
    rp->type = "text/html; charset=utf-8";
    rc = http_send_response(req, c, rp, page.data, page.len);
    free(page.data);
    return rc;
}

/* A directory URL without its slash: 301 to "/path/?query", rebuilt from
 * the normalised path (never echoing the raw path: "//evil.example" must
 * not become a redirect off-site), the query as sent. */
static int send_redirect(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                         http_str_t query)
{
    strbuf_t location = {NULL, 0, 0, 0};
    sb_add(&location, "/");
    sb_add_url(&location, c->path, "/");
    sb_add(&location, "/");
    sb_addn(&location, query.ptr, query.len);
    sb_addn(&location, "", 1); /* the NUL */
    if (location.failed)
        return http_send_status_page(req, c, rp, 500);
    rp->location = location.data;
    int rc = http_send_status_page(req, c, rp, 301);
    rp->location = NULL;
    free(location.data);
    return rc;
}

/* c->path with "/index.html" after it (the cache's key for a directory
 * URL), or back as it was. */
static void add_index(http_conn_t *c, size_t len, int add)
{
    if (add)
        snprintf(c->path + len, sizeof(c->path) - len, "%sindex.html",
                 len ? "/" : "");
    else
        c->path[len] = '\0';
}

/* A directory URL: its index.html when that is a file, else a listing. */
static int send_directory(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                          const http_request_t *r, int dir_fd)
{
    size_t len = strlen(c->path);
    int fd;
    struct stat st;
    add_index(c, len, 1);
    if (open_path(c, &fd, &st) == 0) {
        if (S_ISREG(st.st_mode)) {
            close(dir_fd);
            return answer_opened(req, c, rp, r, fd, &st);
        }
        close(fd);
    }
    add_index(c, len, 0);
    return send_listing(req, c, rp, dir_fd);
}

/* ---- Answering one request -------------------------------------------------
 */

/* From the cache: a file (its path as the key) or a directory URL's
 * index.html.  1 when answered (rc in *rc). */
static int answer_cached(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                         const http_request_t *r, int dir_url, int *rc)
{
    size_t len = strlen(c->path);
    http_file_t f;
    add_index(c, len, dir_url);
    int hit = http_cache_get(c->site->cache, c->site->root_fd, c->path, &f,
                             c->cached);
    if (hit)
        *rc = answer_file(req, c, rp, r, &f);
    add_index(c, len, 0);
    return hit;
}

/* GET or HEAD of a target: a file, a directory, a redirect or an error. */
static int serve_target(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                        const http_request_t *r)
{
    http_str_t path = http_target_path(r->target);
    int dir_url = 0, rc;
    int status = path.len ? http_decode_path(path, c->path) : 400;
    if (status == 0)
        status = http_normalise_path(c->path, &dir_url);
    if (status == 0 && answer_cached(req, c, rp, r, dir_url, &rc))
        return rc;
    int fd = -1;
    struct stat st;
    if (status == 0)
        status = open_path(c, &fd, &st);
    if (status == 0 && S_ISDIR(st.st_mode) && dir_url)
        return send_directory(req, c, rp, r, fd);
    if (status == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return send_redirect(req, c, rp, http_target_query(r->target));
    }
    if (status == 0 && S_ISREG(st.st_mode) && !dir_url)
        return answer_opened(req, c, rp, r, fd, &st);
    if (fd >= 0)
        close(fd); /* a FIFO, a device, or "file.txt/" */
    return http_send_status_page(req, c, rp, status ? status : 404);
}

/* Keep-alive is HTTP/1.1's default and HTTP/1.0's option.  A request
 * with a body ends the connection: the body is never read, so the next
 * request could not be found. */
static int wants_keep_alive(const http_request_t *r)
{
    if (r->content_length > 0 || r->transfer_encoding || r->connection_close)
        return 0;
    return r->version_minor == 1 || r->connection_keep_alive;
}

static int method_is(const http_request_t *r, const char *name)
{
    return r->method.len == strlen(name) &&
           memcmp(r->method.ptr, name, r->method.len) == 0;
}

/* RFC 9110 9.3 defines these; a server that does not allow one answers
 * 405 with Allow.  Any other method is one it does not know: 501 (RFC
 * 9110 15.6.2), as Python's http.server and CPython's tests have it. */
static int method_known(const http_request_t *r)
{
    static const char *const known[] = {"POST",  "PUT",     "DELETE", "OPTIONS",
                                        "TRACE", "CONNECT", "PATCH"};
    for (size_t i = 0; i < HTTP_COUNT(known); i++)
        if (method_is(r, known[i]))
            return 1;
    return 0;
}

/* Answer one parsed request; *keep says whether the connection goes on. */
static int respond(ss_request_t *req, http_conn_t *c, const http_request_t *r,
                   int *keep)
{
    http_reply_t rp = {0};
    rp.keep_alive = wants_keep_alive(r);
    rp.head_only = method_is(r, "HEAD");
    int rc =
        rp.head_only || method_is(r, "GET")
            ? serve_target(req, c, &rp, r)
            : http_send_status_page(req, c, &rp, method_known(r) ? 405 : 501);
    ss_log(SS_LOG_INFO, "http: %s \"%.*s %.*s\" %d", ss_peer(req),
           (int)r->method.len, r->method.ptr,
           (int)(r->target.len < 200 ? r->target.len : 200), r->target.ptr,
           rp.status);
    *keep = rp.keep_alive;
    return rc;
}

/* ---- The connection ------------------------------------------------------ */

static int server_timeout_ms(const ss_request_t *req)
{
    return ss_server_config(ss_request_server(req))->timeout_ms;
}

/* Waiting for a request: HTTP_IDLE_MS, or the server's timeout if less. */
static int idle_timeout_ms(const ss_request_t *req)
{
    int t = server_timeout_ms(req);
    return t > 0 && t < HTTP_IDLE_MS ? t : HTTP_IDLE_MS;
}

/* Receive until in[] holds a whole request head or an error.  Returns 0
 * with *status (HTTP_PARSE_COMPLETE or an error status), 1 when the client
 * is gone or idle before a whole head, or -errno. */
static int read_request(ss_request_t *req, http_conn_t *c, http_request_t *r,
                        int *status)
{
    ss_set_timeout(req, idle_timeout_ms(req));
    for (;;) {
        *status = http_parse_request(c->in, c->have, r);
        if (*status != HTTP_PARSE_INCOMPLETE)
            break;
        if (c->have >= sizeof(c->in)) { /* the parser promises otherwise */
            *status = 431;
            break;
        }
        ssize_t n = ss_recv(req, c->in + c->have, sizeof(c->in) - c->have);
        if (n == 0 || (n == -ETIMEDOUT && c->have == 0))
            return 1;
        if (n < 0)
            return (int)n;
        c->have += (size_t)n;
    }
    ss_set_timeout(req, server_timeout_ms(req));
    return 0;
}

/* A request head that could not be parsed: its status page, then the
 * connection ends (where the next request starts is unknown). */
static int refuse_request(ss_request_t *req, http_conn_t *c, int status)
{
    http_reply_t rp = {0};
    ss_log_peer(SS_LOG_INFO, "http: %s bad request: %d", ss_peer(req), status);
    return http_send_status_page(req, c, &rp, status);
}

static int http_handle(ss_request_t *req)
{
    http_conn_t *c = ss_data(req);
    for (;;) {
        http_request_t r;
        int status, keep;
        int rc = read_request(req, c, &r, &status);
        if (rc != 0)
            return rc > 0 ? 0 : rc;
        if (status != HTTP_PARSE_COMPLETE)
            return refuse_request(req, c, status);
        rc = respond(req, c, &r, &keep);
        if (rc < 0 || !keep)
            return rc;
        c->have -= r.head_length; /* pipelined bytes move to the front */
        memmove(c->in, c->in + r.head_length, c->have);
    }
}

static const char *root_option(const ss_server_t *srv)
{
    const char *root = ss_server_option(srv, "root");
    return root ? root : ".";
}

/* The site was made once, by open: a connection only borrows it. */
static int http_setup(ss_request_t *req)
{
    http_site_t *site = ss_handler_data(req);
    if (!site)
        return -EINVAL; /* open refused the server: not reached */
    http_conn_t *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->site = site;
    c->have = 0;
    ss_set_data(req, c);
    return 0;
}

static void http_finish(ss_request_t *req)
{
    free(ss_data(req));
    ss_set_data(req, NULL);
}

static void free_site(http_site_t *site)
{
    if (site->root_fd >= 0)
        close(site->root_fd);
    http_cache_free(site->cache);
    free(site->real);
    free(site);
}

/* The root, resolved and opened once per open (and so again on each
 * reload): every file is opened beneath root_fd.  0, else -errno. */
static int open_site(const char *root, http_site_t **out)
{
    http_site_t *site = calloc(1, sizeof(*site));
    if (!site)
        return -ENOMEM;
    site->root_fd = -1;
    site->real = realpath(root, NULL);
    int rc = site->real ? 0 : -errno;
    if (rc == 0) {
        site->root_fd =
            open(site->real, O_RDONLY | O_CLOEXEC | O_DIRECTORY | O_NOCTTY);
        rc = site->root_fd >= 0 ? 0 : -errno;
    }
    if (rc == 0)
        site->cache = http_cache_new(); /* none: every file from disk */
    if (rc < 0)
        free_site(site);
    *out = rc < 0 ? NULL : site;
    return rc;
}

/* .open: a stream server, and a root that is a directory, kept as the
 * server's handler data; else -EINVAL with the reason in err. */
static int http_open(ss_server_t *srv, char *err, size_t errlen)
{
    const char *root = root_option(srv);
    http_site_t *site = NULL;
    int datagram = ss_server_config(srv)->datagram;
    int rc = datagram ? -EPROTOTYPE : open_site(root, &site);
    if (rc < 0) {
        if (datagram)
            snprintf(err, errlen, "http: needs a stream socket, not --udp");
        else
            snprintf(err, errlen, "http: --root %s: %s", root, strerror(-rc));
        return -EINVAL;
    }
    ss_server_set_handler_data(srv, site);
    return 0;
}

/* After the last request (or, on a reload, once the new root is set). */
static void http_close(ss_server_t *srv)
{
    http_site_t *site = ss_server_handler_data(srv);
    if (site)
        free_site(site);
    ss_server_set_handler_data(srv, NULL);
}

static const ss_handler_option_t http_options[] = {
    {.name = "root",
     .meta = "DIR",
     .help = "the directory to serve (default .)"},
    {0}};

const ss_handler_t ss_handler_http = {
    .name = "http",
    .summary = "static files from --root over HTTP/1.1, like python -m "
               "http.server (seed 003)",
    .setup = http_setup,
    .handle = http_handle,
    .finish = http_finish,
    .open = http_open,
    .close = http_close,
    .timeout_ms = HANDLER_TIMEOUT_HTTP_MS,
    .options = http_options,
};
