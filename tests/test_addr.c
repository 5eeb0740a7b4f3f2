/* test_addr.c -- address strings: what parses, what is refused and why,
 * and how bound addresses are written back. */
#include "helpers.h"

#include "../socketserver/internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *text;
    int is_unix;
    const char *host, *port, *path;
} good_case_t;

static void test_parse_good(void)
{
    static const good_case_t cases[] = {
        {"127.0.0.1:8000", 0, "127.0.0.1", "8000", ""},
        {"[::1]:0", 0, "::1", "0", ""},
        {"localhost:65535", 0, "localhost", "65535", ""},
        {":8002", 0, "", "8002", ""},
        {"[::]:80", 0, "::", "80", ""},
        {"unix:/tmp/x.sock", 1, "", "", "/tmp/x.sock"},
        {"unix:relative/path", 1, "", "", "relative/path"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ss_addr_parts_t p;
        char err[256] = "";
        CU_ASSERT_EQUAL(ss__addr_parse(cases[i].text, &p, err, sizeof(err)), 0);
        CU_ASSERT_EQUAL(p.is_unix, cases[i].is_unix);
        CU_ASSERT_STRING_EQUAL(p.host, cases[i].host);
        CU_ASSERT_STRING_EQUAL(p.port, cases[i].port);
        CU_ASSERT_STRING_EQUAL(p.path, cases[i].path);
        CU_ASSERT_EQUAL(ss_address_check(cases[i].text, NULL, 0), 0);
    }
}

static void test_parse_bad(void)
{
    char long_path[200];
    memset(long_path, 'p', sizeof(long_path) - 1);
    memcpy(long_path, "unix:", 5);
    long_path[sizeof(long_path) - 1] = '\0';
    const char *const cases[] = {
        "",
        "8000",
        "127.0.0.1",
        "127.0.0.1:",
        "1.2.3.4:65536",
        "1.2.3.4:-1",
        "1.2.3.4:80x",
        "1.2.3.4:123456",
        "::1:80",
        "[::1]80",
        "[::1",
        "[::1]:",
        "unix:",
        long_path,
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ss_addr_parts_t p;
        char err[512] = "";
        CU_ASSERT_EQUAL(ss__addr_parse(cases[i], &p, err, sizeof(err)), -1);
        /* The message quotes the address it refused. */
        CU_ASSERT(strstr(err, "invalid address") != NULL);
        CU_ASSERT_EQUAL(ss_address_check(cases[i], NULL, 0), -EINVAL);
    }
    ss_addr_parts_t p;
    CU_ASSERT_EQUAL(ss__addr_parse(NULL, &p, NULL, 0), -1);
}

/* Port 0 binds an ephemeral port and the address says which. */
static void test_bound_address_text(void)
{
    const char *const inputs[] = {"127.0.0.1:0", "[::1]:0", "localhost:0"};
    for (size_t i = 0; i < 3; i++) {
        ss_config_t cfg;
        ss_server_t *srv;
        ts_config(&cfg, TS_TCP4, "sync", &ss_handler_echo);
        cfg.address = inputs[i];
        CU_ASSERT_FATAL(ss_server_create(&srv, &cfg, NULL, 0) == 0);
        const char *a = ss_server_address(srv);
        const char *prefix = i == 1 ? "[::1]:" : i == 0 ? "127.0.0.1:" : NULL;
        if (prefix)
            CU_ASSERT(strncmp(a, prefix, strlen(prefix)) == 0);
        const char *colon = strrchr(a, ':');
        CU_ASSERT(colon && atoi(colon + 1) > 0);
        int fd = ts_connect(a, 0);
        CU_ASSERT(fd >= 0);
        if (fd >= 0)
            close(fd);
        ss_server_close(srv);
    }
}

void register_addr_tests(void)
{
    CU_pSuite s = ts_suite("addr");
    CU_add_test(s, "good addresses parse into parts", test_parse_good);
    CU_add_test(s, "bad addresses are refused with a reason", test_parse_bad);
    CU_add_test(s, "port 0: the bound address names the real port",
                test_bound_address_text);
}
