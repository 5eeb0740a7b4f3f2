/* proxy.h -- private: HAProxy's PROXY protocol (haproxy's
 * doc/proxy-protocol.txt), the parsing half.  Pure functions: no I/O, no
 * allocation, no globals; any bytes are safe to hand them.  Reading the
 * header off a connection is the caller's job. */
#ifndef SOCKETSERVER_PROXY_H
#define SOCKETSERVER_PROXY_H

#include "internal.h"

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* v1: the longest line the spec allows, CRLF included ("PROXY UNKNOWN"
 * with two full IPv6 addresses and two 5-digit ports). */
#define SS_PROXY_V1_MAX 107

/* v2: the longest header accepted, the 16 fixed bytes included.  The wire
 * allows 16 + 65535, but real senders emit a few hundred bytes at most (two
 * Unix paths are 216, the usual TLVs -- SSL, authority, unique id, a cloud
 * endpoint id -- a few hundred more).  4096 is generous for them, bounds
 * what a client can make a server hold before its first request byte, and
 * is the size of the read-ahead buffer a request already has, so a caller
 * can read the whole header into that buffer.  Longer: "header longer than
 * allowed". */
#define SS_PROXY_MAX_HEADER 4096
_Static_assert(SS_PROXY_MAX_HEADER <= SS_READ_AHEAD,
               "a PROXY header must fit the request's read-ahead buffer");

/* Version mask for ss__proxy_parse: the public ss_proxy_id_t's values
 * (SS_PROXY_V1 1, SS_PROXY_V2 2, SS_PROXY_AUTO both) are the mask. */
#define SS_PROXY_ANY SS_PROXY_AUTO
_Static_assert(SS_PROXY_AUTO == (SS_PROXY_V1 | SS_PROXY_V2),
               "the config's value is the parser's version mask");

typedef struct ss_proxy_header {
    int version; /* 1 or 2 */
    /* v2 LOCAL command, v2 UNSPEC family or v1 "UNKNOWN": the
     * connection's own addresses stand. */
    int local;
    struct sockaddr_storage src, dst;
    socklen_t src_len, dst_len; /* 0 when local */
    size_t length;              /* bytes the header took */
} ss_proxy_header_t;

/* Parse the PROXY header at the start of buf, of a version allowed by
 * versions (SS_PROXY_V1, SS_PROXY_V2 or SS_PROXY_ANY).  Returns:
 *   > 0      the header's length (out filled; the caller's data follows);
 *   0        buf is a valid start of a header: read more and call again
 *            (a v1 line never needs more than SS_PROXY_V1_MAX bytes, a v2
 *            header 16 + its declared length, at most SS_PROXY_MAX_HEADER);
 *   -EPROTO  not a valid header: *why says what was wrong;
 *   -EINVAL  versions has no allowed version, or out is NULL.
 * out is written only on success; why may be NULL, and is set to NULL
 * when the return is not negative. */
int ss__proxy_parse(const void *buf, size_t len, int versions,
                    ss_proxy_header_t *out, const char **why);

/* ---- Who may send a header ---------------------------------------------- */
#define SS_PROXY_TRUST_MAX 32

typedef struct ss_proxy_net {
    int family;    /* AF_INET or AF_INET6 */
    unsigned bits; /* the prefix length */
    unsigned char addr[16];
} ss_proxy_net_t;

typedef struct ss_proxy_trust {
    int unix_ok; /* peers on Unix sockets are trusted */
    unsigned count;
    ss_proxy_net_t nets[SS_PROXY_TRUST_MAX];
} ss_proxy_trust_t;

/* A comma-separated list of addresses, CIDRs and the word "unix" ("127.0.0.1,
 * 10.0.0.0/8, ::1, fd00::/8, unix"; spaces around entries are allowed).
 * NULL or "" gives the default: 127.0.0.0/8, ::1 and unix.  A CIDR with bits
 * set past its prefix (10.0.0.1/8) is refused: what was meant is unclear,
 * and this list decides who may claim any address.  0, or -EINVAL with the
 * entry named in err and out trusting nothing. */
int ss__proxy_trust_parse(const char *list, ss_proxy_trust_t *out, char *err,
                          size_t errlen);

/* 1 when peer is trusted to send a header, else 0.  An IPv4-mapped IPv6
 * peer (::ffff:a.b.c.d, a dual-stack listener's IPv4 client) matches the
 * IPv4 entries as well as the IPv6 ones. */
int ss__proxy_trusted(const ss_proxy_trust_t *t, const struct sockaddr *peer,
                      socklen_t len);

#endif /* SOCKETSERVER_PROXY_H */
