/* test_tutorial.c -- the README's tutorial, "Your own handler in every
 * mode": its program (examples/kv: the kv handler and a main calling
 * ss_main) in every mode and under workers, its own option --slots
 * reaching its open, the CLI's flags and exit statuses in a program of
 * one's own, and the stock binary built with the handler linked in (as
 * `make HANDLERS=examples/kv/kv.c` makes it: tests/socketserver-kv beside
 * the CLI under test). */
#include "helpers.h"

#include <CUnit/CUnit.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define T TS_IO_TIMEOUT_MS
#define GREETING "kv ready: SET key value | GET key | DEL key | QUIT\n"

/* The stock binary with kv linked in, beside the CLI under test. */
static const char *stock_kv_path(char *buf, size_t cap)
{
    const char *cli = ts_cli_path();
    const char *slash = strrchr(cli, '/');
    snprintf(buf, cap, "%.*s/tests/socketserver-kv",
             slash ? (int)(slash - cli) : 1, slash ? cli : ".");
    return buf;
}

/* One exchange on fd: send line, expect reply. */
static int says(int fd, const char *line, const char *reply)
{
    char buf[256] = "";
    if (ts_send_str(fd, line) < 0)
        return 0;
    ssize_t n = ts_read_until(fd, buf, sizeof(buf), "\n", T);
    if (n > 0 && strcmp(buf, reply) == 0)
        return 1;
    ts_note("sent %s got \"%s\", wanted \"%s\"", line, buf, reply);
    return 0;
}

/* A connection past the greeting, or -1. */
static int greeted(const char *address)
{
    char buf[256] = "";
    int fd = ts_connect(address, 0);
    if (fd < 0)
        return -1;
    if (ts_read_until(fd, buf, sizeof(buf), "\n", T) > 0 &&
        strcmp(buf, GREETING) == 0)
        return fd;
    ts_note("greeting \"%s\"", buf);
    close(fd);
    return -1;
}

/* A SET on one connection is seen by the next (another child in fork
 * mode, maybe another worker), then DEL, QUIT. */
static void converse(const char *address)
{
    int fd = greeted(address);
    if (!CHECK(fd >= 0))
        return;
    CHECK(says(fd, "SET answer 42\n", "OK\n"));
    CHECK(says(fd, "GET nothing\n", "NONE\n"));
    CHECK(says(fd, "FLY away\n", "ERR unknown command FLY\n"));
    CHECK(says(fd, "QUIT\n", "BYE\n"));
    CHECK(ts_expect_eof(fd, T));
    close(fd);
    for (int i = 0; i < 4; i++) { /* with workers: likely another one */
        fd = greeted(address);
        if (!CHECK(fd >= 0))
            return;
        CHECK(says(fd, "GET answer\n", "VALUE 42\n"));
        ts_hang_up(fd);
        close(fd);
    }
    fd = greeted(address);
    if (CHECK(fd >= 0)) {
        CHECK(says(fd, "DEL answer\n", "OK\n"));
        CHECK(says(fd, "GET answer\n", "NONE\n"));
        ts_hang_up(fd);
        close(fd);
    }
}

/* Start path with args; 1 when it serves. */
static int start(cli_proc_t *p, const char *path, const char *const *args)
{
    if (ts_proc_start(p, path, args, 1) == 0)
        return 1;
    ts_note("%s did not start", path);
    return 0;
}

static int stop(cli_proc_t *p)
{
    kill(p->pid, SIGTERM);
    int rc = ts_cli_wait(p, 15000);
    if (rc != 0)
        ts_note("exit %d, stderr: %s", rc, p->errtext);
    return rc == 0;
}

/* The tutorial's program in every mode, and with workers: the same
 * conversation, the store shared by every process. */
static void test_every_mode(void)
{
    static const char *const modes[][5] = {
        {"--mode", "sync"},
        {"--mode", "fork"},
        {"--mode", "thread"},
        {"--mode", "prethread"},
        {"--mode", "event"},
        {"--mode", "event", "--workers", "2"},
        {"--mode", "prefork", "--workers", "2"}};
    char path[512];
    ts_example_path(path, sizeof(path), "kv");
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        const char *args[12] = {"--listen", "127.0.0.1:0", "--slots", "64"};
        int n = 4;
        for (int j = 0; j < 5 && modes[i][j]; j++)
            args[n++] = modes[i][j];
        snprintf(ts_where, sizeof(ts_where), "kv %s %s%s%s", modes[i][1],
                 modes[i][2] ? modes[i][2] : "", modes[i][2] ? " " : "",
                 modes[i][3] ? modes[i][3] : "");
        cli_proc_t p;
        if (!CHECK(start(&p, path, args)))
            continue;
        converse(p.address);
        CHECK(stop(&p));
        CHECK(strstr(p.errtext, "serving kv in") != NULL);
    }
}

/* --slots reaches the handler's open: a store of one slot is full after
 * one key; a bad value is refused by the CLI, naming the flag, exit 2. */
static void test_option_reaches_open(void)
{
    char path[512];
    ts_example_path(path, sizeof(path), "kv");
    snprintf(ts_where, sizeof(ts_where), "kv --slots 1");
    const char *args[] = {"--listen", "127.0.0.1:0", "--slots", "1", NULL};
    cli_proc_t p;
    if (CHECK(start(&p, path, args))) {
        int fd = greeted(p.address);
        if (CHECK(fd >= 0)) {
            CHECK(says(fd, "SET a 1\n", "OK\n"));
            CHECK(says(fd, "SET b 2\n", "ERR full\n"));
            CHECK(says(fd, "SET a 3\n", "OK\n")); /* a key it has */
            ts_hang_up(fd);
            close(fd);
        }
        CHECK(stop(&p));
    }
    snprintf(ts_where, sizeof(ts_where), "kv --slots 0");
    const char *bad[] = {"--slots", "0", NULL};
    if (CHECK(ts_proc_start(&p, path, bad, 0) == 0)) {
        CHECK(ts_cli_wait(&p, 5000) == 2);
        CHECK(strstr(p.errtext, "kv: --slots: expected a whole number from 1 "
                                "to 1000000, got '0'") != NULL);
    }
}

/* A program of its own has the CLI's flags, messages under its own
 * name, its handlers in --list and --help, and the exit statuses. */
static void test_program_cli(void)
{
    char path[512];
    cli_proc_t p;
    ts_example_path(path, sizeof(path), "kv");
    snprintf(ts_where, sizeof(ts_where), "kv --bogus");
    const char *bogus[] = {"--bogus", NULL};
    if (CHECK(ts_proc_start(&p, path, bogus, 0) == 0)) {
        CHECK(ts_cli_wait(&p, 5000) == 2);
        CHECK(strstr(p.errtext, "kv: unknown option '--bogus'") != NULL);
        CHECK(strstr(p.errtext, "usage: kv [--mode") != NULL);
    }
    snprintf(ts_where, sizeof(ts_where), "kv --list");
    const char *list[] = {"--list", NULL};
    if (CHECK(ts_proc_start(&p, path, list, 0) == 0)) {
        CHECK(ts_cli_wait(&p, 5000) == 0);
        CHECK(strstr(p.outtext, "\n  kv           a key-value store") != NULL);
        CHECK(strstr(p.outtext, "\n  echo ") != NULL);   /* a built-in */
        CHECK(strstr(p.outtext, "\n  poetry ") == NULL); /* not passed */
    }
    snprintf(ts_where, sizeof(ts_where), "kv --help");
    const char *help[] = {"--help", NULL};
    if (CHECK(ts_proc_start(&p, path, help, 0) == 0)) {
        CHECK(ts_cli_wait(&p, 5000) == 0);
        CHECK(strstr(p.outtext, "  --slots N          kv: how many keys") !=
              NULL);
        CHECK(strstr(p.outtext, "--poem") == NULL);
    }
    snprintf(ts_where, sizeof(ts_where), "kv --handler echo");
    const char *echo[] = {"--handler", "echo", "--listen", "127.0.0.1:0", NULL};
    if (CHECK(start(&p, path, echo))) {
        int fd = ts_connect(p.address, 0);
        char buf[64] = "";
        if (CHECK(fd >= 0)) {
            CHECK(ts_send_str(fd, "hello\n") == 0);
            CHECK(ts_read_until(fd, buf, sizeof(buf), "\n", T) == 6);
            ts_hang_up(fd);
            close(fd);
        }
        CHECK(stop(&p));
    }
}

/* The stock binary built with kv linked in lists it beside the built-in
 * handlers, takes its option, and serves it. */
static void test_stock_binary_with_kv(void)
{
    char path[512];
    cli_proc_t p;
    stock_kv_path(path, sizeof(path));
    snprintf(ts_where, sizeof(ts_where), "socketserver-kv --list");
    const char *list[] = {"--list", NULL};
    if (CHECK(ts_proc_start(&p, path, list, 0) == 0)) {
        CHECK(ts_cli_wait(&p, 5000) == 0);
        CHECK(strstr(p.outtext, "\n  kv           a key-value store") != NULL);
        CHECK(strstr(p.outtext, "\n  menu10086 ") != NULL);
    }
    snprintf(ts_where, sizeof(ts_where), "socketserver-kv --handler kv");
    const char *serve[] = {"--handler",   "kv",     "--slots", "8", "--listen",
                           "127.0.0.1:0", "--mode", "event",   NULL};
    if (CHECK(start(&p, path, serve))) {
        converse(p.address);
        CHECK(stop(&p));
    }
}

void register_tutorial_tests(void)
{
    CU_pSuite s = ts_suite("tutorial");
    CU_add_test(s, "the kv program in every mode and with workers",
                test_every_mode);
    CU_add_test(s, "a handler's own option reaches its open",
                test_option_reaches_open);
    CU_add_test(s, "a program of its own has the whole CLI", test_program_cli);
    CU_add_test(s, "make HANDLERS=examples/kv/kv.c: listed and served",
                test_stock_binary_with_kv);
}
