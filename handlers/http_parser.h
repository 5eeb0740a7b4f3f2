/* http_parser.h -- a pure HTTP/1.x request-head parser.
 *
 * http_parse_request() looks at the bytes received so far and says whether
 * they hold a whole request head (request line, header fields, empty line),
 * need more bytes, or are an error with the HTTP status to answer.  It does
 * no I/O and no allocation, reads only buf[0..len), and its work is linear
 * in len: it is safe on arbitrary bytes and meant to be fuzzed directly.
 *
 * Line ends are CRLF or a bare LF (RFC 9112 2.2 lets a recipient accept LF;
 * Python's http.server does).  A CR anywhere else is an error.
 *
 * Limits: a request line of at most HTTP_MAX_REQUEST_LINE bytes (else 414),
 * a header section of at most HTTP_MAX_HEADER_BYTES bytes and
 * HTTP_MAX_HEADERS fields (else 431).  Once len reaches
 * HTTP_MAX_REQUEST_BYTES the answer is never HTTP_PARSE_INCOMPLETE, so a
 * reader with a buffer of that size always gets a verdict. */
#ifndef SS_HTTP_PARSER_H
#define SS_HTTP_PARSER_H

#include <stddef.h>

#define HTTP_MAX_REQUEST_LINE 8192  /* bytes, without the line end */
#define HTTP_MAX_HEADER_BYTES 16384 /* every field line with its line end */
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_REQUEST_BYTES                                                 \
    (HTTP_MAX_REQUEST_LINE + 2 + HTTP_MAX_HEADER_BYTES + 2)

/* Results besides an HTTP error status (400, 414, 431, 501, 505). */
#define HTTP_PARSE_COMPLETE 0
#define HTTP_PARSE_INCOMPLETE 1

/* A view into the parsed buffer: not NUL-terminated. */
typedef struct http_str {
    const char *ptr;
    size_t len;
} http_str_t;

typedef struct http_request {
    http_str_t method;           /* a token: "GET", "HEAD", "POST", ... */
    http_str_t target;           /* visible ASCII, no spaces: "/a%20b?x=1" */
    int version_minor;           /* 0 or 1: HTTP/1.0 or HTTP/1.1 */
    http_str_t host;             /* the Host field (ptr NULL when absent) */
    int connection_close;        /* Connection: close */
    int connection_keep_alive;   /* Connection: keep-alive */
    long long content_length;    /* -1 when absent */
    int transfer_encoding;       /* a Transfer-Encoding field was sent */
    int transfer_coding_unknown; /* ...naming something else than chunked */
    /* Conditional and range fields, as sent (ptr NULL when absent; a
     * field sent twice has len 0, and is ignored as unusable). */
    http_str_t if_modified_since;
    http_str_t if_none_match;
    http_str_t range;
    http_str_t if_range;
    size_t header_count;
    size_t head_length; /* bytes of the request head, empty line included */
} http_request_t;

/* Parse the request head at the start of buf[0..len).  Returns
 * HTTP_PARSE_COMPLETE (out filled; the head is out->head_length bytes and
 * any body or next request follows it), HTTP_PARSE_INCOMPLETE (a valid
 * prefix: read more), or the status to answer: 400 (malformed, a missing,
 * repeated or malformed Host -- empty, a space, a '/' -- a bad or
 * conflicting Content-Length, Transfer-Encoding in HTTP/1.0 or beside a
 * Content-Length), 414 (request line too long), 431 (header section too
 * large or too many fields), 501 (a transfer coding other than chunked),
 * 505 (HTTP/x.y other than 1.0 and 1.1).  out is overwritten in
 * every case; its views point into buf. */
int http_parse_request(const char *buf, size_t len, http_request_t *out);

/* ASCII case-insensitive equality of a view and a C string. */
int http_str_equal_nocase(http_str_t s, const char *text);

#endif
