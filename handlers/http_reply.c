/* http_reply.c -- what goes back: the status line and fields, the Date
 * (formatted once a second), error pages, and file bodies (the head and
 * the first bytes in one send; the rest by ss_send_file: sendfile where
 * the system has it). */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *http_reason(int status)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {200, "OK"},
        {206, "Partial Content"},
        {301, "Moved Permanently"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {414, "URI Too Long"},
        {416, "Range Not Satisfiable"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < HTTP_COUNT(reasons); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Error";
}

/* ---- Dates --------------------------------------------------------------- */

/* RFC 9110 5.6.7 IMF-fixdate, with English names whatever the locale. */
void http_format_date(char out[HTTP_DATE_LEN + 1], long long t)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                    "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
    time_t now = (time_t)t;
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(out, HTTP_DATE_LEN + 1, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             days[tm.tm_wday % 7], tm.tm_mday % 100, months[tm.tm_mon % 12],
             (tm.tm_year + 1900) % 10000, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100);
}

/* Per thread, so no lock: in the event mode every connection shares one
 * thread and so one formatted date.  time() is a vDSO call on Linux. */
const char *http_date_now(void)
{
    static _Thread_local long long formatted_at = -1;
    static _Thread_local char text[HTTP_DATE_LEN + 1];
    long long now = (long long)time(NULL);
    if (now != formatted_at) {
        http_format_date(text, now);
        formatted_at = now;
    }
    return text;
}

/* ---- The head -------------------------------------------------------------
 * Built by appending, which costs far less than one big snprintf on the
 * path every request takes. */

typedef struct head {
    char *p, *end;
    int overflow;
} head_t;

static void put(head_t *h, const char *s, size_t n)
{
    if (h->overflow || (size_t)(h->end - h->p) < n) {
        h->overflow = 1;
        return;
    }
    memcpy(h->p, s, n);
    h->p += n;
}

static void puts_(head_t *h, const char *s)
{
    put(h, s, strlen(s));
}

static void put_num(head_t *h, long long n)
{
    char digits[24];
    size_t i = sizeof(digits);
    unsigned long long u = n < 0 ? 0 : (unsigned long long)n;
    do
        digits[--i] = (char)('0' + u % 10);
    while (u /= 10);
    put(h, digits + i, sizeof(digits) - i);
}

static void put_field(head_t *h, const char *name, const char *value)
{
    puts_(h, name);
    puts_(h, value);
    put(h, "\r\n", 2);
}

/* Content-Range of a 206 (first-last/size) or a 416 (star/size). */
static void put_content_range(head_t *h, const http_reply_t *rp)
{
    puts_(h, "Content-Range: bytes ");
    if (rp->status == 206) {
        put_num(h, rp->first);
        put(h, "-", 1);
        put_num(h, rp->last);
    } else {
        put(h, "*", 1);
    }
    put(h, "/", 1);
    put_num(h, rp->file->size);
    put(h, "\r\n", 2);
}

/* A file's validators, on its 200, 206 and 304. */
static void put_validators(head_t *h, const http_file_t *f)
{
    char date[HTTP_DATE_LEN + 1], etag[HTTP_ETAG_MAX];
    http_format_date(date, (long long)f->mtime.tv_sec);
    http_etag(etag, f);
    put_field(h, "Last-Modified: ", date);
    put_field(h, "ETag: ", etag);
    puts_(h, "Accept-Ranges: bytes\r\n");
}

/* The status line and fields into out: the head's length, or -EOVERFLOW
 * when it does not fit.  A 304 has neither Content-Type nor
 * Content-Length (as nginx: it describes no body). */
static int format_head(char *out, size_t cap, const http_reply_t *rp,
                       long long length)
{
    head_t h = {out, out + cap, 0};
    puts_(&h, "HTTP/1.1 ");
    put_num(&h, rp->status);
    put(&h, " ", 1);
    puts_(&h, http_reason(rp->status));
    puts_(&h, "\r\nServer: socketserver/" SS_VERSION "\r\n");
    put_field(&h, "Date: ", http_date_now());
    if (rp->status != 304) {
        put_field(&h, "Content-Type: ", rp->type);
        puts_(&h, "Content-Length: ");
        put_num(&h, length);
        put(&h, "\r\n", 2);
    }
    if (rp->file && (rp->status == 206 || rp->status == 416))
        put_content_range(&h, rp);
    if (rp->file && rp->status != 416)
        put_validators(&h, rp->file);
    if (rp->location)
        put_field(&h, "Location: ", rp->location);
    if (rp->status == 405)
        puts_(&h, "Allow: GET, HEAD\r\n");
    put_field(&h, "Connection: ", rp->keep_alive ? "keep-alive" : "close");
    put(&h, "\r\n", 2);
    return h.overflow ? -EOVERFLOW : (int)(h.p - out);
}

/* ---- Sending ------------------------------------------------------------- */

/* The head and as much body as fits go out in one send: a head and body
 * in two small writes would wait on Nagle and the client's delayed ACK. */
int http_send_response(ss_request_t *req, http_conn_t *c,
                       const http_reply_t *rp, const char *body, size_t len)
{
    int head = format_head(c->out, sizeof(c->out), rp, (long long)len);
    if (head < 0)
        return head;
    if (rp->head_only || rp->status == 304)
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

int http_send_status_page(ss_request_t *req, http_conn_t *c, http_reply_t *rp,
                          int status)
{
    char body[256];
    const char *reason = http_reason(status);
    int n = snprintf(body, sizeof(body),
                     "<!DOCTYPE html>\n<html><head><title>%d %s</title>"
                     "</head>\n<body><h1>%d %s</h1></body></html>\n",
                     status, reason, status, reason);
    rp->status = status;
    rp->type = "text/html; charset=utf-8";
    return http_send_response(req, c, rp, body, (size_t)n);
}

/* len bytes of fd at off into buf, retrying interrupted and short reads:
 * 0, or -EIO when the file ended first (it shrank since its fstat: the
 * connection must end, so the client sees a short body, never a wrong
 * one), or -errno. */
static int read_at(int fd, char *buf, size_t len, long long off)
{
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        buf += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

/* The body's first bytes ride with the head: a small file is one send. */
int http_send_file(ss_request_t *req, http_conn_t *c, const http_reply_t *rp,
                   const http_file_t *f)
{
    long long first = rp->status == 206 ? rp->first : 0;
    long long len = rp->status == 206 ? rp->last - first + 1 : f->size;
    int head = format_head(c->out, sizeof(c->out), rp, len);
    if (head < 0 || rp->head_only)
        return head < 0 ? head : ss_send_all(req, c->out, (size_t)head);
    size_t room = sizeof(c->out) - (size_t)head;
    size_t now = len < (long long)room ? (size_t)len : room;
    int rc = 0;
    if (f->fd < 0)
        memcpy(c->out + head, f->body + first, now);
    else
        rc = read_at(f->fd, c->out + head, now, first);
    if (rc == 0)
        rc = ss_send_all(req, c->out, (size_t)head + now);
    if (rc < 0 || (long long)now == len)
        return rc;
    if (f->fd < 0)
        return ss_send_all(req, f->body + first + now, (size_t)(len - now));
    return ss_send_file(req, f->fd, first + (long long)now,
                        len - (long long)now);
}
