/* test_proxy.c -- the PROXY protocol parser: the spec's examples, every
 * refusal with its reason, a 0 (read more) at every split of a valid
 * header, the version mask, and the trusted-sender lists. */
#include "helpers.h"

#include "../socketserver/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* ---- Helpers ------------------------------------------------------------ */

/* Every prefix shorter than the header asks for more bytes, and the whole
 * header (followed by a request, which is not taken) parses to its
 * length.  hdr is copied into a buffer of its exact size so that the
 * sanitizers see any read past it. */
static void check_splits(const void *hdr, size_t len, int versions)
{
    ss_proxy_header_t h;
    const char *why = "unset";
    unsigned char *buf = malloc(len + 8);
    CU_ASSERT_FATAL(buf != NULL);
    for (size_t k = 0; k < len; k++) {
        unsigned char *cut = malloc(k ? k : 1);
        memcpy(cut, hdr, k);
        int rc = ss__proxy_parse(cut, k, versions, &h, &why);
        if (!CHECK(rc == 0))
            ts_note("prefix of %zu bytes: %d (%s)", k, rc, why ? why : "");
        free(cut);
    }
    memcpy(buf, hdr, len);
    memcpy(buf + len, "GET / \r\n", 8);
    CHECK(ss__proxy_parse(buf, len + 8, versions, &h, &why) == (int)len);
    CHECK(h.length == len);
    CHECK(why == NULL);
    free(buf);
}

/* The address and port in sa, as text: "1.2.3.4 80" or "::1 80". */
static void addr_text(const struct sockaddr_storage *ss, socklen_t len,
                      char *buf, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET && len == sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6 &&
               len == sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(buf, cap, "%s %u", host, port);
}

static void check_addrs(const ss_proxy_header_t *h, const char *src,
                        const char *dst)
{
    char s[64], d[64];
    addr_text(&h->src, h->src_len, s, sizeof(s));
    addr_text(&h->dst, h->dst_len, d, sizeof(d));
    if (!CHECK(strcmp(s, src) == 0 && strcmp(d, dst) == 0))
        ts_note("got %s -> %s, want %s -> %s", s, d, src, dst);
    CHECK(!h->local);
}

/* buf (len bytes) is refused, with why naming the reason. */
static void check_refused(const void *buf, size_t len, int versions,
                          const char *reason)
{
    ss_proxy_header_t h;
    const char *why = NULL;
    int rc = ss__proxy_parse(buf, len, versions, &h, &why);
    if (!CHECK(rc == -EPROTO && why && strcmp(why, reason) == 0))
        ts_note("got %d (%s), want %s", rc, why ? why : "no reason", reason);
}

/* ---- v1 ----------------------------------------------------------------- */

#define V6_MAX "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

static void test_v1_good(void)
{
    static const struct {
        const char *line;
        int local;
        const char *src, *dst;
    } cases[] = {
        {"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", 0,
         "192.168.0.1 56324", "192.168.0.11 443"},
        {"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", 0,
         "255.255.255.255 65535", "255.255.255.255 65535"},
        {"PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n", 0, "0.0.0.0 0", "10.0.0.1 0"},
        {"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n", 0, "2001:db8::1 1",
         "::1 65535"},
        {"PROXY TCP6 " V6_MAX " " V6_MAX " 65535 65535\r\n", 0, V6_MAX " 65535",
         V6_MAX " 65535"},
        {"PROXY TCP6 ::FFFF:1.2.3.4 FE80::A 8 9\r\n", 0, "::ffff:1.2.3.4 8",
         "fe80::a 9"},
        {"PROXY UNKNOWN\r\n", 1, NULL, NULL},
        {"PROXY UNKNOWN " V6_MAX " " V6_MAX " 65535 65535\r\n", 1, NULL, NULL},
        {"PROXY UNKNOWN anything at all \r here\r\n", 1, NULL, NULL},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        snprintf(ts_where, sizeof(ts_where), "%.*s", 60, cases[i].line);
        size_t len = strlen(cases[i].line);
        check_splits(cases[i].line, len, SS_PROXY_ANY);
        check_splits(cases[i].line, len, SS_PROXY_V1);
        ss_proxy_header_t h;
        CHECK(ss__proxy_parse(cases[i].line, len, SS_PROXY_V1, &h, NULL) ==
              (int)len);
        CHECK(h.version == 1);
        if (cases[i].local)
            CHECK(h.local && h.src_len == 0 && h.dst_len == 0);
        else
            check_addrs(&h, cases[i].src, cases[i].dst);
    }
}

/* The spec's longest lines: TCP6 at 104 bytes, UNKNOWN at 107. */
static void test_v1_lengths(void)
{
    const char *tcp6 = "PROXY TCP6 " V6_MAX " " V6_MAX " 65535 65535\r\n";
    const char *unk = "PROXY UNKNOWN " V6_MAX " " V6_MAX " 65535 65535\r\n";
    CU_ASSERT_EQUAL(strlen(tcp6), 104);
    CU_ASSERT_EQUAL(strlen(unk), SS_PROXY_V1_MAX);
    ss_proxy_header_t h;
    CU_ASSERT_EQUAL(ss__proxy_parse(unk, 107, 1, &h, NULL), 107);

    char line[200];
    strcpy(ts_where, "108-byte line");
    snprintf(line, sizeof(line), "PROXY UNKNOWN %s %s 65535 655350\r\n", V6_MAX,
             V6_MAX);
    check_refused(line, strlen(line), 1, "v1: line longer than 107 bytes");
    strcpy(ts_where, "107 bytes, no CRLF");
    memset(line, 'f', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    check_refused(line, 107, 1, "v1: line longer than 107 bytes");
    check_refused(line, sizeof(line), 1, "v1: line longer than 107 bytes");
    /* At 106 bytes only a CR could still end the line in time. */
    strcpy(ts_where, "106 bytes, not ending in CR");
    check_refused(line, 106, 1, "v1: line longer than 107 bytes");
    line[105] = '\r';
    CU_ASSERT_EQUAL(ss__proxy_parse(line, 106, 1, &h, NULL), 0);
    CU_ASSERT_EQUAL(ss__proxy_parse(line, 105, 1, &h, NULL), 0);
}

static void test_v1_bad(void)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"GET / HTTP/1.1\r\n", "not a PROXY header"},
        {"PROXY\r\n", "not a PROXY header"},
        {"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY header"},
        {"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "v1: unknown protocol"},
        {"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "v1: unknown protocol"},
        {"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "v1: unknown protocol"},
        {"PROXY UNKNOWNX\r\n", "v1: unknown protocol"},
        {"PROXY \r\n", "v1: unknown protocol"},
        {"PROXY TCP4\r\n", "v1: bad source address"},
        {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "v1: bad source address"},
        {"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "v1: bad source address"},
        {"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", "v1: bad source address"},
        {"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", "v1: bad source address"},
        {"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "v1: bad source address"},
        {"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "v1: bad source address"},
        {"PROXY TCP6 fe80::1%1 ::1 1 2\r\n", "v1: bad source address"},
        {"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "v1: bad destination address"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8.9 1 2\r\n", "v1: bad destination address"},
        {"PROXY TCP6 ::1 ::g 1 2\r\n", "v1: bad destination address"},
        {"PROXY TCP6 ::1 1:2:3:4:5:6:7:8:9 1 2\r\n",
         "v1: bad destination address"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8\r\n", "v1: bad source port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "v1: bad source port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "v1: bad source port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n", "v1: bad source port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "v1: bad source port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 8a 2\r\n", "v1: bad source port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8  80 2\r\n", "v1: bad source port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "v1: bad destination port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", "v1: bad destination port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", "v1: bad destination port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "v1: bad destination port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
         "v1: data after the destination port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
         "v1: data after the destination port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "v1: line ends in LF without CR"},
        {"PROXY UNKNOWN\n", "v1: line ends in LF without CR"},
        /* Refused as soon as the bytes so far cannot start a header. */
        {"PROXY TCPX", "v1: unknown protocol"},
        {"PROXY TCP4 1.2.x", "v1: bad source address"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 0800", "v1: bad source port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r", "v1: bad destination port"},
        {"PROXY TCP4 1.2.3.4\r", "v1: bad destination address"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        snprintf(ts_where, sizeof(ts_where), "%s", cases[i].text);
        check_refused(cases[i].text, strlen(cases[i].text), SS_PROXY_ANY,
                      cases[i].why);
    }
    /* A NUL is just a bad byte. */
    static const char nul[] = "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n";
    strcpy(ts_where, "NUL in a field");
    check_refused(nul, sizeof(nul) - 1, SS_PROXY_ANY, "v1: bad source address");
}

/* ---- v2 ----------------------------------------------------------------- */

static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* A v2 header: the signature, ver_cmd, fam, the length of body, body. */
static size_t v2(unsigned char *b, int ver_cmd, int fam, const void *body,
                 size_t n)
{
    memcpy(b, sig, 12);
    b[12] = (unsigned char)ver_cmd;
    b[13] = (unsigned char)fam;
    b[14] = (unsigned char)(n >> 8);
    b[15] = (unsigned char)n;
    memcpy(b + 16, body, n);
    return 16 + n;
}

/* 192.0.2.1:56324 -> 198.51.100.2:443, then extra bytes (TLVs). */
static size_t v2_tcp4(unsigned char *b, const void *tlv, size_t tlen)
{
    unsigned char body[400] = {192, 0, 2,    1,    198,  51,
                               100, 2, 0xDC, 0x04, 0x01, 0xBB};
    memcpy(body + 12, tlv, tlen);
    return v2(b, 0x21, 0x11, body, 12 + tlen);
}

static void test_v2_inet(void)
{
    unsigned char b[600], body[36] = {0x20, 0x01, 0x0d, 0xb8};
    ss_proxy_header_t h;
    strcpy(ts_where, "v2 TCP4");
    size_t n = v2_tcp4(b, "", 0);
    check_splits(b, n, SS_PROXY_ANY);
    CU_ASSERT_EQUAL(ss__proxy_parse(b, n, SS_PROXY_V2, &h, NULL), 28);
    CHECK(h.version == 2);
    check_addrs(&h, "192.0.2.1 56324", "198.51.100.2 443");

    strcpy(ts_where, "v2 UDP6");
    body[15] = 1;                  /* 2001:db8::1 */
    body[31] = 1;                  /* ::1 */
    body[33] = 7, body[35] = 0xFF; /* ports 7 and 255 */
    n = v2(b, 0x21, 0x22, body, 36);
    check_splits(b, n, SS_PROXY_V2);
    CU_ASSERT_EQUAL(ss__proxy_parse(b, n, SS_PROXY_V2, &h, NULL), 52);
    check_addrs(&h, "2001:db8::1 7", "::1 255");

    /* TLVs (ALPN "h2", an empty NOOP, 300 bytes of NOOP) are skipped. */
    strcpy(ts_where, "v2 TCP4 with TLVs");
    unsigned char tlv[320] = {0x01, 0, 2,    'h',  '2', 0x04,
                              0,    0, 0x04, 0x01, 0x2C};
    memset(tlv + 11, 0xAA, 300);
    n = v2_tcp4(b, tlv, 11 + 300);
    check_splits(b, n, SS_PROXY_ANY);
    CHECK(ss__proxy_parse(b, n, SS_PROXY_ANY, &h, NULL) == 16 + 323);
    check_addrs(&h, "192.0.2.1 56324", "198.51.100.2 443");
}

static void test_v2_unix(void)
{
    unsigned char body[216] = {0}, b[300];
    const size_t base = offsetof(struct sockaddr_un, sun_path);
    ss_proxy_header_t h;
    strcpy(ts_where, "v2 UNIX stream");
    strcpy((char *)body, "/run/app.sock"); /* dst: unnamed (all zeros) */
    size_t n = v2(b, 0x21, 0x31, body, 216);
    check_splits(b, n, SS_PROXY_ANY);
    CU_ASSERT_EQUAL(ss__proxy_parse(b, n, SS_PROXY_ANY, &h, NULL), 232);
    struct sockaddr_un un;
    memcpy(&un, &h.src, sizeof(un));
    CHECK(un.sun_family == AF_UNIX);
    CHECK(strcmp(un.sun_path, "/run/app.sock") == 0);
    CHECK(h.src_len == base + strlen("/run/app.sock") + 1);
    CHECK(h.dst.ss_family == AF_UNIX && h.dst_len == base);
    CHECK(!h.local);

    /* A 108-byte path has no NUL; an abstract name keeps all 108 bytes. */
    strcpy(ts_where, "v2 UNIX datagram, full path, abstract name");
    memset(body, 'p', 108);
    memset(body + 108, 0, 108);
    memcpy(body + 109, "abstract", 8);
    n = v2(b, 0x21, 0x32, body, 216);
    CU_ASSERT_EQUAL(ss__proxy_parse(b, n, SS_PROXY_ANY, &h, NULL), 232);
    if (sizeof(un.sun_path) >= 108) {
        CHECK(h.src_len == base + 108);
        CHECK(h.dst_len == base + 108);
        memcpy(&un, &h.dst, sizeof(un));
        CHECK(un.sun_path[0] == '\0' &&
              memcmp(un.sun_path + 1, "abstract", 8) == 0);
    }
}

/* LOCAL: the connection's own addresses stand, whatever follows (the
 * family is ignored, the length still skipped); PROXY with UNSPEC too. */
static void test_v2_local(void)
{
    unsigned char b[100], body[40] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    static const struct {
        int ver_cmd, fam;
        size_t len;
    } cases[] = {
        {0x20, 0x00, 0}, {0x20, 0x11, 12}, {0x20, 0xFF, 3},
        {0x20, 0x31, 0}, {0x21, 0x00, 0},  {0x21, 0x00, 40},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        snprintf(ts_where, sizeof(ts_where), "v2 %02x %02x, %zu bytes",
                 cases[i].ver_cmd, cases[i].fam, cases[i].len);
        size_t n = v2(b, cases[i].ver_cmd, cases[i].fam, body, cases[i].len);
        check_splits(b, n, SS_PROXY_ANY);
        ss_proxy_header_t h;
        CHECK(ss__proxy_parse(b, n, SS_PROXY_ANY, &h, NULL) == (int)n);
        CHECK(h.version == 2 && h.local && !h.src_len && !h.dst_len);
    }
}

static void test_v2_bad(void)
{
    unsigned char b[SS_PROXY_MAX_HEADER + 64], body[216] = {0};
    size_t n;
    /* Each signature byte, flipped; the first one makes it no header. */
    for (size_t i = 0; i < 12; i++) {
        snprintf(ts_where, sizeof(ts_where), "v2 signature byte %zu", i);
        n = v2_tcp4(b, "", 0);
        b[i] ^= 0x40;
        check_refused(b, n, SS_PROXY_ANY,
                      i ? "v2: bad signature" : "not a PROXY header");
        check_refused(b, i + 1, SS_PROXY_ANY,
                      i ? "v2: bad signature" : "not a PROXY header");
    }
    static const struct {
        int ver_cmd, fam;
        size_t len, known_at; /* the bytes that show it is wrong */
        const char *why;
    } cases[] = {
        {0x11, 0x11, 12, 13, "v2: unknown version"},
        {0x31, 0x11, 12, 13, "v2: unknown version"},
        {0x01, 0x00, 0, 13, "v2: unknown version"},
        {0x22, 0x11, 12, 13, "v2: unknown command"},
        {0x2F, 0x00, 0, 13, "v2: unknown command"},
        {0x21, 0x13, 12, 14, "v2: bad family"},
        {0x21, 0x10, 12, 14, "v2: bad family"},
        {0x21, 0x01, 12, 14, "v2: bad family"},
        {0x21, 0x41, 12, 14, "v2: bad family"},
        {0x21, 0x11, 11, 16, "v2: length too short for the addresses"},
        {0x21, 0x22, 35, 16, "v2: length too short for the addresses"},
        {0x21, 0x31, 215, 16, "v2: length too short for the addresses"},
        {0x21, 0x11, 13, 29, "v2: TLV runs past the header"},
        {0x21, 0x11, 14, 30, "v2: TLV runs past the header"},
        {0x21, 0x11, 12 + 3 + 4, 35, "v2: TLV runs past the header"},
    };
    body[12] = 0x04, body[14] = 5; /* a NOOP TLV claiming 5 bytes */
    for (size_t i = 0; i < COUNT(cases); i++) {
        snprintf(ts_where, sizeof(ts_where), "v2 %02x %02x, %zu bytes: %s",
                 cases[i].ver_cmd, cases[i].fam, cases[i].len, cases[i].why);
        n = v2(b, cases[i].ver_cmd, cases[i].fam, body, cases[i].len);
        check_refused(b, n, SS_PROXY_ANY, cases[i].why);
        check_refused(b, cases[i].known_at, SS_PROXY_ANY, cases[i].why);
        ss_proxy_header_t h;
        CHECK(ss__proxy_parse(b, cases[i].known_at - 1, SS_PROXY_ANY, &h,
                              NULL) == 0);
    }
}

/* The cap: 16 + 4080 bytes parse, one more is refused from the fixed 16
 * bytes alone, before the caller reads (or holds) any of the rest. */
static void test_v2_cap(void)
{
    static unsigned char b[SS_PROXY_MAX_HEADER + 1], body[SS_PROXY_MAX_HEADER];
    size_t most = SS_PROXY_MAX_HEADER - 16;
    ss_proxy_header_t h;
    strcpy(ts_where, "v2 at the cap");
    /* TCP4 addresses, then one NOOP TLV filling the rest. */
    body[12] = 0x04;
    body[13] = (unsigned char)((most - 15) >> 8);
    body[14] = (unsigned char)(most - 15);
    size_t n = v2(b, 0x21, 0x11, body, most);
    CU_ASSERT_EQUAL(n, SS_PROXY_MAX_HEADER);
    CU_ASSERT_EQUAL(ss__proxy_parse(b, 16, SS_PROXY_ANY, &h, NULL), 0);
    CU_ASSERT_EQUAL(ss__proxy_parse(b, n - 1, SS_PROXY_ANY, &h, NULL), 0);
    CU_ASSERT_EQUAL(ss__proxy_parse(b, n, SS_PROXY_ANY, &h, NULL),
                    SS_PROXY_MAX_HEADER);
    strcpy(ts_where, "v2 past the cap");
    body[14]++;
    n = v2(b, 0x21, 0x11, body, most + 1);
    check_refused(b, 16, SS_PROXY_ANY, "v2: header longer than allowed");
    b[14] = b[15] = 0xFF; /* the wire's largest */
    check_refused(b, 16, SS_PROXY_ANY, "v2: header longer than allowed");
}

/* ---- Version mask and arguments ------------------------------------------ */

static void test_versions(void)
{
    const char *v1 = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
    unsigned char b[64];
    size_t n = v2_tcp4(b, "", 0);
    ss_proxy_header_t h;
    const char *why = "unset";
    strcpy(ts_where, "version mask");
    CHECK(ss__proxy_parse(v1, strlen(v1), SS_PROXY_V1, &h, NULL) > 0);
    CHECK(ss__proxy_parse(b, n, SS_PROXY_V2, &h, NULL) > 0);
    check_refused(v1, strlen(v1), SS_PROXY_V2,
                  "a v1 header, but only v2 is allowed");
    check_refused(v1, 1, SS_PROXY_V2, "a v1 header, but only v2 is allowed");
    check_refused(b, n, SS_PROXY_V1, "a v2 header, but only v1 is allowed");
    check_refused(b, 1, SS_PROXY_V1, "a v2 header, but only v1 is allowed");
    check_refused("\x16\x03\x01", 3, SS_PROXY_ANY, "not a PROXY header");
    check_refused("POST / HTTP/1.1\r\n", 17, SS_PROXY_V2, "not a PROXY header");
    check_refused("\r\n\r\n\r\n", 6, SS_PROXY_V1, "not a PROXY header");
    check_refused("\r\n\r\n\r\n", 6, SS_PROXY_ANY, "v2: bad signature");
    CHECK(ss__proxy_parse(v1, 0, SS_PROXY_ANY, &h, &why) == 0 && !why);
    CHECK(ss__proxy_parse(NULL, 0, SS_PROXY_ANY, &h, NULL) == 0);
    CHECK(ss__proxy_parse(NULL, 1, SS_PROXY_ANY, &h, NULL) == -EINVAL);
    CHECK(ss__proxy_parse(v1, 5, 0, &h, &why) == -EINVAL && why);
    CHECK(ss__proxy_parse(v1, 5, 4, &h, NULL) == -EINVAL);
    CHECK(ss__proxy_parse(v1, 5, SS_PROXY_ANY, NULL, NULL) == -EINVAL);
    /* out is untouched unless a whole header parsed. */
    memset(&h, 0x5A, sizeof(h));
    CHECK(ss__proxy_parse(v1, 20, SS_PROXY_ANY, &h, NULL) == 0);
    CHECK(h.version == 0x5A5A5A5A);
}

void add_proxy_trust_tests(CU_pSuite s);

void register_proxy_tests(void)
{
    CU_pSuite s = ts_suite("proxy");
    CU_add_test(s, "v1: the spec's lines parse, at every split too",
                test_v1_good);
    CU_add_test(s, "v1: 107 bytes is the longest line", test_v1_lengths);
    CU_add_test(s, "v1: malformed lines are refused with a reason",
                test_v1_bad);
    CU_add_test(s, "v2: TCP4, UDP6 and TLVs parse, at every split too",
                test_v2_inet);
    CU_add_test(s, "v2: Unix addresses", test_v2_unix);
    CU_add_test(s, "v2: LOCAL and UNSPEC keep the connection's addresses",
                test_v2_local);
    CU_add_test(s, "v2: malformed headers are refused as soon as seen",
                test_v2_bad);
    CU_add_test(s, "v2: the length cap", test_v2_cap);
    CU_add_test(s, "the version mask and bad arguments", test_versions);
    add_proxy_trust_tests(s); /* test_proxy_trust.c */
}
