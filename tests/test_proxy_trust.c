/* test_proxy_trust.c -- the proxy suite's trust lists (--proxy-from):
 * who is trusted, CIDR edges, mapped IPv4, unix, and bad entries named.
 * Registered into the "proxy" suite by test_proxy.c. */
#include "helpers.h"

#include "../socketserver/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
/* Whether the list trusts a peer at text ("1.2.3.4", "::1" or "unix"). */
static int trusts(const ss_proxy_trust_t *t, const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    if (strcmp(text, "unix") == 0) {
        ss.ss_family = AF_UNIX;
        len = (socklen_t)sizeof(sa_family_t); /* unnamed */
    } else if (strchr(text, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        CU_ASSERT_FATAL(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1);
        len = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        CU_ASSERT_FATAL(inet_pton(AF_INET, text, &in->sin_addr) == 1);
        len = sizeof(*in);
    }
    return ss__proxy_trusted(t, (struct sockaddr *)&ss, len);
}

static void test_trust_lists(void)
{
    static const struct {
        const char *list, *yes, *no; /* peers, space-separated */
    } cases[] = {
        {NULL, "127.0.0.1 127.255.255.255 ::1 unix ::ffff:127.0.0.2",
         "128.0.0.1 126.255.255.255 ::2 10.0.0.1 ::ffff:10.0.0.1"},
        {"", "127.0.0.1 ::1 unix", "::ffff:1.1.1.1"},
        {"0.0.0.0/0", "0.0.0.0 255.255.255.255 ::ffff:8.8.8.8",
         "unix ::1 2001:db8::1"},
        {"::/0", "::1 2001:db8::1 ::ffff:8.8.8.8", "8.8.8.8 unix"},
        {"10.1.2.3/32", "10.1.2.3", "10.1.2.2 10.1.2.4"},
        {"10.1.2.3", "10.1.2.3", "10.1.2.4"},
        {"10.0.0.0/8", "10.0.0.0 10.255.255.255 ::ffff:10.9.9.9",
         "9.255.255.255 11.0.0.0 ::a00:1"},
        {"10.128.0.0/9", "10.128.0.1 10.255.0.0", "10.127.255.255"},
        {"fd00::/8", "fd00::1 fdff:ffff::", "fe00:: fc00:: 253.0.0.1"},
        {"2001:db8::1/128", "2001:db8::1", "2001:db8::2 2001:db8::"},
        {"2001:db8::/127", "2001:db8:: 2001:db8::1", "2001:db8::2"},
        {" 192.168.0.0/16 ,\tunix , ::1 ", "192.168.1.1 unix ::1",
         "127.0.0.1 192.169.0.0"},
        {"::ffff:0:0/96", "::ffff:1.2.3.4", "1.2.3.4 ::1"},
        {"unix", "unix", "127.0.0.1 ::1"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        snprintf(ts_where, sizeof(ts_where), "trust '%s'",
                 cases[i].list ? cases[i].list : "(null)");
        ss_proxy_trust_t t;
        char err[200] = "";
        if (!CHECK(ss__proxy_trust_parse(cases[i].list, &t, err, sizeof(err)) ==
                   0))
            ts_note("%s", err);
        for (int want = 1; want >= 0; want--) {
            char peers[200], *save = NULL;
            strcpy(peers, want ? cases[i].yes : cases[i].no);
            for (char *p = strtok_r(peers, " ", &save); p;
                 p = strtok_r(NULL, " ", &save))
                if (!CHECK(trusts(&t, p) == want))
                    ts_note("peer %s", p);
        }
    }
}

static void test_trust_edges(void)
{
    ss_proxy_trust_t t;
    strcpy(ts_where, "trust: short or odd peers");
    CU_ASSERT_EQUAL(ss__proxy_trust_parse("0.0.0.0/0, ::/0, unix", &t, NULL, 0),
                    0);
    struct sockaddr_in in = {.sin_family = AF_INET};
    CHECK(ss__proxy_trusted(&t, (struct sockaddr *)&in, sizeof(in)));
    CHECK(!ss__proxy_trusted(&t, (struct sockaddr *)&in, sizeof(in) - 1));
    CHECK(!ss__proxy_trusted(&t, (struct sockaddr *)&in, 0));
    CHECK(!ss__proxy_trusted(&t, NULL, sizeof(in)));
    CHECK(!ss__proxy_trusted(NULL, (struct sockaddr *)&in, sizeof(in)));
    in.sin_family = AF_UNSPEC;
    CHECK(!ss__proxy_trusted(&t, (struct sockaddr *)&in, sizeof(in)));

    /* 32 addresses fit (unix takes no slot); a 33rd is refused. */
    char list[1024] = "unix";
    for (int i = 0; i < SS_PROXY_TRUST_MAX; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), ",10.0.0.%d",
                 i);
    CHECK(ss__proxy_trust_parse(list, &t, NULL, 0) == 0);
    CHECK(t.count == SS_PROXY_TRUST_MAX && trusts(&t, "10.0.0.31"));
    strcat(list, ",10.0.0.99");
    char err[200];
    CHECK(ss__proxy_trust_parse(list, &t, err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "'10.0.0.99'") && strstr(err, "more than 32"));
    CHECK(t.count == 0 && !t.unix_ok); /* refused: trusts nothing */
}

static void test_trust_bad(void)
{
    static const struct {
        const char *list, *entry, *why;
    } cases[] = {
        {"foo", "'foo'", "not an address"},
        {"unixx", "'unixx'", "not an address"},
        {"UNIX", "'UNIX'", "not an address"},
        {"1.2.3.4,", "''", "empty entry"},
        {",1.2.3.4", "''", "empty entry"},
        {"1.2.3.4, ,5.6.7.8", "''", "empty entry"},
        {" ", "''", "empty entry"},
        {"10.0.0.0/33", "'10.0.0.0/33'", "bad prefix length"},
        {"::/129", "'::/129'", "bad prefix length"},
        {"10.0.0.0/", "'10.0.0.0/'", "bad prefix length"},
        {"10.0.0.0/08", "'10.0.0.0/08'", "bad prefix length"},
        {"10.0.0.0/+8", "'10.0.0.0/+8'", "bad prefix length"},
        {"10.0.0.0/8/8", "'10.0.0.0/8/8'", "bad prefix length"},
        {"/8", "'/8'", "not an address"},
        {"10.0.0.1/8", "'10.0.0.1/8'", "bits set past the prefix"},
        {"10.128.0.0/8", "'10.128.0.0/8'", "bits set past the prefix"},
        {"fd00::1/8", "'fd00::1/8'", "bits set past the prefix"},
        {"127.0.0.1, fe80::1%eth0", "'fe80::1%eth0'", "not an address"},
        {"[::1]", "'[::1]'", "not an address"},
        {"1.2.3", "'1.2.3'", "not an address"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        snprintf(ts_where, sizeof(ts_where), "trust '%s'", cases[i].list);
        ss_proxy_trust_t t;
        char err[200] = "";
        CHECK(ss__proxy_trust_parse(cases[i].list, &t, err, sizeof(err)) ==
              -EINVAL);
        if (!CHECK(strstr(err, cases[i].entry) && strstr(err, cases[i].why)))
            ts_note("message: %s", err);
        CHECK(ss__proxy_trust_parse(cases[i].list, &t, NULL, 0) == -EINVAL);
    }
}

void add_proxy_trust_tests(CU_pSuite s)
{
    CU_add_test(s, "trust lists: who is trusted", test_trust_lists);
    CU_add_test(s, "trust lists: odd peers and the 32-entry limit",
                test_trust_edges);
    CU_add_test(s, "trust lists: bad entries are named", test_trust_bad);
}
