/* http_strbuf.c -- a small growing text buffer (listings, redirects),
 * with the escapes HTML and URLs need. */
#include "http.h"

#include <stdlib.h>
#include <string.h>

void sb_addn(strbuf_t *sb, const char *s, size_t n)
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

void sb_add(strbuf_t *sb, const char *s)
{
    sb_addn(sb, s, strlen(s));
}

/* Text as HTML: the five characters that could end an element or an
 * attribute value become entities. */
void sb_add_html(strbuf_t *sb, const char *s)
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
void sb_add_url(strbuf_t *sb, const char *s, const char *keep)
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
