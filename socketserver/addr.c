/* addr.c -- address strings: "HOST:PORT", "[IPV6]:PORT", "unix:PATH".
 *
 * Parsing is a pure function over the text (so it can be fuzzed); name
 * resolution is left to getaddrinfo in server.c. */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_error(char *err, size_t errlen, const char *text,
                       const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "invalid address '%s': %s", text, why);
    return -1;
}

/* A port is 1 to 5 decimal digits, at most 65535 (0: pick one). */
static int parse_port(const char *p, char out[6])
{
    size_t n = strlen(p);
    if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
        return -1;
    if (strtol(p, NULL, 10) > 65535)
        return -1;
    memcpy(out, p, n + 1);
    return 0;
}

static int parse_unix(const char *text, ss_addr_parts_t *out, char *err,
                      size_t errlen)
{
    const char *path = text + 5;
    if (*path == '\0')
        return parse_error(err, errlen, text, "empty socket path");
    if (strlen(path) >= sizeof(out->path))
        return parse_error(err, errlen, text, "socket path too long");
    out->is_unix = 1;
    strcpy(out->path, path);
    return 0;
}

/* Split HOST:PORT at the last colon; an IPv6 host must be in brackets so
 * that its own colons are not mistaken for the separator. */
int ss__addr_parse(const char *text, ss_addr_parts_t *out, char *err,
                   size_t errlen)
{
    static const char usage[] = "expected HOST:PORT, [IPV6]:PORT or unix:PATH";
    memset(out, 0, sizeof(*out));
    if (!text || !*text)
        return parse_error(err, errlen, text ? text : "", usage);
    if (strncmp(text, "unix:", 5) == 0)
        return parse_unix(text, out, err, errlen);

    const char *host = text, *host_end, *port;
    if (*text == '[') {
        host = text + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':')
            return parse_error(err, errlen, text, usage);
        port = host_end + 2;
    } else {
        host_end = strrchr(text, ':');
        if (!host_end || memchr(text, ':', (size_t)(host_end - text)))
            return parse_error(err, errlen, text, usage);
        port = host_end + 1;
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len >= sizeof(out->host))
        return parse_error(err, errlen, text, "host name too long");
    if (parse_port(port, out->port) < 0)
        return parse_error(err, errlen, text,
                           "port must be a number from 0 to 65535");
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    return 0;
}

int ss_address_check(const char *address, char *err, size_t errlen)
{
    ss_addr_parts_t parts;
    return ss__addr_parse(address, &parts, err, errlen) < 0 ? -EINVAL : 0;
}

/* Numeric text for a socket address, in the form ss__addr_parse reads. */
void ss__addr_format(const struct sockaddr *sa, socklen_t len, char *buf,
                     size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(buf, cap, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(buf, cap, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t n = len > off ? (size_t)len - off : 0;
        /* An unnamed socket has no path; an abstract one starts with NUL. */
        if (n > 0 && un->sun_path[0] != '\0')
            snprintf(buf, cap, "unix:%.*s", (int)strnlen(un->sun_path, n),
                     un->sun_path);
        else
            snprintf(buf, cap, "unix:");
    } else {
        snprintf(buf, cap, "(family %d)", (int)sa->sa_family);
    }
}
