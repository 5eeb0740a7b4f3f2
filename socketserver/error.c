/* error.c -- the library's one way to fail with a message, and the words
 * for its return codes. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Write the message into the caller's buffer when there is one (NULL or
 * 0 bytes: none; a short one: cut, NUL-terminated) and return rc. */
int ss__fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

const char *ss_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "success";
    case SS_EWORKERS:
        return "workers keep failing to start";
    default:
        return rc < 0 ? strerror(-rc) : "not an error code";
    }
}
