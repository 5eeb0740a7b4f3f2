/* options.c -- the command line of build/socketserver.  Every bad flag or
 * value is named in the message, and the exit status is 2. */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SS_DEFAULT_MODE
#define SS_DEFAULT_MODE "thread"
#endif

static const char usage[] =
    "usage: socketserver [--mode sync|fork|thread|prethread|event|prefork]\n"
    "                    [--handler NAME] [--workers N]\n"
    "                    [--accept shared|lock|reuseport|pass]\n"
    "                    [--max-requests N] [--max-requests-jitter J]\n"
    "                    [--worker-timeout SECONDS] [--pidfile PATH]\n"
    "                    [--user U] [--group G] [--refuse-root]\n"
    "                    [--listen ADDR] [--udp] [--max-conns N]\n"
    "                    [--max-children N]\n"
    "                    [--max-threads N] [--thread-stack KIB]\n"
    "                    [--threads N] [--pool-accept queue|lock]\n"
    "                    [--poller epoll|poll|select] [--coro-stack KIB]\n"
    "                    [--grace SECONDS] [--timeout SECONDS]\n"
    "                    [--deadline SECONDS]\n"
    "                    [--backlog N] [--max-datagram BYTES] [--nodelay]\n"
    "                    [--reuse-port] [--no-reuse-address]\n"
    "                    [--log-level error|warn|info|debug]\n"
    "                    [--log-file PATH]\n"
    "                    [--delay MS] [--poem FILE] [--remote ADDR]\n"
    "                    [--root DIR] [--list] [--help] [--version]\n";

static const char help[] =
    "\n"
    "Serve a handler on a socket, running each connection (or datagram) in\n"
    "the chosen mode.  The first line printed is 'listening on ADDRESS'.\n"
    "\n"
    "  --mode M           how requests run (default " SS_DEFAULT_MODE
    "); see --list;\n"
    "                     prefork: --workers 2 x cores --mode sync\n"
    "  --workers N        N worker processes under a master, each running\n"
    "                     the mode (default 0: one process)\n"
    "  --accept S         workers: shared (default), lock, reuseport or pass\n"
    "                     (the master accepts and hands connections over)\n"
    "  --max-requests N   workers: recycle a worker after N connections,\n"
    "  --max-requests-jitter J   plus a random 0..J\n"
    "  --worker-timeout S workers: kill one silent S seconds, replace it\n"
    "  --pidfile PATH     write the server's pid there while it runs\n"
    "  --user U --group G serve as U (and G) once bound\n"
    "  --refuse-root      refuse to serve as root\n"
    "  --handler NAME     what to say (default menu10086); see --list\n"
    "  --listen ADDR      HOST:PORT, [IPV6]:PORT or unix:PATH; port 0 picks\n"
    "                     a free port (default 127.0.0.1:8002)\n"
    "  --udp              a datagram server (UDP, or Unix datagram)\n"
    "  --max-conns N      connections open at once, any mode; beyond it\n"
    "                     clients wait in the backlog (default: no cap)\n"
    "  --max-children N   fork mode: live children at most (default 40)\n"
    "  --max-threads N    thread mode: live threads at most (default 256)\n"
    "  --thread-stack KIB thread mode: stack size per thread\n"
    "  --threads N        prethread mode: pool size (default 2 x cores)\n"
    "  --pool-accept D    prethread mode: queue (the loop accepts and queues;\n"
    "                     default) or lock (each thread accepts)\n"
    "  --poller P         event mode: epoll (default on Linux), poll, select\n"
    "  --coro-stack KIB   event mode: stack per connection (default 64)\n"
    "  --grace SECONDS    on SIGINT/SIGTERM, time in-flight connections get\n"
    "                     to finish (default 10)\n"
    "  --timeout SECONDS  idle timeout of each read or write (default none)\n"
    "  --deadline SECONDS the longest a connection may live (default none)\n"
    "  --backlog N        listen backlog (default SOMAXCONN)\n"
    "  --max-datagram B   longest datagram accepted (default 8192)\n"
    "  --nodelay          TCP_NODELAY on connections\n"
    "  --reuse-port       SO_REUSEPORT on the listener\n"
    "  --no-reuse-address no SO_REUSEADDR (on by default)\n"
    "  --log-level L      error, warn, info (default) or debug\n"
    "  --log-file PATH    log there, not to standard error (USR1 reopens)\n"
    "  --list             list modes and handlers\n"
    "\n"
    "Handler options:\n"
    "  --delay MS         poetry: pause between lines (default 500)\n"
    "  --poem FILE        poetry: serve this file (default a built-in poem)\n"
    "  --remote ADDR      forward: where to relay each client\n"
    "  --root DIR         http: the directory to serve (default .)\n"
    "\n"
    "\n"
    "Signals: TERM, INT graceful stop; QUIT fast stop; with workers also\n"
    "HUP reload (new workers, old ones drain), TTIN / TTOU one worker more\n"
    "/ fewer, USR2 per-worker counters to the log; USR1 reopens the log.\n"
    "\n"
    "Exit status: 0 after a clean stop, 1 when the server cannot run,\n"
    "2 for a bad command line, 3 when workers keep failing to start.\n";

static int bad(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "socketserver: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n%s", usage);
    return CLI_BAD_USAGE;
}

static int parse_count(const char *flag, const char *text, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > max) {
        char range[64];
        snprintf(range, sizeof(range), "a whole number from 1 to %ld, got",
                 max);
        fprintf(stderr, "socketserver: %s: expected %s '%s'\n%s", flag, range,
                text, usage);
        return CLI_BAD_USAGE;
    }
    *out = v;
    return 0;
}

static int parse_seconds(const char *flag, const char *text, int *ms)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < 0 || v > 86400)
        return bad("%s: expected seconds from 0 to 86400, got '%s'", flag,
                   text);
    *ms = (int)(v * 1000 + 0.5);
    if (v > 0 && *ms == 0)
        *ms = 1; /* a tiny timeout is still a timeout, not "none" */
    return 0;
}

static int parse_log_level(const char *text, int *level)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(text, names[i]) == 0) {
            *level = i;
            return 0;
        }
    return bad("%s: expected error, warn, info or debug, got '%s'",
               "--log-level", text);
}

static void print_list(void)
{
    printf("modes:\n");
    for (int i = 1; i <= ss_choice_count(SS_CHOICE_MODE); i++)
        printf("  %-12s %s\n", ss_choice_name(SS_CHOICE_MODE, i),
               ss_choice_summary(SS_CHOICE_MODE, i));
    printf("  %-12s %s\n", "prefork", "--workers 2 x cores --mode sync");
    printf("handlers:\n");
    for (size_t i = 0; handlers_at(i); i++)
        printf("  %-12s %s\n", handlers_at(i)->name, handlers_at(i)->summary);
}

static int mode_exists(const char *name)
{
    return ss_choice_value(SS_CHOICE_MODE, name) > 0;
}

void cli_defaults(cli_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = SS_DEFAULT_MODE;
    o->handler = "menu10086";
    o->listen = "127.0.0.1:8002";
    o->grace_ms = 10000;
    o->reuse_address = 1;
    o->log_level = SS_LOG_INFO;
    handler_options_init(&o->handler_opts);
}

/* Options that take a value; "--flag VALUE" or "--flag=VALUE". */
static int apply_value(cli_options_t *o, const char *flag, const char *value)
{
    long n = 0;
    int rc = 0;
    if (strcmp(flag, "--mode") == 0) {
        o->mode = value;
        if (strcmp(value, "prefork") == 0) /* Apache prefork's shape */
            return 0;
        if (!mode_exists(value))
            return bad("%s: unknown mode '%s' (see --list)", flag, value);
    } else if (strcmp(flag, "--handler") == 0) {
        o->handler = value;
        if (!handlers_find(value))
            return bad("%s: unknown handler '%s' (see --list)", flag, value);
    } else if (strcmp(flag, "--listen") == 0) {
        char why[256];
        o->listen = value;
        if (ss_address_check(value, why, sizeof(why)) < 0)
            return bad("%s: %s", flag, why);
    } else if (strcmp(flag, "--max-conns") == 0) {
        if (!(rc = parse_count(flag, value, 1000000, &n)))
            o->max_conns = (int)n;
    } else if (strcmp(flag, "--max-children") == 0) {
        if (!(rc = parse_count(flag, value, 100000, &n)))
            o->max_children = (int)n;
    } else if (strcmp(flag, "--max-threads") == 0) {
        if (!(rc = parse_count(flag, value, 100000, &n)))
            o->max_threads = (int)n;
    } else if (strcmp(flag, "--thread-stack") == 0) {
        if (!(rc = parse_count(flag, value, 1L << 20, &n)))
            o->thread_stack = (size_t)n * 1024;
    } else if (strcmp(flag, "--workers") == 0) {
        if (!(rc = parse_count(flag, value, 256, &n)))
            o->workers = (int)n;
    } else if (strcmp(flag, "--accept") == 0) {
        o->accept = value;
        if (strcmp(value, "shared") && strcmp(value, "lock") &&
            strcmp(value, "reuseport") && strcmp(value, "pass"))
            return bad("%s: expected shared, lock, reuseport or pass, got "
                       "'%s'", flag, value);
    } else if (strcmp(flag, "--max-requests") == 0) {
        if (!(rc = parse_count(flag, value, INT_MAX, &n)))
            o->max_requests = (int)n;
    } else if (strcmp(flag, "--max-requests-jitter") == 0) {
        if (!(rc = parse_count(flag, value, INT_MAX, &n)))
            o->max_requests_jitter = (int)n;
    } else if (strcmp(flag, "--worker-timeout") == 0) {
        rc = parse_seconds(flag, value, &o->worker_timeout_ms);
    } else if (strcmp(flag, "--pidfile") == 0) {
        o->pidfile = value;
    } else if (strcmp(flag, "--log-file") == 0) {
        o->log_file = value;
    } else if (strcmp(flag, "--user") == 0) {
        o->user = value;
    } else if (strcmp(flag, "--group") == 0) {
        o->group = value;
    } else if (strcmp(flag, "--threads") == 0) {
        if (!(rc = parse_count(flag, value, 10000, &n)))
            o->pool_threads = (int)n;
    } else if (strcmp(flag, "--pool-accept") == 0) {
        o->pool_accept = value;
        if (strcmp(value, "queue") && strcmp(value, "lock"))
            return bad("%s: expected queue or lock, got '%s'", flag, value);
    } else if (strcmp(flag, "--coro-stack") == 0) {
        if (!(rc = parse_count(flag, value, 1L << 20, &n)))
            o->coro_stack = (size_t)n * 1024;
    } else if (strcmp(flag, "--poller") == 0) {
        o->poller = value;
        if (strcmp(value, "epoll") && strcmp(value, "poll") &&
            strcmp(value, "select"))
            return bad("%s: expected epoll, poll or select, got '%s'", flag,
                       value);
    } else if (strcmp(flag, "--backlog") == 0) {
        if (!(rc = parse_count(flag, value, INT_MAX, &n)))
            o->backlog = (int)n;
    } else if (strcmp(flag, "--max-datagram") == 0) {
        if (!(rc = parse_count(flag, value, 65536, &n)))
            o->max_datagram = (size_t)n;
    } else if (strcmp(flag, "--grace") == 0) {
        rc = parse_seconds(flag, value, &o->grace_ms);
    } else if (strcmp(flag, "--timeout") == 0) {
        rc = parse_seconds(flag, value, &o->timeout_ms);
    } else if (strcmp(flag, "--deadline") == 0) {
        rc = parse_seconds(flag, value, &o->deadline_ms);
    } else if (strcmp(flag, "--log-level") == 0) {
        rc = parse_log_level(value, &o->log_level);
    } else if (strcmp(flag, "--delay") == 0) {
        if (strcmp(value, "0") == 0)
            o->handler_opts.delay_ms = 0;
        else if (!(rc = parse_count(flag, value, 3600000, &n)))
            o->handler_opts.delay_ms = (int)n;
    } else if (strcmp(flag, "--poem") == 0) {
        o->handler_opts.poem = value;
    } else if (strcmp(flag, "--root") == 0) {
        o->handler_opts.root = value;
    } else if (strcmp(flag, "--remote") == 0) {
        char why[256];
        o->handler_opts.remote = value;
        if (ss_address_check(value, why, sizeof(why)) < 0)
            return bad("%s: %s", flag, why);
    }
    return rc;
}

/* Options without a value.  Returns 1 when flag is not one of them. */
static int apply_switch(cli_options_t *o, const char *flag)
{
    if (strcmp(flag, "--udp") == 0)
        o->udp = 1;
    else if (strcmp(flag, "--nodelay") == 0)
        o->nodelay = 1;
    else if (strcmp(flag, "--reuse-port") == 0)
        o->reuse_port = 1;
    else if (strcmp(flag, "--no-reuse-address") == 0)
        o->reuse_address = 0;
    else if (strcmp(flag, "--refuse-root") == 0)
        o->refuse_root = 1;
    else
        return 1;
    return 0;
}

static int takes_value(const char *flag)
{
    static const char *const flags[] = {
        "--mode",    "--handler", "--listen",  "--max-children", "--max-conns",
        "--max-threads", "--thread-stack", "--backlog", "--max-datagram",
        "--grace",   "--timeout", "--deadline", "--log-level", "--delay",
        "--poem",    "--remote",  "--root",    "--poller", "--coro-stack",
        "--threads", "--pool-accept", "--workers", "--accept",
        "--max-requests", "--max-requests-jitter", "--worker-timeout",
        "--pidfile", "--log-file", "--user", "--group"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (strcmp(flag, flags[i]) == 0)
            return 1;
    return 0;
}

static int is_switch_flag(const char *flag)
{
    static const char *const info[] = {"--list", "--help", "-h", "--version"};
    for (size_t i = 0; i < sizeof(info) / sizeof(info[0]); i++)
        if (strcmp(flag, info[i]) == 0)
            return 1;
    return 0;
}

static int print_info(const char *flag)
{
    if (strcmp(flag, "--list") == 0)
        print_list();
    else if (strcmp(flag, "--version") == 0)
        printf("socketserver %s\n", SS_VERSION);
    else
        printf("%s%s", usage, help);
    return CLI_EXIT_NOW;
}

/* --mode prefork is --workers 2 x cores (unless given) --mode sync. */
static void expand_prefork(cli_options_t *o)
{
    if (strcmp(o->mode, "prefork") != 0)
        return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->mode = "sync";
    if (o->workers == 0)
        o->workers = cores > 0 ? 2 * (int)cores : 4;
}

int cli_parse(int argc, char **argv, cli_options_t *o)
{
    cli_defaults(o);
    for (int i = 1; i < argc; i++) {
        char flag[64];
        const char *arg = argv[i], *value = NULL;
        const char *eq = strchr(arg, '=');
        if (strncmp(arg, "--", 2) != 0 && !is_switch_flag(arg))
            return bad("unexpected argument '%s'%s", arg, "");
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len >= sizeof(flag))
            return bad("unknown option '%s'%s", arg, "");
        memcpy(flag, arg, len);
        flag[len] = '\0';
        if (is_switch_flag(flag))
            return eq ? bad("%s takes no value%s", flag, "")
                      : print_info(flag);
        if (apply_switch(o, flag) == 0) {
            if (eq)
                return bad("%s takes no value%s", flag, "");
            continue;
        }
        if (!takes_value(flag))
            return bad("unknown option '%s'%s", flag, "");
        value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value)
            return bad("%s needs a value%s", flag, "");
        int rc = apply_value(o, flag, value);
        if (rc)
            return rc;
    }
    expand_prefork(o);
    return 0;
}
