/* http.h -- the http handler's parts, private to handlers/http*.c:
 *
 *   http.c          the conversation: read a head, answer it, again
 *   http_path.c     from a request target to a path under the root (pure)
 *   http_cond.c     conditional requests and ranges (pure)
 *   http_mime.c     Content-Type by extension (pure)
 *   http_strbuf.c   a growing text buffer with HTML and URL escaping
 *   http_listing.c  directory listings
 *   http_reply.c    response heads, the Date, status pages, file bodies
 *   http_open.c     opening a path beneath the root descriptor
 *   http_cache.c    the open-file cache of small files
 *
 * Calls go from http.c to the others, and from http_reply.c and
 * http_listing.c to http_strbuf.c, never back. */
#ifndef SS_HTTP_H
#define SS_HTTP_H

#include "handlers.h"
#include "http_parser.h"

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#define HTTP_CHUNK 16384                   /* file bytes per read and send */
#define HTTP_HEAD_ROOM 1024                /* a response head, Location aside */
#define HTTP_LISTING_MAX (4 * 1024 * 1024) /* bytes of a listing page */
#define HTTP_LISTING_ENTRIES 65536         /* names in a listing */
#define HTTP_ETAG_MAX 64                   /* an ETag with its quotes */
#define HTTP_DATE_LEN 29                   /* "Sun, 06 Nov 1994 08:49:37 GMT" */
#define HTTP_COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct http_cache http_cache_t;

/* The server's: resolved once by open, shared by every connection. */
typedef struct http_site {
    char *real;          /* the root's real path (for messages) */
    int root_fd;         /* the root directory, opened once */
    http_cache_t *cache; /* small files' bytes, NULL when none */
} http_site_t;

/* A file being answered: from a descriptor, or from the cache's copy. */
typedef struct http_file {
    int fd;           /* open, or -1: the bytes are in body */
    const char *body; /* the whole file, when fd < 0 */
    long long size;
    struct timespec mtime;
    const char *type; /* Content-Type */
} http_file_t;

/* A connection's state: malloc'd in setup, since coroutine stacks are
 * small.  in[] holds the request head being read and whatever pipelined
 * bytes came after it; cached[] a cached file's copy while it is sent. */
typedef struct http_conn {
    http_site_t *site;
    size_t have; /* bytes in in[] */
    char in[HTTP_MAX_REQUEST_BYTES];
    char path[HTTP_MAX_REQUEST_LINE + 16]; /* decoded, relative; + leaf */
    char out[HTTP_HEAD_ROOM + HTTP_CHUNK];
    char cached[HTTP_CHUNK];
} http_conn_t;

/* The response being made: filled in step by step, then sent. */
typedef struct http_reply {
    int status;
    const char *type;        /* Content-Type; NULL: none (304) */
    const char *location;    /* 301: where to */
    int keep_alive;          /* the connection stays open after it */
    int head_only;           /* HEAD: the head, no body */
    const http_file_t *file; /* a file's validators and Accept-Ranges */
    long long first, last;   /* 206: the range sent; 416: first < 0 */
} http_reply_t;

/* ---- http_path.c: target to path ---------------------------------------- */

/* The path of an origin-form or absolute-form target, without query or
 * fragment; length 0 for any other form (answered 400). */
http_str_t http_target_path(http_str_t target);
/* The "?query" of the target, '?' included; length 0 when none. */
http_str_t http_target_query(http_str_t target);
/* Percent-decode exactly once into dst (room for path.len + 1): 0, or 400
 * for a bad escape, NUL or backslash. */
int http_decode_path(http_str_t path, char *dst);
/* In place, RFC 3986 5.2.4 with empty segments dropped: "/a//./b/../c/"
 * becomes "a/c", relative to the root.  A ".." that would climb above the
 * root: 400.  *dir_url: whether the path ended with a slash (or a dot
 * segment). */
int http_normalise_path(char *path, int *dir_url);

/* ---- http_cond.c: conditional requests and ranges ----------------------- */

/* An HTTP-date (IMF-fixdate, RFC 850 or asctime): seconds since the
 * epoch, or -1 when it is none. */
long long http_parse_date(http_str_t v);
/* The strong ETag of a file: its mtime and size, quoted. */
void http_etag(char out[HTTP_ETAG_MAX], const http_file_t *f);
/* Whether a GET or HEAD of f gets 304 (RFC 9110 13.2.2: If-None-Match
 * wins over If-Modified-Since). */
int http_not_modified(const http_request_t *r, const http_file_t *f);
/* The part of f a GET asks for: 200 (the whole file: no Range, a
 * multi-range, a malformed one, or a failed If-Range), 206 with
 * *first..*last, or 416. */
int http_range(const http_request_t *r, const http_file_t *f, long long *first,
               long long *last);

/* ---- http_mime.c --------------------------------------------------------- */

const char *http_content_type(const char *name);

/* ---- http_strbuf.c ------------------------------------------------------- */

/* Appends never fail loudly: the first failure sets failed and later
 * appends do nothing, so builders check once at the end. */
typedef struct strbuf {
    char *data;
    size_t len, cap;
    int failed;
} strbuf_t;

void sb_addn(strbuf_t *sb, const char *s, size_t n);
void sb_add(strbuf_t *sb, const char *s);
void sb_add_html(strbuf_t *sb, const char *s);
void sb_add_url(strbuf_t *sb, const char *s, const char *keep);

/* ---- http_listing.c ------------------------------------------------------ */

/* The listing of the open directory dir_fd (closed here) into page: 0 or
 * -errno. */
int http_build_listing(strbuf_t *page, const char *path, int dir_fd);

/* ---- http_reply.c -------------------------------------------------------- */

const char *http_reason(int status);
/* Now as an IMF-fixdate, formatted at most once a second per thread. */
const char *http_date_now(void);
void http_format_date(char out[HTTP_DATE_LEN + 1], long long t);
/* The head and len bytes of body (none for HEAD) in one send when they
 * fit. */
int http_send_response(ss_request_t *req, http_conn_t *c,
                       const http_reply_t *rp, const char *body, size_t len);
/* An error or redirect page: status and reason in a few lines of HTML. */
int http_send_status_page(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                          int status);
/* A file, or rp->first..rp->last of it (206): the head with the first
 * bytes in one send, the rest with sendfile or reads. */
int http_send_file(ss_request_t *req, http_conn_t *c, const http_reply_t *rp,
                   const http_file_t *f);

/* ---- http_open.c --------------------------------------------------------- */

/* Open path (relative, normalised; "" is the root) beneath root_fd, every
 * symlink resolved inside the root: 0 with *fd, or -errno (-EXDEV: it
 * leads out).  openat2(RESOLVE_BENEATH) where the build has it, else
 * http_open_walk. */
int http_open_beneath(int root_fd, const char *path, int *fd);
/* The portable way: one openat(O_NOFOLLOW) per component, symlinks read
 * and resolved here, never above the root. */
int http_open_walk(int root_fd, const char *path, int *fd);

/* ---- http_cache.c -------------------------------------------------------- */

#define HTTP_CACHE_FILE_MAX HTTP_CHUNK /* bytes of a cached file */

http_cache_t *http_cache_new(void);
void http_cache_free(http_cache_t *cache);
/* A hit copies the file into buf (HTTP_CACHE_FILE_MAX bytes) and fills f
 * (fd -1): 1; else 0.  An entry is checked against the file system (an
 * fstatat beneath root_fd) at most once a second. */
int http_cache_get(http_cache_t *cache, int root_fd, const char *path,
                   http_file_t *f, char *buf);
/* Remember a small regular file's bytes under path. */
void http_cache_put(http_cache_t *cache, const char *path,
                    const struct stat *st, const char *bytes, const char *type);

#endif
