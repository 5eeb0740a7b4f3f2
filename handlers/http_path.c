/* http_path.c -- from a request target to a path relative to the root.
 * Pure functions: no I/O, every loop bounded by its input. */
#include "http.h"

#include <string.h>

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* lower case */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Origin-form "/p?q" or absolute-form "http://host/p?q".  Any other form
 * ("*", "host:port", "p") gets length 0, which is answered with a 400. */
static http_str_t path_and_rest(http_str_t target)
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
        if (!p) /* "http://host" or "http://host?q": the root */
            return (http_str_t){root, 1};
    }
    if (p == end || *p != '/')
        return (http_str_t){p, 0};
    return (http_str_t){p, (size_t)(end - p)};
}

http_str_t http_target_path(http_str_t target)
{
    http_str_t p = path_and_rest(target);
    size_t n = 0;
    while (n < p.len && p.ptr[n] != '?' && p.ptr[n] != '#')
        n++;
    return (http_str_t){p.ptr, n};
}

/* The query stays as the client sent it: the parser let through only
 * visible ASCII, so it cannot break a header line. */
http_str_t http_target_query(http_str_t target)
{
    const char *end = target.ptr + target.len;
    const char *q = memchr(target.ptr, '?', target.len);
    if (!q)
        return (http_str_t){target.ptr, 0};
    const char *hash = memchr(q, '#', (size_t)(end - q));
    return (http_str_t){q, (size_t)((hash ? hash : end) - q)};
}

int http_decode_path(http_str_t path, char *dst)
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
        if (c == '\0' || c == '\\') /* '\\' separates paths elsewhere */
            return 400;
        dst[n++] = (char)c;
    }
    dst[n] = '\0';
    return 0;
}

/* Drop the last segment written to path[0..*w): the ".." of a segment;
 * 0, or 400 when there is none (it would climb above the root). */
static int pop_segment(const char *path, size_t *w)
{
    if (*w == 0)
        return 400;
    while (*w > 0 && path[*w - 1] != '/')
        (*w)--;
    if (*w > 0)
        (*w)--; /* and the slash before it */
    return 0;
}

/* Segment by segment, as Python (posixpath.normpath) and nginx resolve
 * them: ".." is removed with the segment before it, which is what a
 * browser does before sending.  Dot segments are lexical here, before
 * any file is opened: a symlink does not change what "a/.." means. */
int http_normalise_path(char *path, int *dir_url)
{
    size_t len = strlen(path), w = 0, i = 0;
    *dir_url = len > 0 && path[len - 1] == '/';
    while (i < len) {
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        size_t seg = i - start;
        int last = i >= len;
        i++; /* past the slash */
        int dot = seg == 1 && path[start] == '.';
        int dotdot = seg == 2 && path[start] == '.' && path[start + 1] == '.';
        if ((dot || dotdot) && last)
            *dir_url = 1; /* "/a/." and "/a/b/.." name a directory */
        if (dotdot && pop_segment(path, &w))
            return 400;
        if (seg == 0 || dot || dotdot)
            continue;
        if (w > 0)
            path[w++] = '/';
        memmove(path + w, path + start, seg); /* w <= start: never ahead */
        w += seg;
    }
    path[w] = '\0';
    return 0;
}
