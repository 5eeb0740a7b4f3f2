/* http_cond.c -- conditional requests (RFC 9110 13) and ranges (RFC 9110
 * 14).  Pure functions of the request's fields and a file's size and
 * mtime: no I/O.
 *
 * Validators: Last-Modified is the mtime in whole seconds; the ETag is
 * strong, made of the mtime (seconds and nanoseconds) and the size, as
 * nginx's (which has no nanoseconds).  If-None-Match compares weakly,
 * If-Range strongly (RFC 9110 8.8.3.2). */
#include "http.h"

#include <stdio.h>
#include <string.h>

/* ---- HTTP-dates ---------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): timegm() is not in POSIX. */
static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int month_index(const char *name)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (strncmp(months + 3 * i, name, 3) == 0 && strlen(name) == 3)
            return i + 1;
    return 0;
}

/* The three forms RFC 9110 5.6.7 says a recipient must accept. */
static int scan_date(const char *s, int *d, char *mon, long long *y, int *h,
                     int *mi, int *sec)
{
    char day[16], zone[4];
    int end = 0;
    if (sscanf(s, "%3[A-Za-z], %2d %3s %4lld %2d:%2d:%2d %3s%n", day, d, mon, y,
               h, mi, sec, zone, &end) == 8 &&
        strcmp(zone, "GMT") == 0 && s[end] == '\0')
        return 0; /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(s, "%15[A-Za-z], %2d-%3s-%2lld %2d:%2d:%2d %3s%n", day, d, mon,
               y, h, mi, sec, zone, &end) == 8 &&
        strcmp(zone, "GMT") == 0 && s[end] == '\0') {
        *y += *y < 70 ? 2000 : 1900; /* RFC 850: Sunday, 06-Nov-94 ... */
        return 0;
    }
    if (sscanf(s, "%3[A-Za-z] %3s %2d %2d:%2d:%2d %4lld%n", day, mon, d, h, mi,
               sec, y, &end) == 7 &&
        s[end] == '\0')
        return 0; /* asctime: Sun Nov  6 08:49:37 1994 */
    return -1;
}

long long http_parse_date(http_str_t v)
{
    char s[64], mon[4];
    int d, h, mi, sec;
    long long y;
    if (!v.ptr || v.len == 0 || v.len >= sizeof(s))
        return -1;
    memcpy(s, v.ptr, v.len);
    s[v.len] = '\0';
    if (scan_date(s, &d, mon, &y, &h, &mi, &sec) < 0)
        return -1;
    int m = month_index(mon);
    if (!m || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return -1;
    return days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + sec;
}

/* ---- Entity tags ----------------------------------------------------------
 */

void http_etag(char out[HTTP_ETAG_MAX], const http_file_t *f)
{
    snprintf(out, HTTP_ETAG_MAX, "\"%llx.%lx-%llx\"",
             (unsigned long long)f->mtime.tv_sec,
             (unsigned long)f->mtime.tv_nsec, (unsigned long long)f->size);
}

/* One member of a comma-separated list: *p moves past it and its comma;
 * the member without surrounding white space.  Quoted commas stay inside
 * (an entity-tag may hold one). */
static http_str_t next_member(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t' || **p == ','))
        (*p)++;
    const char *start = *p;
    int quoted = 0;
    while (*p < end && (quoted || **p != ',')) {
        quoted ^= **p == '"';
        (*p)++;
    }
    const char *stop = *p;
    while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
        stop--;
    return (http_str_t){start, (size_t)(stop - start)};
}

static int tag_equal(http_str_t tag, const char *etag)
{
    return tag.len == strlen(etag) && memcmp(tag.ptr, etag, tag.len) == 0;
}

/* RFC 9110 13.1.2: "*" matches any current file; otherwise any member
 * equal to ours, a weak one too (W/ dropped). */
static int none_match_hits(http_str_t v, const char *etag)
{
    const char *p = v.ptr, *end = v.ptr + v.len;
    while (p < end) {
        http_str_t tag = next_member(&p, end);
        if (tag.len == 1 && tag.ptr[0] == '*')
            return 1;
        if (tag.len > 2 && tag.ptr[0] == 'W' && tag.ptr[1] == '/')
            tag = (http_str_t){tag.ptr + 2, tag.len - 2};
        if (tag_equal(tag, etag))
            return 1;
    }
    return 0;
}

int http_not_modified(const http_request_t *r, const http_file_t *f)
{
    if (r->if_none_match.ptr) { /* present: If-Modified-Since is ignored */
        char etag[HTTP_ETAG_MAX];
        http_etag(etag, f);
        return r->if_none_match.len && none_match_hits(r->if_none_match, etag);
    }
    long long since = http_parse_date(r->if_modified_since);
    return since >= 0 && (long long)f->mtime.tv_sec <= since;
}

/* ---- Ranges -------------------------------------------------------------- */

/* Decimal digits from *p, at most 18 (no overflow): the value, or -1 when
 * there are none. */
static long long parse_digits(const char **p, const char *end)
{
    long long n = 0;
    int count = 0;
    while (*p < end && **p >= '0' && **p <= '9' && count < 19) {
        n = n * 10 + (**p - '0');
        (*p)++;
        count++;
    }
    return count == 0 || count > 18 ? -1 : n;
}

/* If-Range: the range applies only to the file the client has part of:
 * the same strong ETag, or exactly its Last-Modified date. */
static int if_range_holds(const http_request_t *r, const http_file_t *f)
{
    http_str_t v = r->if_range;
    if (!v.ptr)
        return 1;
    if (v.len && v.ptr[0] == '"') {
        char etag[HTTP_ETAG_MAX];
        http_etag(etag, f);
        return tag_equal(v, etag);
    }
    long long date = http_parse_date(v); /* W/"...": -1, never equal */
    return date >= 0 && date == (long long)f->mtime.tv_sec;
}

/* One "first-last", "first-" or "-suffix" against size. */
static int range_spec(const char *p, const char *end, long long size,
                      long long *first, long long *last)
{
    long long a = parse_digits(&p, end);
    if (p == end || *p != '-')
        return 200; /* malformed: ignored */
    p++;
    long long b = p < end ? parse_digits(&p, end) : -1;
    if (p != end || (a < 0 && b < 0) || (a >= 0 && b >= 0 && b < a))
        return 200;
    if (a < 0) { /* the last b bytes */
        if (b == 0 || size == 0)
            return 416;
        *first = b < size ? size - b : 0;
        *last = size - 1;
        return 206;
    }
    if (a >= size)
        return 416;
    *first = a;
    *last = b >= 0 && b < size ? b : size - 1;
    return 206;
}

/* A single range only: several (bytes=0-1,5-9) get the whole file with
 * 200, which RFC 9110 14.2 allows (a server may ignore Range); nginx
 * would send multipart/byteranges. */
int http_range(const http_request_t *r, const http_file_t *f, long long *first,
               long long *last)
{
    http_str_t v = r->range;
    if (!v.ptr || v.len < 6 || !if_range_holds(r, f))
        return 200;
    if (!http_str_equal_nocase((http_str_t){v.ptr, 6}, "bytes="))
        return 200; /* another unit: ignored */
    const char *p = v.ptr + 6, *end = v.ptr + v.len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (memchr(p, ',', (size_t)(end - p)))
        return 200;
    return range_spec(p, end, f->size, first, last);
}
