/* fuzz_http -- the HTTP request-head parser on arbitrary bytes, in a buffer
 * of exactly their size (ASan sees any read past it).  What it reports must
 * be one of its documented answers, and a complete head must lie inside
 * the buffer with its views pointing into it. */
#include "../../handlers/http_parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int inside(http_str_t s, const char *buf, size_t len)
{
    return !s.ptr || (s.ptr >= buf && s.ptr + s.len <= buf + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    http_request_t req;
    int rc = http_parse_request(buf, size, &req);
    int known = rc == HTTP_PARSE_COMPLETE || rc == HTTP_PARSE_INCOMPLETE ||
                rc == 400 || rc == 414 || rc == 431 || rc == 501 || rc == 505;
    if (!known)
        abort();
    if (rc == HTTP_PARSE_INCOMPLETE && size >= HTTP_MAX_REQUEST_BYTES)
        abort(); /* a full buffer always gets a verdict */
    if (rc == HTTP_PARSE_COMPLETE &&
        (req.head_length > size || !inside(req.method, buf, size) ||
         !inside(req.target, buf, size) || !inside(req.host, buf, size)))
        abort();
    free(buf);
    return 0;
}
