/* proxy.c -- the PROXY protocol header (v1 text, v2 binary) and the list
 * of peers trusted to send one.  See proxy.h; the spec is haproxy's
 * doc/proxy-protocol.txt.  Every function here is pure: the bytes come
 * from a client, so each index is checked against the length first. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/un.h>

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static int refuse(const char **why, const char *msg)
{
    if (why)
        *why = msg;
    return -EPROTO;
}

/* ---- v1: "PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r\n" ------------------------ */

/* The fields after "PROXY ", in order, each ended by one space. */
enum { F_PROTO, F_SRC, F_DST, F_SPORT, F_DPORT, F_COUNT };

static const char *const v1_bad[F_COUNT] = {
    "v1: unknown protocol",        "v1: bad source address",
    "v1: bad destination address", "v1: bad source port",
    "v1: bad destination port",
};

/* Whether tok (n bytes) is one of the protocols, or when open (more bytes
 * may come) the start of one.  *family: AF_INET, AF_INET6 or AF_UNSPEC. */
static int v1_proto(const char *tok, size_t n, int open, int *family)
{
    static const char *const names[] = {"TCP4", "TCP6", "UNKNOWN"};
    static const int families[] = {AF_INET, AF_INET6, AF_UNSPEC};
    for (size_t i = 0; i < 3; i++) {
        size_t nl = strlen(names[i]);
        if ((n == nl || (open && n < nl)) && memcmp(tok, names[i], n) == 0) {
            *family = families[i];
            return 0;
        }
    }
    return -1;
}

/* An address of the family; when open, a start of one (the characters and
 * the length could still make one).  The spec forbids IPv4's leading
 * zeros (octal confusion); some inet_pton accept them, so check here. */
static int v1_addr(const char *tok, size_t n, int open, int family,
                   struct sockaddr_storage *ss, socklen_t *sl)
{
    const char *ok =
        family == AF_INET ? "0123456789." : "0123456789abcdefABCDEF:.";
    size_t max = family == AF_INET ? 15 : INET6_ADDRSTRLEN - 1;
    if (n > max || (!open && n == 0))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!memchr(ok, tok[i], strlen(ok)))
            return -1;
        if (family == AF_INET && tok[i] == '0' &&
            (i == 0 || tok[i - 1] == '.') && i + 1 < n && tok[i + 1] != '.')
            return -1;
    }
    if (open)
        return 0;
    char text[INET6_ADDRSTRLEN];
    memcpy(text, tok, n);
    text[n] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        *sl = sizeof(*in);
        return inet_pton(AF_INET, text, &in->sin_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    *sl = sizeof(*in6);
    return inet_pton(AF_INET6, text, &in6->sin6_addr) == 1 ? 0 : -1;
}

/* A port 0..65535 in decimal, no leading zero, sign or space; when open, a
 * start of one.  Written into ss, whose address is already there. */
static int v1_port(const char *tok, size_t n, int open,
                   struct sockaddr_storage *ss)
{
    unsigned long v = 0;
    if (n > 5 || (!open && n == 0) || (n > 1 && tok[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(tok[i] - '0');
    }
    if (v > 65535)
        return -1;
    in_port_t port = htons((in_port_t)v);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = port;
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = port;
    return 0;
}

static int v1_field(int f, const char *tok, size_t n, int open, int *family,
                    ss_proxy_header_t *h)
{
    switch (f) {
    case F_PROTO:
        return v1_proto(tok, n, open, family);
    case F_SRC:
        return v1_addr(tok, n, open, *family, &h->src, &h->src_len);
    case F_DST:
        return v1_addr(tok, n, open, *family, &h->dst, &h->dst_len);
    case F_SPORT:
        return v1_port(tok, n, open, &h->src);
    default:
        return v1_port(tok, n, open, &h->dst);
    }
}

/* The fields of a line, s being what follows "PROXY " up to the CRLF
 * (complete), or the bytes there are so far (partial: the last field may
 * still grow).  0 when valid so far, or -EPROTO.  A missing field is an
 * empty one, and refused as that field. */
static int v1_fields(const char *s, size_t n, int partial, ss_proxy_header_t *h,
                     const char **why)
{
    int family = AF_UNSPEC, ended = 0;
    size_t pos = 0;
    const char *sp = NULL;
    for (int f = 0; f < F_COUNT; f++) {
        size_t left = ended ? 0 : n - pos;
        const char *tok = s + pos;
        sp = left ? memchr(tok, ' ', left) : NULL;
        size_t tlen = sp ? (size_t)(sp - tok) : left;
        int open = partial && !sp;
        if (v1_field(f, tok, tlen, open, &family, h) < 0)
            return refuse(why, v1_bad[f]);
        if (open)
            return 0;
        if (f == F_PROTO && family == AF_UNSPEC) {
            h->local = 1; /* UNKNOWN: the rest of the line is ignored */
            return 0;
        }
        if (sp)
            pos += tlen + 1;
        else
            ended = 1;
    }
    return sp ? refuse(why, "v1: data after the destination port") : 0;
}

static int v1_parse(const unsigned char *p, size_t len, ss_proxy_header_t *h,
                    const char **why)
{
    size_t n = len < SS_PROXY_V1_MAX ? len : SS_PROXY_V1_MAX;
    if (memcmp(p, "PROXY ", n < 6 ? n : 6) != 0)
        return refuse(why, "not a PROXY header");
    const unsigned char *lf = memchr(p, '\n', n);
    if (lf) {
        size_t end = (size_t)(lf - p); /* >= 6: "PROXY " has no LF */
        if (p[end - 1] != '\r')
            return refuse(why, "v1: line ends in LF without CR");
        int rc = v1_fields((const char *)p + 6, end - 7, 0, h, why);
        return rc < 0 ? rc : (int)end + 1;
    }
    /* No LF yet: the line may go on only while its CRLF can still come
     * within the limit. */
    if (len >= SS_PROXY_V1_MAX ||
        (len == SS_PROXY_V1_MAX - 1 && p[len - 1] != '\r'))
        return refuse(why, "v1: line longer than 107 bytes");
    if (n <= 6)
        return 0;
    /* A CR last can only be followed by the LF: the line is complete but
     * for it, so check it as complete. */
    int cr = p[n - 1] == '\r';
    int rc = v1_fields((const char *)p + 6, n - 6 - (size_t)cr, !cr, h, why);
    return rc < 0 ? rc : 0;
}

/* ---- v2: 16 fixed bytes, addresses, TLVs -------------------------------- */

/* The address block's size for a command and family byte: 0 when the
 * addresses are to be ignored (LOCAL, whose family is ignored too, and
 * UNSPEC), or -1 when the family byte is not one the spec lists. */
static int v2_addr_size(int cmd, int fam)
{
    if (cmd == 0)
        return 0;
    switch (fam) {
    case 0x00:
        return 0;
    case 0x11:
    case 0x12:
        return 12;
    case 0x21:
    case 0x22:
        return 36;
    case 0x31:
    case 0x32:
        return 216;
    default:
        return -1;
    }
}

/* One 108-byte Unix address off the wire.  A path (NUL-terminated unless
 * it fills the field) gets the length getpeername would give it; all
 * zeros is an unnamed socket; a leading NUL then bytes is an abstract
 * name, whose length the wire does not say: the whole field is kept. */
static int v2_unix(const unsigned char *p, struct sockaddr_storage *ss,
                   socklen_t *sl)
{
    struct sockaddr_un un;
    size_t cap = sizeof(un.sun_path), n = strnlen((const char *)p, 108);
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    size_t copy = n, extra = n < cap ? 1 : 0;
    if (n == 0) {
        static const unsigned char zeros[108];
        copy = memcmp(p, zeros, 108) == 0 ? 0 : 108;
        extra = 0;
    }
    if (copy > cap) /* a system whose sun_path is shorter than 108 */
        return -1;
    memcpy(un.sun_path, p, copy);
    memcpy(ss, &un, sizeof(un));
    *sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + copy + extra);
    return 0;
}

static int v2_addresses(const unsigned char *p, int fam, ss_proxy_header_t *h)
{
    if (fam >> 4 == 3) {
        if (v2_unix(p, &h->src, &h->src_len) < 0)
            return -1;
        return v2_unix(p + 108, &h->dst, &h->dst_len);
    }
    if (fam >> 4 == 1) {
        struct sockaddr_in s = {.sin_family = AF_INET}, d = s;
        memcpy(&s.sin_addr, p, 4);
        memcpy(&d.sin_addr, p + 4, 4);
        memcpy(&s.sin_port, p + 8, 2);
        memcpy(&d.sin_port, p + 10, 2);
        memcpy(&h->src, &s, sizeof(s));
        memcpy(&h->dst, &d, sizeof(d));
        h->src_len = h->dst_len = sizeof(s);
        return 0;
    }
    struct sockaddr_in6 s = {.sin6_family = AF_INET6}, d = s;
    memcpy(&s.sin6_addr, p, 16);
    memcpy(&d.sin6_addr, p + 16, 16);
    memcpy(&s.sin6_port, p + 32, 2);
    memcpy(&d.sin6_port, p + 34, 2);
    memcpy(&h->src, &s, sizeof(s));
    memcpy(&h->dst, &d, sizeof(d));
    h->src_len = h->dst_len = sizeof(s);
    return 0;
}

/* The TLVs after the addresses: each (type, 16-bit length, value) must end
 * within the header, as haproxy requires; their contents are skipped. */
static int v2_tlvs(const unsigned char *p, size_t n)
{
    while (n) {
        if (n < 3 || 3 + ((size_t)p[1] << 8 | p[2]) > n)
            return -1;
        size_t step = 3 + ((size_t)p[1] << 8 | p[2]);
        p += step;
        n -= step;
    }
    return 0;
}

static int v2_parse(const unsigned char *p, size_t len, ss_proxy_header_t *h,
                    const char **why)
{
    if (memcmp(p, v2_sig, len < 12 ? len : 12) != 0)
        return refuse(why, "v2: bad signature");
    if (len < 13)
        return 0;
    if (p[12] >> 4 != 2)
        return refuse(why, "v2: unknown version");
    int cmd = p[12] & 0x0F;
    if (cmd > 1)
        return refuse(why, "v2: unknown command");
    if (len < 14)
        return 0;
    int need = v2_addr_size(cmd, p[13]);
    if (need < 0)
        return refuse(why, "v2: bad family");
    if (len < 16)
        return 0;
    size_t body = (size_t)p[14] << 8 | p[15];
    if (16 + body > SS_PROXY_MAX_HEADER)
        return refuse(why, "v2: header longer than allowed");
    if (body < (size_t)need)
        return refuse(why, "v2: length too short for the addresses");
    if (len < 16 + body)
        return 0;
    if (need > 0 && v2_addresses(p + 16, p[13], h) < 0)
        return refuse(why, "v2: unix path too long for this system");
    if (need > 0 && v2_tlvs(p + 16 + need, body - (size_t)need) < 0)
        return refuse(why, "v2: TLV runs past the header");
    h->local = need == 0;
    return (int)(16 + body);
}

int ss__proxy_parse(const void *buf, size_t len, int versions,
                    ss_proxy_header_t *out, const char **why)
{
    const unsigned char *p = buf;
    if (!out || (versions & ~SS_PROXY_ANY) || !(versions & SS_PROXY_ANY) ||
        (!buf && len)) {
        if (why)
            *why = "bad arguments";
        return -EINVAL;
    }
    if (why)
        *why = NULL;
    if (len == 0)
        return 0;
    /* A header of a version not allowed is named as such (a sender set up
     * for the wrong version is a common mistake); other bytes are no
     * header at all, or a broken one of the version their first byte
     * starts. */
    int v1 = memcmp(p, "PROXY ", len < 6 ? len : 6) == 0;
    int v2 = memcmp(p, v2_sig, len < 12 ? len : 12) == 0;
    if (v1 && !(versions & SS_PROXY_V1))
        return refuse(why, "a v1 header, but only v2 is allowed");
    if (v2 && !(versions & SS_PROXY_V2))
        return refuse(why, "a v2 header, but only v1 is allowed");
    ss_proxy_header_t h; /* a copy: out is left alone unless all is well */
    memset(&h, 0, sizeof(h));
    if (p[0] == 'P' && (versions & SS_PROXY_V1))
        h.version = 1;
    else if (p[0] == v2_sig[0] && (versions & SS_PROXY_V2))
        h.version = 2;
    else
        return refuse(why, "not a PROXY header");
    int rc =
        h.version == 1 ? v1_parse(p, len, &h, why) : v2_parse(p, len, &h, why);
    if (rc <= 0)
        return rc;
    if (h.local)
        h.src_len = h.dst_len = 0;
    h.length = (size_t)rc;
    *out = h;
    return rc;
}

/* ---- Trusted senders ---------------------------------------------------- */

/* Whether the first bits of a and b agree. */
static int prefix_match(const unsigned char *a, const unsigned char *b,
                        unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return 0;
    unsigned char mask = (unsigned char)(0xFF << (8 - rest));
    return rest == 0 || ((a[whole] ^ b[whole]) & mask) == 0;
}

/* "addr" or "addr/bits" (bits in decimal, no sign or leading zero) into
 * net: 0, or -1 with *reason set. */
static int trust_net(const char *s, size_t n, ss_proxy_net_t *net,
                     const char **reason)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    char text[INET6_ADDRSTRLEN];
    *reason = "not an address, a CIDR or \"unix\"";
    if (alen == 0 || alen >= sizeof(text))
        return -1;
    memcpy(text, s, alen);
    text[alen] = '\0';
    net->family = memchr(text, ':', alen) ? AF_INET6 : AF_INET;
    if (inet_pton(net->family, text, net->addr) != 1)
        return -1;
    unsigned max = net->family == AF_INET ? 32 : 128;
    net->bits = max;
    if (slash) {
        const char *b = slash + 1;
        size_t blen = n - alen - 1;
        unsigned long v = 0;
        *reason = "bad prefix length";
        if (blen == 0 || blen > 3 || (blen > 1 && b[0] == '0'))
            return -1;
        for (size_t i = 0; i < blen; i++) {
            if (b[i] < '0' || b[i] > '9')
                return -1;
            v = v * 10 + (unsigned long)(b[i] - '0');
        }
        if (v > max)
            return -1;
        net->bits = (unsigned)v;
    }
    /* Bits past the prefix: 10.0.0.1/8 may mean /32 or 10.0.0.0/8. */
    unsigned char masked[16];
    memcpy(masked, net->addr, sizeof(masked));
    *reason = "address bits set past the prefix";
    for (unsigned i = net->bits; i < max; i++)
        masked[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
    return memcmp(masked, net->addr, max / 8) == 0 ? 0 : -1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int ss__proxy_trust_parse(const char *list, ss_proxy_trust_t *out, char *err,
                          size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!list || !*list)
        list = "127.0.0.0/8,::1,unix";
    for (const char *s = list;; s++) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        while (n && is_blank(*s))
            s++, n--;
        while (n && is_blank(s[n - 1]))
            n--;
        const char *reason = NULL, *bad = NULL;
        int shown = n > 64 ? 64 : (int)n;
        if (n == 0)
            reason = "empty entry";
        else if (n == 4 && memcmp(s, "unix", 4) == 0)
            out->unix_ok = 1;
        else if (out->count == SS_PROXY_TRUST_MAX)
            reason = "more than 32 addresses";
        else if (trust_net(s, n, &out->nets[out->count], &bad) == 0)
            out->count++;
        else
            reason = bad;
        if (reason) {
            memset(out, 0, sizeof(*out));
            return ss__fail(err, errlen, -EINVAL,
                            "bad trusted proxy '%.*s%s': %s", shown, s,
                            n > 64 ? "..." : "", reason);
        }
        if (!comma)
            return 0;
        s = comma;
    }
}

int ss__proxy_trusted(const ss_proxy_trust_t *t, const struct sockaddr *peer,
                      socklen_t len)
{
    unsigned char a[16];
    int family;
    if (!t || !peer || len < (socklen_t)sizeof(sa_family_t))
        return 0;
    if (peer->sa_family == AF_UNIX)
        return t->unix_ok;
    if (peer->sa_family == AF_INET &&
        len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy(&in, peer, sizeof(in));
        memcpy(a, &in.sin_addr, 4);
        family = AF_INET;
    } else if (peer->sa_family == AF_INET6 &&
               len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, peer, sizeof(in6));
        memcpy(a, &in6.sin6_addr, 16);
        family = AF_INET6;
    } else {
        return 0;
    }
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xFF, 0xFF};
    int is_mapped = family == AF_INET6 && memcmp(a, mapped, 12) == 0;
    for (unsigned i = 0; i < t->count && i < SS_PROXY_TRUST_MAX; i++) {
        const ss_proxy_net_t *net = &t->nets[i];
        if (net->family == family && prefix_match(net->addr, a, net->bits))
            return 1;
        if (is_mapped && net->family == AF_INET &&
            prefix_match(net->addr, a + 12, net->bits))
            return 1;
    }
    return 0;
}
