/* test_cli.c -- build/socketserver as a real process: the "listening on"
 * line, exit codes, flags, every mode with each handler, and how SIGTERM
 * treats connections in flight.  Loopback and Unix sockets only; every wait
 * is bounded. */
#include "helpers.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GREETING "欢迎致电 10086,请输入1xxx,0转人工服务.\n"
#define OPERATOR "通过可能会被录音.balabala一大推\n"
#define THANKS "Thank you for connecting\n"
#define LOOPBACK "127.0.0.1:0"
#define EXIT_MS 2000 /* a stopped server is gone within this */

static const char *const modes[] = {"sync", "fork", "thread", "prethread",
                                    "event"};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

/* ---- Helpers ------------------------------------------------------------ */

/* Start the CLI and wait for its "listening on" line; 0 or -1 (asserted). */
static int start(cli_proc_t *p, const char *const *args)
{
    int rc = ts_cli_start(p, args, 1);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc < 0)
        fprintf(stderr, "\nthe CLI did not start: %s", p->errtext);
    return rc;
}

/* Send sig and wait for the exit status; *elapsed_ms gets how long it took. */
static int stop(cli_proc_t *p, int sig, long long *elapsed_ms)
{
    long long t0 = ts_now_ms();
    kill(p->pid, sig);
    int rc = ts_cli_wait(p, EXIT_MS);
    if (elapsed_ms)
        *elapsed_ms = ts_now_ms() - t0;
    return rc;
}

/* The port of "PREFIXport" when it is a whole number from 1 to 65535. */
static long port_of(const char *address, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(address, prefix, n) != 0)
        return -1;
    char *end;
    long port = strtol(address + n, &end, 10);
    return end != address + n && *end == '\0' && port > 0 && port < 65536 ? port
                                                                          : -1;
}

/* Connect and read the whole greeting; the fd, or -1 (asserted). */
static int connect_greeted(const char *address)
{
    char buf[256];
    int fd = ts_connect(address, 0);
    CU_ASSERT(fd >= 0);
    if (fd < 0)
        return -1;
    CU_ASSERT(ts_read_until(fd, buf, sizeof(buf), GREETING, 5000) > 0);
    CU_ASSERT_STRING_EQUAL(buf, GREETING);
    return fd;
}

/* Send line and expect exactly reply back. */
static void exchange(int fd, const char *line, const char *reply)
{
    char buf[256];
    CU_ASSERT_EQUAL(ts_send_str(fd, line), 0);
    CU_ASSERT(ts_read_until(fd, buf, sizeof(buf), reply, 5000) > 0);
    CU_ASSERT_STRING_EQUAL(buf, reply);
}

/* A default server on listen prints address_prefix+port (or exactly
 * address_prefix when want_port is 0), greets, and stops with 0. */
static void check_listen(const char *listen, const char *prefix, int want_port)
{
    cli_proc_t p;
    const char *args[] = {"--listen", listen, NULL};
    if (start(&p, args) < 0)
        return;
    if (want_port) {
        CU_ASSERT(port_of(p.address, prefix) > 0);
    } else {
        CU_ASSERT_STRING_EQUAL(p.address, prefix);
    }
    int fd = connect_greeted(p.address);
    if (fd >= 0)
        close(fd);
    CU_ASSERT_EQUAL(stop(&p, SIGTERM, NULL), 0);
}

static int ipv6_loopback_available(void)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    a.sin6_addr = in6addr_loopback;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* ---- 1. The listening line and the default handler ---------------------- */

static void test_listen_tcp4(void)
{
    check_listen("127.0.0.1:0", "127.0.0.1:", 1);
}

static void test_listen_tcp6(void)
{
    if (!ipv6_loopback_available()) {
        CU_PASS("no IPv6 loopback here: skipped");
        return;
    }
    check_listen("[::1]:0", "[::1]:", 1);
}

static void test_listen_unix(void)
{
    char path[100], address[128];
    ts_unix_path(path, sizeof(path));
    snprintf(address, sizeof(address), "unix:%s", path);
    check_listen(address, address, 0);
    CU_ASSERT(access(path, F_OK) < 0 && errno == ENOENT);
    unlink(path); /* in case the assertion above failed */
}

/* --listen again and again: a "listening on" line for each, in order, and
 * each serves; one too many is a bad command line. */
static void test_listen_several(void)
{
    char path[100], unix_addr[128];
    snprintf(unix_addr, sizeof(unix_addr), "unix:%s",
             ts_unix_path(path, sizeof(path)));
    const char *args[] = {"--listen", "127.0.0.1:0", "--listen", unix_addr,
                          "--listen", "127.0.0.1:0", "--mode",   "event",
                          NULL}; /* the default handler: the 10086 bot */
    cli_proc_t p;
    CU_ASSERT_FATAL(ts_cli_start(&p, args, 1) == 0);
    char lines[2][300], *addrs[3] = {p.address, lines[0], lines[1]};
    for (int i = 0; i < 2; i++)
        CU_ASSERT(ts_cli_read_line(&p, lines[i], sizeof(lines[i]), 2000) == 0 &&
                  strncmp(lines[i], "listening on ", 13) == 0);
    memmove(lines[0], lines[0] + 13, strlen(lines[0] + 13) + 1);
    memmove(lines[1], lines[1] + 13, strlen(lines[1] + 13) + 1);
    CU_ASSERT_STRING_EQUAL(lines[0], unix_addr);
    CU_ASSERT(strncmp(lines[1], "127.0.0.1:", 10) == 0 &&
              strcmp(lines[1], p.address) != 0);
    for (int i = 0; i < 3; i++) {
        int fd = connect_greeted(addrs[i]);
        CU_ASSERT(fd >= 0);
        if (fd >= 0)
            close(fd);
    }
    CU_ASSERT_EQUAL(stop(&p, SIGTERM, NULL), 0);
    CU_ASSERT(access(path, F_OK) < 0 && errno == ENOENT);

    const char *many[2 * (SS_MAX_LISTENERS + 1) + 1];
    for (int i = 0; i <= SS_MAX_LISTENERS; i++) {
        many[2 * i] = "--listen";
        many[2 * i + 1] = "127.0.0.1:0";
    }
    many[2 * (SS_MAX_LISTENERS + 1)] = NULL;
    CU_ASSERT_FATAL(ts_cli_start(&p, many, 0) == 0);
    CU_ASSERT_EQUAL(ts_cli_wait(&p, 5000), 2);
    CU_ASSERT(strstr(p.errtext, "--listen: at most 16") != NULL);
}

/* ---- 2. Exit codes ------------------------------------------------------ */

/* An idle server stops with 0 well under a second on SIGTERM and SIGINT,
 * in every mode. */
static void test_stop_signals(void)
{
    const int sigs[] = {SIGTERM, SIGINT};
    for (size_t m = 0; m < NMODES; m++)
        for (size_t s = 0; s < 2; s++) {
            cli_proc_t p;
            const char *args[] = {"--mode", modes[m], "--listen", LOOPBACK,
                                  NULL};
            if (start(&p, args) < 0)
                continue;
            long long ms;
            int rc = stop(&p, sigs[s], &ms);
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT(ms < 500);
            if (rc != 0 || ms >= 500)
                fprintf(stderr, "\n%s, signal %d: status %d after %lld ms",
                        modes[m], sigs[s], rc, ms);
        }
}

/* A second server on a busy address exits 1 naming the address and bind,
 * and leaves the first one serving. */
static void check_address_in_use(const char *listen, const char *extra)
{
    cli_proc_t first, second;
    const char *args1[] = {"--listen", listen, NULL};
    if (start(&first, args1) < 0)
        return;
    const char *args2[] = {"--listen", first.address, extra, NULL};
    CU_ASSERT_EQUAL_FATAL(ts_cli_start(&second, args2, 0), 0);
    CU_ASSERT_EQUAL(ts_cli_wait(&second, EXIT_MS), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(second.errtext, first.address));
    CU_ASSERT_PTR_NOT_NULL(strstr(second.errtext, "bind"));
    CU_ASSERT_PTR_NULL(strstr(second.outtext, "listening on"));
    int fd = connect_greeted(first.address);
    if (fd >= 0)
        close(fd);
    CU_ASSERT_EQUAL(stop(&first, SIGTERM, NULL), 0);
}

static void test_address_in_use(void)
{
    check_address_in_use(LOOPBACK, NULL);
    check_address_in_use(LOOPBACK, "--no-reuse-address");
    char path[100], address[128];
    ts_unix_path(path, sizeof(path));
    snprintf(address, sizeof(address), "unix:%s", path);
    check_address_in_use(address, NULL);
    unlink(path);
}

/* Each bad command line exits 2 and names the culprit on stderr.  The
 * --listen comes first so a wrongly accepted line cannot take port 8002. */
static void test_bad_flags(void)
{
    static const struct {
        const char *args[5];
        const char *named;
    } cases[] = {
        {{"--bogus"}, "--bogus"},
        {{"--mode", "nope"}, "--mode"},
        {{"--poller", "kqueue"}, "--poller"},
        {{"--max-conns", "0"}, "--max-conns"},
        {{"--deadline", "soon"}, "--deadline"},
        {{"--accept", "steal"}, "--accept"},
        {{"--workers", "0"}, "--workers"},
        {{"--coro-stack", "0"}, "--coro-stack"},
        {{"--handler", "nope"}, "--handler"},
        {{"--max-children", "x"}, "--max-children"},
        {{"--max-children", "0"}, "--max-children"},
        {{"--grace", "-1"}, "--grace"},
        {{"--timeout", "-1"}, "--timeout"},
        {{"--timeout", "soon"}, "--timeout"},
        {{"--timeout", "86401"}, "--timeout"},
        {{"--timeout"}, "--timeout"},
        {{"--mode"}, "--mode"},
        {{"stray"}, "stray"},
        {{"--udp=1"}, "--udp"},
        {{"--help=1"}, "--help"},
        {{"--listen", "nonsense"}, "--listen"},
        {{"--listen", "127.0.0.1:99999"}, "--listen"},
        {{"--listen", "::1:80"}, "--listen"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[8] = {"--listen", LOOPBACK};
        for (size_t k = 0; cases[i].args[k]; k++)
            args[2 + k] = cases[i].args[k];
        cli_proc_t p;
        CU_ASSERT_EQUAL_FATAL(ts_cli_start(&p, args, 0), 0);
        int rc = ts_cli_wait(&p, EXIT_MS);
        int named = strstr(p.errtext, cases[i].named) != NULL;
        CU_ASSERT_EQUAL(rc, 2);
        CU_ASSERT(named);
        CU_ASSERT_PTR_NULL(strstr(p.outtext, "listening on"));
        if (rc != 2 || !named)
            fprintf(stderr, "\ncase %s %s: status %d, stderr: %s",
                    cases[i].args[0], cases[i].args[1] ? cases[i].args[1] : "",
                    rc, p.errtext);
    }
}

/* Run the CLI with one informational flag; its exit status, with stdout
 * in p. */
static int run_info(cli_proc_t *p, const char *flag)
{
    const char *args[] = {flag, NULL};
    if (ts_cli_start(p, args, 0) < 0)
        return -1;
    int rc = ts_cli_wait(p, EXIT_MS);
    CU_ASSERT_EQUAL(p->errlen, 0);
    return rc;
}

static void test_info_flags(void)
{
    cli_proc_t p;
    int a, b, c;
    CU_ASSERT_EQUAL(run_info(&p, "--help"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.outtext, "usage: socketserver"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p.outtext, "--grace"));

    CU_ASSERT_EQUAL(run_info(&p, "--version"), 0);
    CU_ASSERT_EQUAL(sscanf(p.outtext, "socketserver %d.%d.%d", &a, &b, &c), 3);
    CU_ASSERT_STRING_EQUAL(p.outtext, "socketserver " SS_VERSION "\n");

    CU_ASSERT_EQUAL(run_info(&p, "--list"), 0);
    static const char *const names[] = {"sync",      "fork",     "thread",
                                        "menu10086", "thankyou", "echo"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char word[32];
        snprintf(word, sizeof(word), "  %s ", names[i]);
        CU_ASSERT_PTR_NOT_NULL(strstr(p.outtext, word));
    }
}

/* The names of a choice as the CLI's messages list them, built from the
 * library's table: "a, b or c", plus extra (prefork) when given. */
static void choice_names(ss_choice_t kind, const char *extra, char *buf,
                         size_t cap)
{
    const char *names[16];
    size_t n = 0;
    for (int v = 1; v <= ss_choice_count(kind) && n < 15; v++)
        if (ss_choice_name(kind, v))
            names[n++] = ss_choice_name(kind, v);
    if (extra)
        names[n++] = extra;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s",
                 i == 0       ? ""
                 : i == n - 1 ? " or "
                              : ", ",
                 names[i]);
    }
}

/* A bad choice exits 2 listing every valid name, in the library's order. */
static void test_choice_messages(void)
{
    static const struct {
        const char *flag;
        ss_choice_t kind;
        const char *extra;
    } cases[] = {
        {"--mode", SS_CHOICE_MODE, "prefork"},
        {"--accept", SS_CHOICE_ACCEPT, NULL},
        {"--pool-accept", SS_CHOICE_POOL_ACCEPT, NULL},
        {"--poller", SS_CHOICE_POLLER, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char names[256], want[320];
        choice_names(cases[i].kind, cases[i].extra, names, sizeof(names));
        snprintf(want, sizeof(want), "socketserver: %s: expected %s, got 'x'",
                 cases[i].flag, names);
        const char *args[] = {"--listen", LOOPBACK, cases[i].flag, "x", NULL};
        cli_proc_t p;
        CU_ASSERT_EQUAL_FATAL(ts_cli_start(&p, args, 0), 0);
        CU_ASSERT_EQUAL(ts_cli_wait(&p, EXIT_MS), 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(p.errtext, want));
        if (!strstr(p.errtext, want))
            fprintf(stderr, "\nwanted \"%s\" in: %s", want, p.errtext);
    }
}

/* Whether help, past its usage, has a line for the len bytes of flag:
 * "  --flag", alone or with its value, or as "-h, --help". */
static int has_help_line(const char *help, const char *flag, size_t len)
{
    static const char *const before[] = {"\n  ", ", "};
    static const char *const after[] = {" ", "\n"};
    const char *body = strstr(help, "\n\n");
    char word[80];
    for (size_t b = 0; body && b < 2; b++)
        for (size_t a = 0; a < 2; a++) {
            snprintf(word, sizeof(word), "%s%.*s%s", before[b], (int)len, flag,
                     after[a]);
            if (strstr(body, word))
                return 1;
        }
    return 0;
}

/* Every flag is in the usage line and has a line of its own in --help;
 * every flag the usage names has one too; and a choice's usage lists the
 * library's names. */
static void test_help_lists_every_flag(void)
{
    static const char *const flags[] = {
        "--mode",           "--handler",
        "--listen",         "--udp",
        "--workers",        "--accept",
        "--max-requests",   "--max-requests-jitter",
        "--worker-timeout", "--pidfile",
        "--user",           "--group",
        "--refuse-root",    "--max-conns",
        "--max-children",   "--max-threads",
        "--grace",          "--timeout",
        "--deadline",       "--backlog",
        "--max-datagram",   "--thread-stack",
        "--idle-threads",   "--threads",
        "--pool-accept",    "--poller",
        "--coro-stack",     "--nodelay",
        "--reuse-port",     "--no-reuse-address",
        "--log-level",      "--log-file",
        "--delay",          "--poem",
        "--remote",         "--root",
        "--list",           "--help",
        "--version"};
    cli_proc_t p;
    CU_ASSERT_EQUAL_FATAL(run_info(&p, "--help"), 0);
    char word[256];
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        snprintf(word, sizeof(word), "[%s", flags[i]);
        int in_usage = strstr(p.outtext, word) != NULL;
        int has_line = has_help_line(p.outtext, flags[i], strlen(flags[i]));
        CU_ASSERT(in_usage && has_line);
        if (!in_usage || !has_line)
            fprintf(stderr, "\n%s: in usage %d, help line %d", flags[i],
                    in_usage, has_line);
    }
    const char *u = strstr(p.outtext, "[--");
    for (; u; u = strstr(u + 1, "[--")) {
        size_t len = strcspn(u + 1, " ]");
        CU_ASSERT(has_help_line(p.outtext, u + 1, len));
        if (!has_help_line(p.outtext, u + 1, len))
            fprintf(stderr, "\n%.*s: no help line", (int)len, u + 1);
    }
    char names[128] = "[--poller ";
    for (int v = 1; v <= ss_choice_count(SS_CHOICE_POLLER); v++)
        if (ss_choice_name(SS_CHOICE_POLLER, v)) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof(names) - len, "%s|",
                     ss_choice_name(SS_CHOICE_POLLER, v));
        }
    names[strlen(names) - 1] = ']';
    CU_ASSERT_PTR_NOT_NULL(strstr(p.outtext, names));
}

/* The man page, read whole with its roff markup taken out (\fB, \fR, \fI
 * and \fP dropped, \- turned into -), so that "\fB\-\-grace\fR" reads
 * "--grace"; NULL when it cannot be read. */
static char *read_man_page(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    int c;
    while (text && (c = fgetc(f)) != EOF) {
        if (len + 2 >= cap) {
            char *more = realloc(text, cap *= 2);
            if (!more) {
                free(text);
                text = NULL;
                break;
            }
            text = more;
        }
        text[len++] = (char)c;
    }
    fclose(f);
    if (!text)
        return NULL;
    text[len] = '\0';
    char *out = text;
    for (const char *in = text; *in;) {
        if (in[0] == '\\' && in[1] == 'f' && in[2] && strchr("BRIP", in[2])) {
            in += 3;
        } else if (in[0] == '\\' && in[1] == '-') {
            *out++ = '-';
            in += 2;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return text;
}

/* Whether the len bytes of flag stand in text as a whole flag: not the
 * start of a longer one ("--max-requests" in "--max-requests-jitter"). */
static int has_flag(const char *text, const char *flag, size_t len)
{
    for (const char *at = strstr(text, flag); at; at = strstr(at + 1, flag)) {
        int starts =
            at == text || !(isalnum((unsigned char)at[-1]) || at[-1] == '-');
        char next = at[len];
        if (starts && !(isalnum((unsigned char)next) || next == '-'))
            return 1;
    }
    return 0;
}

/* Every flag --help prints ("--flag", and the "-h" of "-h, --help") is in
 * deploy/socketserver.1 (the tests run from the repository's root). */
static void test_help_matches_man_page(void)
{
    cli_proc_t p;
    CU_ASSERT_EQUAL_FATAL(run_info(&p, "--help"), 0);
    char *man = read_man_page("deploy/socketserver.1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(man);
    int flags = 0;
    for (const char *s = p.outtext; *s; s++) {
        int starts = s == p.outtext || strchr(" [\n,", s[-1]);
        const char *name = s[1] == '-' ? s + 2 : s + 1;
        if (!starts || s[0] != '-' || !islower((unsigned char)*name))
            continue;
        size_t len = strspn(s, "-abcdefghijklmnopqrstuvwxyz0123456789");
        char flag[64];
        snprintf(flag, sizeof(flag), "%.*s", (int)len, s);
        flags++;
        CU_ASSERT(has_flag(man, flag, len));
        if (!has_flag(man, flag, len))
            fprintf(stderr, "\n%s: in --help, not in deploy/socketserver.1",
                    flag);
        s += len - 1;
    }
    CU_ASSERT(flags > 40); /* the help was read, flags and all */
    free(man);
}

/* --list names and sums up every mode, accept strategy, pool design,
 * poller and handler. */
static void test_list_choices(void)
{
    static const ss_choice_t kinds[] = {SS_CHOICE_MODE, SS_CHOICE_ACCEPT,
                                        SS_CHOICE_POOL_ACCEPT,
                                        SS_CHOICE_POLLER};
    cli_proc_t p;
    char line[256];
    CU_ASSERT_EQUAL_FATAL(run_info(&p, "--list"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.outtext, "pollers"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p.outtext, "accept strategies"));
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        for (int v = 1; v <= ss_choice_count(kinds[k]); v++) {
            if (!ss_choice_name(kinds[k], v))
                continue; /* not on this system */
            snprintf(line, sizeof(line), "\n  %-12s %s\n",
                     ss_choice_name(kinds[k], v),
                     ss_choice_summary(kinds[k], v));
            CU_ASSERT_PTR_NOT_NULL(strstr(p.outtext, line));
            if (!strstr(p.outtext, line))
                fprintf(stderr, "\nno line \"%s\" in --list", line + 1);
        }
    for (size_t i = 0; handlers_at(i); i++) {
        snprintf(line, sizeof(line), "\n  %-12s %s\n", handlers_at(i)->name,
                 handlers_at(i)->summary);
        CU_ASSERT_PTR_NOT_NULL(strstr(p.outtext, line));
    }
}

/* One conversation with the thankyou handler: the line, then the close
 * (ts_read_all fails unless the server closes after the line). */
static void expect_thanks(const char *address)
{
    char buf[128] = "";
    int fd = ts_connect(address, 0);
    CU_ASSERT(fd >= 0);
    if (fd < 0)
        return;
    CU_ASSERT_EQUAL(ts_read_all(fd, buf, sizeof(buf), 5000),
                    (ssize_t)strlen(THANKS));
    CU_ASSERT_STRING_EQUAL(buf, THANKS);
    close(fd);
}

/* --mode=prefork (the "--flag=value" form) runs sync workers under a
 * master: it serves, and stops with 0. */
static void test_prefork(void)
{
    cli_proc_t p;
    const char *args[] = {"--mode=prefork", "--workers=2",        "--handler",
                          "thankyou",       "--listen=" LOOPBACK, NULL};
    if (start(&p, args) < 0)
        return;
    expect_thanks(p.address);
    CU_ASSERT_EQUAL(stop(&p, SIGTERM, NULL), 0);
}

/* ---- 3. Every mode with thankyou and UDP echo --------------------------- */

static void test_modes_thankyou(void)
{
    for (size_t m = 0; m < NMODES; m++) {
        cli_proc_t p;
        const char *args[] = {"--mode",   modes[m], "--handler", "thankyou",
                              "--listen", LOOPBACK, NULL};
        if (start(&p, args) < 0)
            continue;
        expect_thanks(p.address);
        CU_ASSERT_EQUAL(stop(&p, SIGTERM, NULL), 0);
    }
}

static void test_modes_udp_echo(void)
{
    static const char *const msgs[] = {"ping", "a second datagram"};
    for (size_t m = 0; m < NMODES; m++) {
        cli_proc_t p;
        const char *args[] = {"--mode", modes[m],   "--udp",  "--handler",
                              "echo",   "--listen", LOOPBACK, NULL};
        if (start(&p, args) < 0)
            continue;
        CU_ASSERT(port_of(p.address, "127.0.0.1:") > 0);
        int fd = ts_connect(p.address, 1);
        CU_ASSERT(fd >= 0);
        for (size_t i = 0; fd >= 0 && i < 2; i++) {
            char buf[128] = "";
            CU_ASSERT_EQUAL(ts_send_str(fd, msgs[i]), 0);
            CU_ASSERT(ts_read_until(fd, buf, sizeof(buf), msgs[i], 5000) > 0);
            CU_ASSERT_STRING_EQUAL(buf, msgs[i]);
        }
        if (fd >= 0)
            close(fd);
        CU_ASSERT_EQUAL(stop(&p, SIGTERM, NULL), 0);
    }
}

/* ---- 4-6. Connections in flight ----------------------------------------- */

/* SIGTERM lets a call in progress finish; then the server exits 0 and the
 * address refuses connections. */
static void test_sigterm_in_flight(void)
{
    for (size_t m = 0; m < NMODES; m++) {
        cli_proc_t p;
        const char *args[] = {"--mode", modes[m], "--listen", LOOPBACK, NULL};
        if (start(&p, args) < 0)
            continue;
        int fd = connect_greeted(p.address);
        kill(p.pid, SIGTERM);
        ts_sleep_ms(100); /* the server is stopping while we talk */
        if (fd >= 0) {
            exchange(fd, "0\n", OPERATOR);
            CU_ASSERT_EQUAL(ts_send_str(fd, "exit\n"), 0);
            CU_ASSERT(ts_expect_eof(fd, 5000));
            close(fd);
        }
        CU_ASSERT_EQUAL(ts_cli_wait(&p, EXIT_MS), 0);
        int late = ts_connect(p.address, 0);
        CU_ASSERT_EQUAL(late, -1);
        if (late >= 0)
            close(late);
    }
}

/* With --grace 0.3, an idle call is closed after the grace period (not
 * before) and the server exits 0 within about 2 s of SIGTERM. */
static void test_grace_expiry(void)
{
    for (size_t m = 0; m < NMODES; m++) {
        cli_proc_t p;
        const char *args[] = {"--mode",   modes[m], "--grace", "0.3",
                              "--listen", LOOPBACK, NULL};
        if (start(&p, args) < 0)
            continue;
        int fd = connect_greeted(p.address);
        long long t0 = ts_now_ms();
        kill(p.pid, SIGTERM);
        if (fd >= 0) {
            CU_ASSERT(ts_expect_eof(fd, 2000));
            long long closed_ms = ts_now_ms() - t0;
            CU_ASSERT(closed_ms >= 250 && closed_ms < 2000);
            close(fd);
        }
        CU_ASSERT_EQUAL(ts_cli_wait(&p, EXIT_MS), 0);
        long long exit_ms = ts_now_ms() - t0;
        CU_ASSERT(exit_ms < 2000);
        if (exit_ms >= 2000)
            fprintf(stderr, "\n%s: exited %lld ms after SIGTERM", modes[m],
                    exit_ms);
    }
}

/* With --timeout 0.2, a silent client is hung up on within a second, and
 * the server goes on serving the next one. */
static void test_idle_timeout(void)
{
    for (size_t m = 0; m < NMODES; m++) {
        cli_proc_t p;
        const char *args[] = {"--mode",   modes[m], "--timeout", "0.2",
                              "--listen", LOOPBACK, NULL};
        if (start(&p, args) < 0)
            continue;
        int fd = connect_greeted(p.address);
        if (fd >= 0) {
            long long t0 = ts_now_ms();
            CU_ASSERT(ts_expect_eof(fd, 1000));
            long long idle_ms = ts_now_ms() - t0;
            CU_ASSERT(idle_ms >= 150 && idle_ms < 1000);
            close(fd);
        }
        fd = connect_greeted(p.address);
        if (fd >= 0) {
            exchange(fd, "0\n", OPERATOR);
            CU_ASSERT_EQUAL(ts_send_str(fd, "exit\n"), 0);
            CU_ASSERT(ts_expect_eof(fd, 5000));
            close(fd);
        }
        CU_ASSERT_EQUAL(stop(&p, SIGTERM, NULL), 0);
    }
}

/* Without --timeout each handler's own default is in force (issue 16:
 * it was none, so an idle client of the bots held its connection for
 * ever); --timeout overrides it, and --timeout 0 means none.  The start
 * line logs the timeout the server resolved. */
static void test_default_timeouts(void)
{
    static const struct {
        const char *args[4];
        const char *logged;
    } cases[] = {
        {{NULL}, ", idle timeout 300 s\n"}, /* menu10086 */
        {{"--handler", "echo"}, ", idle timeout 300 s\n"},
        {{"--handler", "http"}, ", idle timeout 60 s\n"},
        {{"--handler", "forward", "--remote", "127.0.0.1:9"},
         ", idle timeout 600 s\n"},
        {{"--handler", "chat"}, ", no idle timeout\n"},
        {{"--handler", "http", "--timeout", "0"}, ", no idle timeout\n"},
        {{"--handler", "chat", "--timeout", "1.5"}, ", idle timeout 1.5 s\n"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        const char *args[9] = {"--listen", LOOPBACK, "--mode", "thread"};
        for (size_t k = 0; k < 4 && cases[i].args[k]; k++)
            args[4 + k] = cases[i].args[k];
        cli_proc_t p;
        if (start(&p, args) < 0)
            continue;
        CU_ASSERT_EQUAL(stop(&p, SIGTERM, NULL), 0);
        const char *line = strstr(p.errtext, "serving ");
        int found =
            line && strstr(line, cases[i].logged) == line + strcspn(line, ",");
        CU_ASSERT(found);
        if (!found)
            fprintf(stderr, "\ncase %zu: no \"%s\" after serving in: %s", i,
                    cases[i].logged, p.errtext);
    }
}

/* --list says each handler's default timeout; only chat and logger, whose
 * clients may rightly stay quiet for hours, have none; http's is nginx's
 * 60 s. */
static void test_list_timeouts(void)
{
    cli_proc_t p;
    char line[256];
    CU_ASSERT_EQUAL_FATAL(run_info(&p, "--list"), 0);
    const char *section = strstr(p.outtext, "idle timeouts");
    CU_ASSERT_PTR_NOT_NULL_FATAL(section);
    for (size_t i = 0; handlers_at(i); i++) {
        const ss_handler_t *h = handlers_at(i);
        int quiet = !strcmp(h->name, "chat") || !strcmp(h->name, "logger");
        CU_ASSERT(quiet ? h->timeout_ms == 0 : h->timeout_ms > 0);
        if (h->timeout_ms > 0)
            snprintf(line, sizeof(line), "\n  %-12s %g s\n", h->name,
                     h->timeout_ms / 1000.0);
        else
            snprintf(line, sizeof(line), "\n  %-12s none\n", h->name);
        CU_ASSERT_PTR_NOT_NULL(strstr(section, line));
    }
    CU_ASSERT_EQUAL(handlers_find("http")->timeout_ms, 60000);
}

/* --poller picks the event mode's backend: each serves the bot. */
static void test_event_pollers(void)
{
    const char *const names[] = {"epoll", "poll", "select"};
    for (int i = 0; i < 3; i++) {
        const char *args[] = {"--mode",   "event",  "--poller", names[i],
                              "--listen", LOOPBACK, NULL};
        cli_proc_t p;
        CU_ASSERT_EQUAL_FATAL(ts_cli_start(&p, args, 1), 0);
        int fd = ts_connect(p.address, 0);
        char buf[256];
        ts_send_str(fd, "0\nexit\n");
        CU_ASSERT(ts_read_all(fd, buf, sizeof(buf), 2000) > 0);
        CU_ASSERT_STRING_EQUAL(buf, GREETING OPERATOR);
        close(fd);
        kill(p.pid, SIGTERM);
        CU_ASSERT_EQUAL(ts_cli_wait(&p, EXIT_MS), 0);
    }
}

/* examples/custom_handler: a user's own handler, linked against the
 * public header and library only, serves lines back in upper case. */
static void test_custom_handler_example(void)
{
    char path[512], buf[64];
    const char *args[] = {LOOPBACK, NULL};
    cli_proc_t p;
    ts_example_path(path, sizeof(path), "custom_handler");
    CU_ASSERT_EQUAL_FATAL(ts_proc_start(&p, path, args, 1), 0);
    int fd = ts_connect(p.address, 0);
    CU_ASSERT_FATAL(fd >= 0);
    ts_send_str(fd, "hello, 10086\n");
    shutdown(fd, SHUT_WR);
    CU_ASSERT(ts_read_all(fd, buf, sizeof(buf), 2000) > 0);
    CU_ASSERT_STRING_EQUAL(buf, "HELLO, 10086\n");
    close(fd);
    kill(p.pid, SIGTERM); /* it installs no handler: TERM ends it */
    CU_ASSERT_EQUAL(ts_cli_wait(&p, EXIT_MS), 128 + SIGTERM);
}

void register_cli_tests(void)
{
    CU_pSuite s = ts_suite("cli");
    CU_add_test(s, "listen 127.0.0.1:0 prints the port and greets",
                test_listen_tcp4);
    CU_add_test(s, "listen [::1]:0 prints the port and greets",
                test_listen_tcp6);
    CU_add_test(s, "listen unix: greets and removes the socket file",
                test_listen_unix);
    CU_add_test(s, "--listen again: each listens, in order",
                test_listen_several);
    CU_add_test(s, "SIGTERM and SIGINT stop an idle server with 0",
                test_stop_signals);
    CU_add_test(s, "address in use exits 1 naming bind", test_address_in_use);
    CU_add_test(s, "bad flags exit 2 naming the flag", test_bad_flags);
    CU_add_test(s, "--help, --version and --list exit 0", test_info_flags);
    CU_add_test(s, "a bad choice lists the library's names",
                test_choice_messages);
    CU_add_test(s, "--help lists every flag", test_help_lists_every_flag);
    CU_add_test(s, "every flag of --help is in the man page",
                test_help_matches_man_page);
    CU_add_test(s, "--list shows modes, accept strategies, pollers, handlers",
                test_list_choices);
    CU_add_test(s, "--mode=prefork serves with sync workers", test_prefork);
    CU_add_test(s, "every mode serves thankyou", test_modes_thankyou);
    CU_add_test(s, "every mode echoes UDP datagrams", test_modes_udp_echo);
    CU_add_test(s, "SIGTERM lets a call in flight finish",
                test_sigterm_in_flight);
    CU_add_test(s, "--grace expiry closes an idle call", test_grace_expiry);
    CU_add_test(s, "--timeout hangs up on a silent client", test_idle_timeout);
    CU_add_test(s, "no --timeout: the handler's; --timeout 0: none",
                test_default_timeouts);
    CU_add_test(s, "--list says each handler's default timeout",
                test_list_timeouts);
    CU_add_test(s, "--poller: epoll, poll and select serve the bot",
                test_event_pollers);
    CU_add_test(s, "examples/custom_handler serves its own handler",
                test_custom_handler_example);
}
