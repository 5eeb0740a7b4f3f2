/* http -- seed 003's web service, the part Python's http.server plays:
 * static files from --root (default ".") over HTTP/1.1 and HTTP/1.0.
 *
 * GET and HEAD; a directory serves its index.html, else a listing; a
 * directory URL without its trailing slash is redirected (301) to it.
 * Keep-alive is the default in HTTP/1.1 (Connection: close ends it) and
 * opt-in in HTTP/1.0; a connection idle between requests is closed after
 * HTTP_IDLE_MS, 15 s (or the server's --timeout when shorter).  Every
 * response has a Content-Length; errors have a small HTML page.
 *
 * No request reads outside the root: the path is percent-decoded exactly
 * once, ".." segments, NUL and backslash bytes are refused (400), and the
 * real path of every file (symlinks resolved) must lie under the root's
 * real path, else it does not exist (404).
 *
 * The request head is parsed by the pure http_parse_request(); files go out
 * in HTTP_CHUNK pieces, so a large file needs no large buffer. */

/* realpath() is in POSIX.1-2008's XSI option (Issue 8 moved it to the
 * base), and glibc declares it only when XSI is asked for. */
#define _XOPEN_SOURCE 700
#include "handlers.h"
#include "http_parser.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HTTP_CHUNK 16384    /* file bytes per read and send */
#define HTTP_HEAD_ROOM 1024 /* a response head, Location aside */
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
#define HTTP_LISTING_MAX (4 * 1024 * 1024) /* bytes of a listing page */
#define HTTP_LISTING_ENTRIES 65536         /* names in a listing */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A connection's state: malloc'd in setup, since coroutine stacks are
 * small.  in[] holds the request head being read and whatever pipelined
 * bytes came after it. */
typedef struct http_conn {
    const char *root; /* realpath of --root: the server's, from open */
    size_t root_len;
    size_t have; /* bytes in in[] */
    char in[HTTP_MAX_REQUEST_BYTES];
    char path[HTTP_MAX_REQUEST_LINE + 1]; /* decoded, normalised, relative */
    char out[HTTP_HEAD_ROOM + HTTP_CHUNK];
} http_conn_t;

/* The response being made: filled in step by step, then sent. */
typedef struct http_reply {
    int status;
    const char *type;     /* Content-Type */
    const char *location; /* 301: where to */
    int keep_alive;       /* the connection stays open after it */
    int head_only;        /* HEAD: the head, no body */
} http_reply_t;

/* ---- Small growing text buffer (listings, redirects) --------------------
 * Appends never fail loudly: the first failure sets failed and later
 * appends do nothing, so builders check once at the end. */

typedef struct strbuf {
    char *data;
    size_t len, cap;
    int failed;
} strbuf_t;

static void sb_addn(strbuf_t *sb, const char *s, size_t n)
{
    if (sb->failed || n == 0)
        return;
    if (sb->len + n > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 1024;
        while (cap < sb->len + n)
            cap *= 2;
        char *data = cap <= HTTP_LISTING_MAX ? realloc(sb->data, cap) : NULL;
        if (!data) {
            sb->failed = 1;
            return;
        }
        sb->data = data;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
}

static void sb_add(strbuf_t *sb, const char *s)
{
    sb_addn(sb, s, strlen(s));
}

/* Text as HTML: the five characters that could end an element or an
 * attribute value become entities. */
static void sb_add_html(strbuf_t *sb, const char *s)
{
    for (; *s; s++) {
        const char *entity = *s == '&'    ? "&amp;"
                             : *s == '<'  ? "&lt;"
                             : *s == '>'  ? "&gt;"
                             : *s == '"'  ? "&quot;"
                             : *s == '\'' ? "&#39;"
                                          : NULL;
        if (entity)
            sb_add(sb, entity);
        else
            sb_addn(sb, s, 1);
    }
}

/* Text as a URL path: unreserved bytes (RFC 3986 2.3) and those in keep
 * stay, every other byte becomes %XX.  The result needs no HTML escaping. */
static void sb_add_url(strbuf_t *sb, const char *s, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || strchr("-._~", c) ||
                    strchr(keep, c);
        char escaped[3] = {'%', hex[c >> 4], hex[c & 15]};
        if (plain)
            sb_addn(sb, s, 1);
        else
            sb_addn(sb, escaped, 3);
    }
}

/* ---- Response heads ------------------------------------------------------ */

static const char *reason_phrase(int status)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {200, "OK"},
        {301, "Moved Permanently"},
        {400, "Bad Request"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {414, "URI Too Long"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < COUNT(reasons); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Error";
}

/* RFC 9110 5.6.7 IMF-fixdate, with English names whatever the locale. */
static void http_date(char *buf, size_t cap)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                    "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(buf, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The status line and fields into out: the head's length, or -EOVERFLOW
 * when it does not fit. */
static int format_head(char *out, size_t cap, const http_reply_t *rp,
                       long long length)
{
    char date[40];
    http_date(date, sizeof(date));
    int n =
        snprintf(out, cap,
                 "HTTP/1.1 %d %s\r\n"
                 "Server: socketserver/" SS_VERSION "\r\n"
                 "Date: %s\r\n"
                 "Content-Type: %s\r\n"
                 "Content-Length: %lld\r\n"
                 "%s%s%s%s"
                 "Connection: %s\r\n"
                 "\r\n",
                 rp->status, reason_phrase(rp->status), date, rp->type, length,
                 rp->location ? "Location: " : "",
                 rp->location ? rp->location : "", rp->location ? "\r\n" : "",
                 rp->status == 405 ? "Allow: GET, HEAD\r\n" : "",
                 rp->keep_alive ? "keep-alive" : "close");
    return n >= 0 && (size_t)n < cap ? n : -EOVERFLOW;
}

/* ---- Sending ------------------------------------------------------------- */

/* The head and as much body as fits go out in one send: a head and body
 * in two small writes would wait on Nagle and the client's delayed ACK. */
static int send_response(ss_request_t *req, http_conn_t *c,
                         const http_reply_t *rp, const char *body, size_t len)
{
    int head = format_head(c->out, sizeof(c->out), rp, (long long)len);
    if (head < 0)
        return head;
    if (rp->head_only)
        len = 0;
    size_t room = sizeof(c->out) - (size_t)head;
    size_t first = len < room ? len : room;
    if (first)
        memcpy(c->out + head, body, first);
    int rc = ss_send_all(req, c->out, (size_t)head + first);
    if (rc == 0 && first < len)
        rc = ss_send_all(req, body + first, len - first);
    return rc;
}

/* An error (or redirect) page: status and reason, a few lines of HTML. */
static int send_status_page(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                            int status)
{
    char body[256];
    const char *reason = reason_phrase(status);
    int n = snprintf(body, sizeof(body),
                     "<!DOCTYPE html>\n<html><head><title>%d %s</title>"
                     "</head>\n<body><h1>%d %s</h1></body></html>\n",
                     status, reason, status, reason);
    rp->status = status;
    rp->type = "text/html; charset=utf-8";
    return send_response(req, c, rp, body, (size_t)n);
}

/* Read from a file, retrying interrupted reads: >0, 0 at its end, -errno. */
static ssize_t read_file(int fd, char *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0 || errno != EINTR)
            return n < 0 ? -errno : n;
    }
}

/* size bytes of fd after the head, HTTP_CHUNK at a time.  A file that
 * shrinks meanwhile cannot meet its Content-Length: the connection is
 * ended (-EIO) so the client sees a short body, never a wrong one. */
static int send_file(ss_request_t *req, http_conn_t *c, const http_reply_t *rp,
                     int fd, long long size)
{
    int head = format_head(c->out, sizeof(c->out), rp, size);
    if (head < 0 || rp->head_only)
        return head < 0 ? head : ss_send_all(req, c->out, (size_t)head);
    size_t used = (size_t)head;
    long long left = size;
    for (;;) {
        size_t room = sizeof(c->out) - used;
        size_t want = left < (long long)room ? (size_t)left : room;
        ssize_t n = want ? read_file(fd, c->out + used, want) : 0;
        if (n < 0 || (n == 0 && want))
            return n < 0 ? (int)n : -EIO;
        used += (size_t)n;
        left -= n;
        int rc = ss_send_all(req, c->out, used);
        if (rc < 0 || left == 0)
            return rc;
        used = 0;
    }
}

/* ---- From target to file ------------------------------------------------- */

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* lower case */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The path of the target: origin-form "/p?q" or absolute-form
 * "http://host/p?q", without the query.  Its length is 0 for any other
 * form ("*", "host:port", "p"), which is answered with a 400. */
static http_str_t target_path(http_str_t target)
{
    static const char root[] = "/";
    const char *p = target.ptr, *end = target.ptr + target.len;
    const char *scheme = memchr(p, ':', target.len);
    if (target.len && *p != '/' && scheme && end - scheme > 2 &&
        memcmp(scheme, "://", 3) == 0) {
        http_str_t name = {p, (size_t)(scheme - p)};
        if (!http_str_equal_nocase(name, "http") &&
            !http_str_equal_nocase(name, "https"))
            return (http_str_t){p, 0};
        p = memchr(scheme + 3, '/', (size_t)(end - scheme - 3));
        if (!p)
            return (http_str_t){root, 1};
    }
    if (p == end || *p != '/')
        return (http_str_t){p, 0};
    const char *stop = p;
    while (stop < end && *stop != '?' && *stop != '#')
        stop++;
    return (http_str_t){p, (size_t)(stop - p)};
}

/* Percent-decode path into dst (room for path.len + 1) exactly once:
 * "%252e" stays the three bytes "%2e".  Bad escapes, NUL and backslash
 * (a path separator elsewhere) are refused: 0 or 400. */
static int decode_path(http_str_t path, char *dst)
{
    size_t n = 0;
    for (size_t i = 0; i < path.len; i++) {
        unsigned char c = (unsigned char)path.ptr[i];
        if (c == '%') {
            if (i + 2 >= path.len)
                return 400;
            int hi = hex_value((unsigned char)path.ptr[i + 1]);
            int lo = hex_value((unsigned char)path.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return 400;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || c == '\\')
            return 400;
        dst[n++] = (char)c;
    }
    dst[n] = '\0';
    return 0;
}

/* In place: "/a//./b/" becomes "a/b" (relative to the root, no empty or
 * "." segments); a ".." segment is refused (400) rather than resolved, as
 * clients remove dot segments before sending.  *dir_url tells whether the
 * decoded path ended with a slash. */
static int normalise_path(char *path, int *dir_url)
{
    size_t len = strlen(path), w = 0, i = 0;
    *dir_url = len > 0 && path[len - 1] == '/';
    while (i < len) {
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        size_t seg = i - start;
        i++; /* past the slash */
        if (seg == 0 || (seg == 1 && path[start] == '.'))
            continue;
        if (seg == 2 && path[start] == '.' && path[start + 1] == '.')
            return 400;
        if (w > 0)
            path[w++] = '/';
        memmove(path + w, path + start, seg); /* w <= start: never ahead */
        w += seg;
    }
    path[w] = '\0';
    return 0;
}

/* Whether a real path is the root or under it; the '/' after the prefix
 * keeps "/srv/www-secret" out of a root "/srv/www". */
static int inside_root(const http_conn_t *c, const char *real)
{
    if (c->root_len == 1) /* the root is "/" */
        return real[0] == '/';
    return strncmp(real, c->root, c->root_len) == 0 &&
           (real[c->root_len] == '\0' || real[c->root_len] == '/');
}

/* Open root/path[/leaf] when its real path lies inside the root: 0 with
 * the descriptor and its status, else 404 -- missing, unreadable and
 * outside (a symlink to /etc) all look alike.  O_NONBLOCK: a FIFO in the
 * tree must not hang the open; O_NOFOLLOW: nor a symlink swapped in since
 * realpath. */
static int open_inside(const http_conn_t *c, const char *leaf, int *fd,
                       struct stat *st)
{
    size_t cap = c->root_len + strlen(c->path) + (leaf ? strlen(leaf) : 0) + 3;
    char *full = malloc(cap);
    if (!full)
        return 500;
    snprintf(full, cap, "%s/%s%s%s", c->root, c->path,
             leaf && c->path[0] ? "/" : "", leaf ? leaf : "");
    char *real = realpath(full, NULL);
    free(full);
    int status = 404;
    if (real && inside_root(c, real)) {
        *fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (*fd >= 0 && fstat(*fd, st) == 0)
            status = 0;
        else if (*fd >= 0)
            close(*fd);
    }
    free(real);
    return status;
}

/* Content-Type by extension, case-insensitive. */
static const char *content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"svg", "image/svg+xml"},
        {"ico", "image/x-icon"},
        {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
    };
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    for (size_t i = 0; dot && i < COUNT(types); i++)
        if (strcasecmp(dot + 1, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* ---- Directory listings -------------------------------------------------- */

typedef struct name_list {
    char **items;
    size_t count, cap;
} name_list_t;

static int add_name(name_list_t *l, const char *name)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **items = cap <= HTTP_LISTING_ENTRIES
                           ? realloc(l->items, cap * sizeof(*items))
                           : NULL;
        if (!items)
            return -ENOMEM;
        l->items = items;
        l->cap = cap;
    }
    if (!(l->items[l->count] = strdup(name)))
        return -ENOMEM;
    l->count++;
    return 0;
}

static void free_names(name_list_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every name but "." and "..", sorted bytewise. */
static int read_names(DIR *d, name_list_t *names)
{
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int rc = add_name(names, e->d_name);
        if (rc < 0)
            return rc;
    }
    if (names->count)
        qsort(names->items, names->count, sizeof(char *), compare_names);
    return 0;
}

/* One <li>: a directory (symlinks followed) gets a trailing slash. */
static void listing_entry(strbuf_t *page, int dir_fd, const char *name)
{
    struct stat st;
    int is_dir = fstatat(dir_fd, name, &st, 0) == 0 && S_ISDIR(st.st_mode);
    const char *slash = is_dir ? "/" : "";
    sb_add(page, "<li><a href=\"");
    sb_add_url(page, name, "");
    sb_add(page, slash);
    sb_add(page, "\">");
    sb_add_html(page, name);
    sb_add(page, slash);
    sb_add(page, "</a></li>\n");
}

/* "Index of /path/", as HTML: the listing's title and heading. */
static void listing_title(strbuf_t *page, const char *path)
{
    sb_add(page, "Index of /");
    sb_add_html(page, path);
    if (path[0])
        sb_add(page, "/");
}

static void listing_page(strbuf_t *page, const char *path, DIR *d,
                         const name_list_t *names)
{
    sb_add(page, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                 "<title>");
    listing_title(page, path);
    sb_add(page, "</title></head>\n<body><h1>");
    listing_title(page, path);
    sb_add(page, "</h1>\n<ul>\n");
    for (size_t i = 0; i < names->count; i++)
        listing_entry(page, dirfd(d), names->items[i]);
    sb_add(page, "</ul>\n</body></html>\n");
}

/* The listing of the open directory dir_fd (closed here) into page. */
static int build_listing(strbuf_t *page, const char *path, int dir_fd)
{
    DIR *d = fdopendir(dir_fd);
    if (!d) {
        int rc = -errno;
        close(dir_fd);
        return rc;
    }
    name_list_t names = {NULL, 0, 0};
    int rc = read_names(d, &names);
    if (rc == 0)
        listing_page(page, path, d, &names);
    if (rc == 0 && page->failed)
        rc = -ENOMEM;
    free_names(&names);
    closedir(d);
    return rc;
}

/* ---- Answering one request ----------------------------------------------- */

static int send_listing(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                        int dir_fd)
{
    strbuf_t page = {NULL, 0, 0, 0};
    int rc = build_listing(&page, c->path, dir_fd);
    if (rc < 0) {
        free(page.data);
        return send_status_page(req, c, rp, 500);
    }
    rp->status = 200;
    rp->type = "text/html; charset=utf-8";
    rc = send_response(req, c, rp, page.data, page.len);
    free(page.data);
    return rc;
}

/* A directory URL without its slash: 301 to "/path/", rebuilt from the
 * normalised path (never echoing the raw target: "//evil.example" must
 * not become a redirect off-site). */
static int send_redirect(ss_request_t *req, http_conn_t *c, http_reply_t *rp)
{
    strbuf_t location = {NULL, 0, 0, 0};
    sb_add(&location, "/");
    sb_add_url(&location, c->path, "/");
    sb_addn(&location, "/", 2); /* and the NUL */
    if (location.failed)
        return send_status_page(req, c, rp, 500);
    rp->location = location.data;
    int rc = send_status_page(req, c, rp, 301);
    rp->location = NULL;
    free(location.data);
    return rc;
}

static int send_regular(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                        int fd, const struct stat *st, const char *name)
{
    rp->status = 200;
    rp->type = content_type(name);
    int rc = send_file(req, c, rp, fd, (long long)st->st_size);
    close(fd);
    return rc;
}

/* A directory URL: its index.html when that is a file, else a listing. */
static int send_directory(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                          int dir_fd)
{
    int fd;
    struct stat st;
    if (open_inside(c, "index.html", &fd, &st) == 0) {
        if (S_ISREG(st.st_mode)) {
            close(dir_fd);
            return send_regular(req, c, rp, fd, &st, "index.html");
        }
        close(fd);
    }
    return send_listing(req, c, rp, dir_fd);
}

/* GET or HEAD of a target: a file, a directory, a redirect or an error. */
static int serve_target(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                        http_str_t target)
{
    http_str_t path = target_path(target);
    int dir_url = 0;
    int status = path.len ? decode_path(path, c->path) : 400;
    if (status == 0)
        status = normalise_path(c->path, &dir_url);
    int fd = -1;
    struct stat st;
    if (status == 0)
        status = open_inside(c, NULL, &fd, &st);
    if (status == 0 && S_ISDIR(st.st_mode) && dir_url)
        return send_directory(req, c, rp, fd);
    if (status == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return send_redirect(req, c, rp);
    }
    if (status == 0 && S_ISREG(st.st_mode) && !dir_url)
        return send_regular(req, c, rp, fd, &st, c->path);
    if (fd >= 0)
        close(fd); /* a FIFO, a device, or "file.txt/" */
    return send_status_page(req, c, rp, status ? status : 404);
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

/* Answer one parsed request; *keep says whether the connection goes on. */
static int respond(ss_request_t *req, http_conn_t *c, const http_request_t *r,
                   int *keep)
{
    http_reply_t rp = {0, NULL, NULL, wants_keep_alive(r),
                       method_is(r, "HEAD")};
    int rc = rp.head_only || method_is(r, "GET")
                 ? serve_target(req, c, &rp, r->target)
                 : send_status_page(req, c, &rp, 405);
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
    http_reply_t rp = {0, NULL, NULL, 0, 0};
    ss_log_peer(SS_LOG_INFO, "http: %s bad request: %d", ss_peer(req), status);
    return send_status_page(req, c, &rp, status);
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

/* The root was resolved once, by open: a connection only borrows it. */
static int http_setup(ss_request_t *req)
{
    const char *root = ss_handler_data(req);
    if (!root)
        return -EINVAL; /* open refused the server: not reached */
    http_conn_t *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->root = root;
    c->root_len = strlen(root);
    c->have = 0;
    ss_set_data(req, c);
    return 0;
}

static void http_finish(ss_request_t *req)
{
    free(ss_data(req));
    ss_set_data(req, NULL);
}

/* The real path of root in *real (malloc'd) when it is a directory: 0,
 * else -errno.  Resolved once per open (and so again on each reload): the
 * requests' "inside the root" checks compare against it, and every file
 * is still resolved with realpath itself when it is opened. */
static int resolve_root(const char *root, char **real)
{
    struct stat st;
    *real = realpath(root, NULL);
    int rc = *real && stat(*real, &st) == 0 ? 0 : -errno;
    if (rc == 0 && !S_ISDIR(st.st_mode))
        rc = -ENOTDIR;
    if (rc < 0) {
        free(*real);
        *real = NULL;
    }
    return rc;
}

/* .open: a stream server, and a root that is a directory, kept as the
 * server's handler data; else -EINVAL with the reason in err. */
static int http_open(ss_server_t *srv, char *err, size_t errlen)
{
    const char *root = root_option(srv);
    char *real = NULL;
    int datagram = ss_server_config(srv)->datagram;
    int rc = datagram ? -EPROTOTYPE : resolve_root(root, &real);
    if (rc < 0) {
        if (datagram)
            snprintf(err, errlen, "http: needs a stream socket, not --udp");
        else
            snprintf(err, errlen, "http: --root %s: %s", root, strerror(-rc));
        return -EINVAL;
    }
    ss_server_set_handler_data(srv, real);
    return 0;
}

/* After the last request (or, on a reload, once the new root is set). */
static void http_close(ss_server_t *srv)
{
    free(ss_server_handler_data(srv));
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
