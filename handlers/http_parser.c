/* http_parser.c -- see http_parser.h.  Every loop is bounded by len and
 * every index is checked against it before use; nothing is written but
 * *out. */
#include "http_parser.h"

#include <string.h>

/* find_line results. */
enum { LINE_FOUND, LINE_MORE, LINE_TOO_LONG };

/* One line: its content is buf[start..end), the next line starts at next. */
typedef struct line {
    size_t start, end, next;
} line_t;

/* ---- Character classes (RFC 9110 5.6.2, 5.5; RFC 9112 3.2) ------------- */

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_tchar(unsigned char c)
{
    if (is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The request target: visible ASCII, so no spaces and no controls. */
static int is_target_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

/* A field value: visible ASCII, space, tab and obs-text (bytes >= 0x80). */
static int is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* A host name's bytes (RFC 3986 3.2.2 reg-name: unreserved, sub-delims,
 * pct-encoded), or an IP literal's inside its brackets (hex, '.', ':'). */
static int is_host_char(unsigned char c)
{
    if (is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != '\0' && strchr("-._~!$&'()*+,;=%", c) != NULL;
}

static int is_literal_char(unsigned char c)
{
    return is_host_char(c) || c == ':';
}

static int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* The first byte of p..end not in the class (end when all are). */
static const char *span(const char *p, const char *end,
                        int (*in_class)(unsigned char))
{
    while (p < end && in_class((unsigned char)*p))
        p++;
    return p;
}

static http_str_t trim_ows(const char *p, const char *end)
{
    while (p < end && is_ows((unsigned char)*p))
        p++;
    while (end > p && is_ows((unsigned char)end[-1]))
        end--;
    return (http_str_t){p, (size_t)(end - p)};
}

int http_str_equal_nocase(http_str_t s, const char *text)
{
    size_t n = strlen(text);
    if (s.len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.ptr[i]) != lower((unsigned char)text[i]))
            return 0;
    return 1;
}

/* ---- Lines -------------------------------------------------------------- */

/* Find the line starting at buf[start] (start <= len) whose content may be
 * at most max bytes.  Only max + 2 bytes are ever searched, so a reader
 * learns LINE_TOO_LONG as soon as max + 2 bytes hold no line end. */
static int find_line(const char *buf, size_t len, size_t start, size_t max,
                     line_t *line)
{
    size_t avail = len - start;
    if (avail == 0)
        return LINE_MORE; /* also keeps memchr away from an empty buffer */
    size_t limit = avail < max + 2 ? avail : max + 2;
    const char *lf = memchr(buf + start, '\n', limit);
    if (!lf)
        return avail > max + 1 ? LINE_TOO_LONG : LINE_MORE;
    line->start = start;
    line->end = (size_t)(lf - buf);
    line->next = line->end + 1;
    if (line->end > start && buf[line->end - 1] == '\r')
        line->end--;
    return line->end - start > max ? LINE_TOO_LONG : LINE_FOUND;
}

/* Whether the unfinished request line so far can still become a valid
 * one: only printable ASCII, with a CR at most as its last byte.  Binary
 * bytes (a TLS hello, noise) get their 400 at once instead of waiting for
 * a line end that may never come. */
static int partial_line_plausible(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (!(c >= 0x20 && c < 0x7f) && !(c == '\r' && i + 1 == len))
            return 0;
    }
    return 1;
}

/* ---- The request line: METHOD SP TARGET SP HTTP/D.D ------------------- */

static int parse_version(const char *p, const char *end, http_request_t *out)
{
    if (end - p != 8 || memcmp(p, "HTTP/", 5) != 0 ||
        !is_digit((unsigned char)p[5]) || p[6] != '.' ||
        !is_digit((unsigned char)p[7]))
        return 400;
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return 505;
    out->version_minor = p[7] - '0';
    return HTTP_PARSE_COMPLETE;
}

static int parse_request_line(const char *p, const char *end,
                              http_request_t *out)
{
    const char *sp = span(p, end, is_tchar);
    if (sp == p || sp == end || *sp != ' ')
        return 400;
    out->method = (http_str_t){p, (size_t)(sp - p)};
    const char *target = sp + 1;
    sp = span(target, end, is_target_char);
    if (sp == target || sp == end || *sp != ' ')
        return 400;
    out->target = (http_str_t){target, (size_t)(sp - target)};
    return parse_version(sp + 1, end, out);
}

/* ---- Header fields the handler needs ------------------------------------ */

/* RFC 9110 7.2's uri-host [":" port]: a reg-name or "[IP literal]", then
 * at most one colon and digits.  Empty, or with a space, a '/', a '@'
 * (anything a URI would end the authority at or reread): not a host. */
static int host_is_valid(http_str_t v)
{
    const char *p = v.ptr, *end = v.ptr + v.len;
    if (p < end && *p == '[') {
        const char *close = span(p + 1, end, is_literal_char);
        if (close == end || *close != ']' || close == p + 1)
            return 0;
        p = close + 1;
    } else {
        p = span(p, end, is_host_char);
        if (p == v.ptr)
            return 0;
    }
    if (p < end && *p == ':')
        p = span(p + 1, end, is_digit);
    return p == end;
}

/* RFC 9112 3.2: exactly one Host, a valid one; kept for the handler. */
static int apply_host(http_str_t value, http_request_t *out)
{
    if (out->host.ptr || !host_is_valid(value))
        return 400;
    out->host = value;
    return HTTP_PARSE_COMPLETE;
}

/* A comma-separated list of options; only close and keep-alive matter. */
static int apply_connection(http_str_t value, http_request_t *out)
{
    const char *p = value.ptr, *end = value.ptr + value.len;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        http_str_t option = trim_ows(p, stop);
        out->connection_close |= http_str_equal_nocase(option, "close");
        out->connection_keep_alive |=
            http_str_equal_nocase(option, "keep-alive");
        if (!comma)
            return HTTP_PARSE_COMPLETE;
        p = comma + 1;
    }
}

/* Digits only, at most 18 of them (no overflow); repeats must agree
 * (RFC 9112 6.3: anything else is a framing error). */
static int apply_content_length(http_str_t value, http_request_t *out)
{
    if (value.len == 0 || value.len > 18)
        return 400;
    long long n = 0;
    for (size_t i = 0; i < value.len; i++) {
        if (!is_digit((unsigned char)value.ptr[i]))
            return 400;
        n = n * 10 + (value.ptr[i] - '0');
    }
    if (out->content_length >= 0 && out->content_length != n)
        return 400;
    out->content_length = n;
    return HTTP_PARSE_COMPLETE;
}

/* Only chunked is a coding this server knows (as nginx); any other, or a
 * list of several, is answered 501 once the head is whole. */
static int apply_transfer_encoding(http_str_t value, http_request_t *out)
{
    out->transfer_encoding = 1;
    out->transfer_coding_unknown |= !http_str_equal_nocase(value, "chunked");
    return HTTP_PARSE_COMPLETE;
}

/* The fields the handler evaluates itself.  A second one of a kind
 * makes it unusable (len 0): two Ranges or two dates cannot both hold,
 * and two If-None-Match lists are rare enough to forgo a 304 for. */
static int keep_view(http_str_t value, http_str_t *field)
{
    *field = field->ptr ? (http_str_t){field->ptr, 0} : value;
    return HTTP_PARSE_COMPLETE;
}

static int apply_if_modified_since(http_str_t value, http_request_t *out)
{
    return keep_view(value, &out->if_modified_since);
}

static int apply_if_none_match(http_str_t value, http_request_t *out)
{
    return keep_view(value, &out->if_none_match);
}

static int apply_range(http_str_t value, http_request_t *out)
{
    return keep_view(value, &out->range);
}

static int apply_if_range(http_str_t value, http_request_t *out)
{
    return keep_view(value, &out->if_range);
}

static const struct known_field {
    const char *name;
    int (*apply)(http_str_t value, http_request_t *out);
} known_fields[] = {
    {"host", apply_host},
    {"connection", apply_connection},
    {"content-length", apply_content_length},
    {"transfer-encoding", apply_transfer_encoding},
    {"if-modified-since", apply_if_modified_since},
    {"if-none-match", apply_if_none_match},
    {"range", apply_range},
    {"if-range", apply_if_range},
};

/* NAME ":" OWS VALUE OWS.  No space before the colon, no obs-fold (a line
 * starting with a space fails the token check), no control bytes. */
static int parse_field(const char *p, const char *end, http_request_t *out)
{
    const char *colon = span(p, end, is_tchar);
    if (colon == p || colon == end || *colon != ':')
        return 400;
    if (span(colon + 1, end, is_field_char) != end)
        return 400;
    http_str_t name = {p, (size_t)(colon - p)};
    http_str_t value = trim_ows(colon + 1, end);
    size_t n = sizeof(known_fields) / sizeof(known_fields[0]);
    for (size_t i = 0; i < n; i++)
        if (http_str_equal_nocase(name, known_fields[i].name))
            return known_fields[i].apply(value, out);
    return HTTP_PARSE_COMPLETE;
}

/* What only the whole head can tell: HTTP/1.1 needs a Host; a body framed
 * two ways is a smuggling attempt (RFC 9112 6.1), and so is a
 * Transfer-Encoding in HTTP/1.0, which has none (RFC 9112 6.1: nginx
 * refuses it too); a coding other than chunked is not implemented. */
static int check_head(const http_request_t *out)
{
    if (out->version_minor == 1 && !out->host.ptr)
        return 400;
    if (out->transfer_encoding &&
        (out->content_length >= 0 || out->version_minor == 0))
        return 400;
    if (out->transfer_coding_unknown)
        return 501;
    return HTTP_PARSE_COMPLETE;
}

/* Field lines from buf[first] up to the empty line; the whole section,
 * empty line included, is at most HTTP_MAX_HEADER_BYTES. */
static int parse_fields(const char *buf, size_t len, size_t first,
                        http_request_t *out)
{
    size_t pos = first;
    for (;;) {
        line_t line;
        size_t budget = HTTP_MAX_HEADER_BYTES - (pos - first);
        int rc = find_line(buf, len, pos, budget, &line);
        if (rc == LINE_MORE)
            return HTTP_PARSE_INCOMPLETE;
        if (rc == LINE_TOO_LONG || line.next - first > HTTP_MAX_HEADER_BYTES)
            return 431;
        if (line.end == line.start) {
            out->head_length = line.next;
            return check_head(out);
        }
        if (++out->header_count > HTTP_MAX_HEADERS)
            return 431;
        rc = parse_field(buf + line.start, buf + line.end, out);
        if (rc != HTTP_PARSE_COMPLETE)
            return rc;
        pos = line.next;
    }
}

int http_parse_request(const char *buf, size_t len, http_request_t *out)
{
    memset(out, 0, sizeof(*out));
    out->content_length = -1;
    line_t line;
    int rc = find_line(buf, len, 0, HTTP_MAX_REQUEST_LINE, &line);
    if (rc == LINE_MORE)
        return partial_line_plausible(buf, len) ? HTTP_PARSE_INCOMPLETE : 400;
    if (rc == LINE_TOO_LONG)
        return 414;
    rc = parse_request_line(buf + line.start, buf + line.end, out);
    if (rc != HTTP_PARSE_COMPLETE)
        return rc;
    return parse_fields(buf, len, line.next, out);
}
