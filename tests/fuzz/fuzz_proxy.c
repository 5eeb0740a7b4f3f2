/* fuzz_proxy -- the PROXY header parser on arbitrary bytes, checking what
 * its callers rely on, not only that it does not crash:
 *   - a header's length is within the buffer and is out->length; a "read
 *     more" (0) only while the buffer is shorter than the header could be;
 *     a refusal always says why; out is untouched unless a header parsed;
 *   - every prefix of a header asks for more (0), never parses and never
 *     refuses: a caller reading byte by byte sees the same result;
 *   - the version mask only filters: the "either" answer is the answer of
 *     the mask for the header's own version, the other mask refuses;
 *   - what was parsed is what was sent: v1 fields formatted back (IPv4
 *     byte for byte, IPv6 as the same 16 bytes, ports byte for byte) and
 *     v2 address blocks compared with the wire.
 * The same bytes as text are also a trust list: what it accepts has at
 * most 32 entries, each trusting its own address. */
#include "../../socketserver/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_proxy: %s (line %d)\n", #cond, __LINE__);    \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The address and port of a parsed IPv4/IPv6 endpoint. */
static const unsigned char *ip_bytes(const struct sockaddr_storage *ss,
                                     unsigned *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        *port = ntohs(in->sin_port);
        return (const unsigned char *)&in->sin_addr;
    }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    *port = ntohs(in6->sin6_port);
    return (const unsigned char *)&in6->sin6_addr;
}

/* A v1 field (text of n bytes) names the endpoint: the address as
 * inet_ntop writes it back (IPv4) or as the same bytes (IPv6). */
static void check_v1_addr(const char *text, size_t n,
                          const struct sockaddr_storage *ss)
{
    unsigned port;
    const unsigned char *a = ip_bytes(ss, &port);
    int fam = ss->ss_family;
    char field[INET6_ADDRSTRLEN], back[INET6_ADDRSTRLEN];
    unsigned char again[16];
    REQUIRE(n < sizeof(field));
    memcpy(field, text, n);
    field[n] = '\0';
    REQUIRE(inet_ntop(fam, a, back, sizeof(back)) != NULL);
    if (fam == AF_INET)
        REQUIRE(strcmp(field, back) == 0);
    REQUIRE(inet_pton(fam, field, again) == 1);
    REQUIRE(memcmp(again, a, fam == AF_INET ? 4 : 16) == 0);
}

/* "PROXY TCPx src dst sport dport\r\n": each field against the result. */
static void check_v1(const char *line, size_t len, const ss_proxy_header_t *h)
{
    const char *f[7];
    size_t flen[7], nf = 0, start = 0;
    REQUIRE(len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n');
    for (size_t i = 0; i <= len - 2 && nf < 7; i++)
        if (i == len - 2 || line[i] == ' ') {
            f[nf] = line + start;
            flen[nf++] = i - start;
            start = i + 1;
        }
    REQUIRE(flen[0] == 5 && memcmp(f[0], "PROXY", 5) == 0);
    if (h->local) {
        REQUIRE(flen[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0);
        return;
    }
    REQUIRE(nf == 6 && flen[1] == 4);
    REQUIRE(f[1][3] == (h->src.ss_family == AF_INET ? '4' : '6'));
    REQUIRE(h->dst.ss_family == h->src.ss_family);
    check_v1_addr(f[2], flen[2], &h->src);
    check_v1_addr(f[3], flen[3], &h->dst);
    unsigned sport, dport;
    char ports[16];
    ip_bytes(&h->src, &sport);
    ip_bytes(&h->dst, &dport);
    snprintf(ports, sizeof(ports), "%u", sport);
    REQUIRE(strlen(ports) == flen[4] && !memcmp(ports, f[4], flen[4]));
    snprintf(ports, sizeof(ports), "%u", dport);
    REQUIRE(strlen(ports) == flen[5] && !memcmp(ports, f[5], flen[5]));
}

/* A 108-byte Unix address on the wire: its bytes, as many as the length
 * says -- none (unnamed), the path and its NUL, or all 108. */
static void check_unix(const unsigned char *wire,
                       const struct sockaddr_storage *ss, socklen_t len)
{
    const size_t base = offsetof(struct sockaddr_un, sun_path);
    struct sockaddr_un un;
    memcpy(&un, ss, sizeof(un));
    REQUIRE(un.sun_family == AF_UNIX && len >= base);
    size_t n = len - base, path = strnlen((const char *)wire, 108);
    REQUIRE(n == 0 || n == 108 || (path && n == path + 1));
    REQUIRE(memcmp(un.sun_path, wire, n) == 0);
}

/* The v2 address block on the wire is what was parsed. */
static void check_v2(const unsigned char *p, const ss_proxy_header_t *h)
{
    int fam = p[13] >> 4;
    REQUIRE(p[12] == 0x21 && fam >= 1 && fam <= 3);
    if (fam == 3) {
        check_unix(p + 16, &h->src, h->src_len);
        check_unix(p + 124, &h->dst, h->dst_len);
        return;
    }
    size_t alen = fam == 1 ? 4 : 16;
    unsigned sport, dport;
    REQUIRE(h->src.ss_family == (fam == 1 ? AF_INET : AF_INET6));
    REQUIRE(memcmp(ip_bytes(&h->src, &sport), p + 16, alen) == 0);
    REQUIRE(memcmp(ip_bytes(&h->dst, &dport), p + 16 + alen, alen) == 0);
    REQUIRE(sport == (unsigned)(p[16 + 2 * alen] << 8 | p[17 + 2 * alen]));
    REQUIRE(dport == (unsigned)(p[18 + 2 * alen] << 8 | p[19 + 2 * alen]));
}

/* The return's contract for buf, whatever it is. */
static int parse_checked(const uint8_t *buf, size_t len, int versions,
                         ss_proxy_header_t *h)
{
    const char *why = "unset";
    memset(h, 0xA5, sizeof(*h));
    int rc = ss__proxy_parse(buf, len, versions, h, &why);
    if (rc > 0) {
        REQUIRE((size_t)rc <= len && h->length == (size_t)rc && !why);
        REQUIRE(h->version == (buf[0] == 'P' ? 1 : 2));
        REQUIRE((size_t)rc <=
                (h->version == 1 ? SS_PROXY_V1_MAX : SS_PROXY_MAX_HEADER));
        REQUIRE(h->local ? !h->src_len && !h->dst_len
                         : h->src_len && h->dst_len);
        return rc;
    }
    REQUIRE(h->version == (int)0xA5A5A5A5); /* out untouched */
    if (rc < 0) {
        REQUIRE(rc == -EPROTO && why && *why);
        return rc;
    }
    REQUIRE(!why);
    if (len && buf[0] == 'P')
        REQUIRE(len < SS_PROXY_V1_MAX);
    else if (len >= 16)
        REQUIRE(len < 16 + (size_t)(buf[14] << 8 | buf[15]));
    REQUIRE(len < SS_PROXY_MAX_HEADER);
    return 0;
}

static void fuzz_header(const uint8_t *data, size_t size)
{
    ss_proxy_header_t h, h1, h2;
    int rc = parse_checked(data, size, SS_PROXY_ANY, &h);
    int rc1 = parse_checked(data, size, SS_PROXY_V1, &h1);
    int rc2 = parse_checked(data, size, SS_PROXY_V2, &h2);
    if (size && data[0] == 'P')
        REQUIRE(rc1 == rc && (rc2 < 0));
    else if (size && data[0] == '\r')
        REQUIRE(rc2 == rc && (rc1 < 0));
    else if (size)
        REQUIRE(rc < 0 && rc1 < 0 && rc2 < 0);
    if (rc <= 0)
        return;
    REQUIRE(memcmp(&h, h.version == 1 ? &h1 : &h2, sizeof(h)) == 0);
    /* Every prefix asks for more; the one just short of the header in a
     * buffer of its own size, so a read past it is seen. */
    uint8_t *cut = malloc((size_t)rc);
    REQUIRE(cut != NULL);
    memcpy(cut, data, (size_t)rc - 1);
    REQUIRE(parse_checked(cut, (size_t)rc - 1, SS_PROXY_ANY, &h1) == 0);
    free(cut);
    for (size_t k = 0; k + 1 < (size_t)rc; k++)
        REQUIRE(parse_checked(data, k, SS_PROXY_ANY, &h1) == 0);
    if (h.version == 1)
        check_v1((const char *)data, (size_t)rc, &h);
    else if (!h.local)
        check_v2(data, &h);
}

static void fuzz_trust(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    ss_proxy_trust_t t;
    char err[128];
    if (ss__proxy_trust_parse(text, &t, err, sizeof(err)) == 0) {
        REQUIRE(t.count <= SS_PROXY_TRUST_MAX);
        for (unsigned i = 0; i < t.count; i++) {
            const ss_proxy_net_t *n = &t.nets[i];
            struct sockaddr_storage ss = {.ss_family = (sa_family_t)n->family};
            socklen_t len = sizeof(struct sockaddr_in6);
            if (n->family == AF_INET) {
                REQUIRE(n->bits <= 32);
                len = sizeof(struct sockaddr_in);
                memcpy(&((struct sockaddr_in *)&ss)->sin_addr, n->addr, 4);
            } else {
                REQUIRE(n->family == AF_INET6 && n->bits <= 128);
                memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, n->addr, 16);
            }
            REQUIRE(ss__proxy_trusted(&t, (struct sockaddr *)&ss, len));
        }
    } else {
        REQUIRE(t.count == 0 && !t.unix_ok && strstr(err, "bad trusted"));
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_header(data, size);
    if (size < 1024)
        fuzz_trust(data, size);
    return 0;
}
