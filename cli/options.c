/* options.c -- the command line of build/socketserver.
 *
 * One table, one row per flag: its name, where its value goes (an offset
 * into cli_options_t, whose cfg is the server's ss_config_t itself), what
 * kind of value it takes, and its help.  The parser and its messages here,
 * and the usage and --help in help.c, are all made from the table; the
 * names a choice accepts come from the library (ss_choice_*), so a new
 * mode or poller shows up everywhere without an edit here.
 *
 * Every bad flag or value is named in the message, and the exit status is
 * 2. */
#include "table.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SS_DEFAULT_MODE /* make MODE=fork compiles another default in */
#define SS_DEFAULT_MODE "thread"
#endif

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Where a value goes, checked at compile time against the C type its kind
 * stores: a row pointing an int kind at a size_t field does not build. */
#define AT(field, ctype)                                                       \
    (offsetof(cli_options_t, field) +                                          \
     0 * sizeof(_Generic(((cli_options_t *)0)->field, ctype : 1)))
/* An enum field: choices store an int, so its size must be an int's (and
 * an int lvalue may then write it: an enum's type is a signed or unsigned
 * int, which may alias each other). */
#define ENUM_AT(field)                                                         \
    (offsetof(cli_options_t, field) +                                          \
     0 * sizeof(                                                               \
             char[sizeof(((cli_options_t *)0)->field) == sizeof(int) ? 1       \
                                                                     : -1]))

#define HEADING(text_)                                                         \
    {                                                                          \
        .name = text_, .type = OPT_HEADING                                     \
    }
#define INFO(flag_, alias_, fn_, text_)                                        \
    {                                                                          \
        .name = flag_, .alias = alias_, .type = OPT_INFO, .info = fn_,         \
        .help = text_                                                          \
    }
#define SWITCH(flag_, field_, value_, text_)                                   \
    {                                                                          \
        .name = flag_, .type = OPT_SWITCH, .offset = AT(field_, int),          \
        .lo = value_, .help = text_                                            \
    }
#define WHOLE(flag_, meta_, field_, lo_, hi_, text_)                           \
    {                                                                          \
        .name = flag_, .meta = meta_, .type = OPT_INT,                         \
        .offset = AT(field_, int), .lo = lo_, .hi = hi_, .help = text_         \
    }
#define SIZE(flag_, meta_, field_, hi_, unit_, text_)                          \
    {                                                                          \
        .name = flag_, .meta = meta_, .type = OPT_SIZE,                        \
        .offset = AT(field_, size_t), .lo = 1, .hi = hi_, .unit = unit_,       \
        .help = text_                                                          \
    }
#define SECONDS(flag_, field_, text_)                                          \
    {                                                                          \
        .name = flag_, .meta = "SECONDS", .type = OPT_SECONDS,                 \
        .offset = AT(field_, int), .help = text_                               \
    }
#define TEXT(flag_, meta_, type_, field_, text_)                               \
    {                                                                          \
        .name = flag_, .meta = meta_, .type = type_,                           \
        .offset = AT(field_, const char *), .help = text_                      \
    }
#define CHOICE(flag_, meta_, type_, field_, kind_, text_)                      \
    {                                                                          \
        .name = flag_, .meta = meta_, .type = type_,                           \
        .offset = ENUM_AT(field_), .kind = kind_, .help = text_                \
    }

const cli_option_t cli_table[] = {
    HEADING("Serving:"),
    CHOICE("--mode", "M", OPT_MODE, cfg.mode, SS_CHOICE_MODE,
           "how requests run (see --list; " PREFORK " is " PREFORK_SUMMARY ")"),
    {.name = "--handler",
     .meta = "NAME",
     .type = OPT_HANDLER,
     .offset = AT(cfg.handler, const ss_handler_t *),
     .help = "what to say; see --list"},
    TEXT("--listen", "ADDR", OPT_LISTEN, cfg.address,
         "HOST:PORT, [IPV6]:PORT or unix:PATH; port 0 picks a free port; "
         "again for more addresses (at most 16), each served alike"),
    SWITCH("--udp", cfg.datagram, 1,
           "a datagram server (UDP, or Unix datagram)"),
    HEADING("Workers:"),
    WHOLE("--workers", "N", cfg.workers, 1, 256,
          "N worker processes under a master, each running the mode "
          "(default 0: one process)"),
    CHOICE("--accept", "S", OPT_CHOICE, cfg.accept, SS_CHOICE_ACCEPT,
           "how workers share the listener, see --list"),
    WHOLE("--max-requests", "N", cfg.max_requests, 1, INT_MAX,
          "recycle a worker after N connections..."),
    WHOLE("--max-requests-jitter", "J", cfg.max_requests_jitter, 1, INT_MAX,
          "...plus a random 0..J"),
    SECONDS("--worker-timeout", cfg.worker_timeout_ms,
            "kill a worker silent this long, and replace it"),
    TEXT("--pidfile", "PATH", OPT_STRING, pidfile,
         "write the server's pid there while it runs"),
    TEXT("--user", "U", OPT_STRING, cfg.user, "serve as U once bound"),
    TEXT("--group", "G", OPT_STRING, cfg.group, "...and as group G"),
    SWITCH("--refuse-root", cfg.refuse_root, 1, "refuse to serve as root"),
    HEADING("Behind a balancer:"),
    CHOICE("--proxy-protocol", "P", OPT_CHOICE, cfg.proxy_protocol,
           SS_CHOICE_PROXY,
           "each connection starts with a PROXY header (HAProxy's "
           "send-proxy, send-proxy-v2) naming the client"),
    TEXT("--proxy-from", "LIST", OPT_STRING, cfg.proxy_from,
         "who may send it: addresses, CIDRs and unix, comma-separated "
         "(default 127.0.0.0/8,::1,unix)"),
    SECONDS("--proxy-timeout", cfg.proxy_timeout_ms,
            "the header's deadline (default 5)"),
    HEADING("Limits and timeouts:"),
    WHOLE("--max-conns", "N", cfg.max_conns, 1, 1000000,
          "connections open at once, any mode; beyond it clients wait in "
          "the backlog (default: no cap)"),
    WHOLE("--max-children", "N", cfg.max_children, 1, 100000,
          "fork mode: live children at most (default 40)"),
    WHOLE("--max-threads", "N", cfg.max_threads, 1, 100000,
          "thread mode: live threads at most (default 256)"),
    SECONDS("--grace", cfg.grace_ms,
            "on SIGINT/SIGTERM, time in-flight connections get to finish "
            "(default 10)"),
    SECONDS("--timeout", cfg.timeout_ms,
            "idle timeout of each read or write (default none)"),
    SECONDS("--deadline", cfg.deadline_ms,
            "the longest a connection may live (default none)"),
    WHOLE("--backlog", "N", cfg.backlog, 1, INT_MAX,
          "listen backlog (default SOMAXCONN)"),
    SIZE("--max-datagram", "BYTES", cfg.max_datagram, 65536, 1,
         "longest datagram accepted (default 8192)"),
    HEADING("Tuning:"),
    SIZE("--thread-stack", "KIB", cfg.thread_stack_size, 1L << 20, 1024,
         "thread and prethread modes: stack size per thread"),
    WHOLE("--threads", "N", cfg.pool_threads, 1, 10000,
          "prethread mode: pool size (default 2 x cores)"),
    CHOICE("--pool-accept", "D", OPT_CHOICE, cfg.pool_accept,
           SS_CHOICE_POOL_ACCEPT, "prethread mode: who accepts, see --list"),
    CHOICE("--poller", "P", OPT_CHOICE, cfg.poller, SS_CHOICE_POLLER,
           "event mode: the readiness backend"),
    SIZE("--coro-stack", "KIB", cfg.coro_stack_size, 1L << 20, 1024,
         "event mode: stack per connection (default 64)"),
    SWITCH("--nodelay", cfg.tcp_nodelay, 1, "TCP_NODELAY on connections"),
    SWITCH("--reuse-port", cfg.reuse_port, 1, "SO_REUSEPORT on the listener"),
    SWITCH("--no-reuse-address", cfg.reuse_address, 0,
           "no SO_REUSEADDR (on by default)"),
    HEADING("Logging:"),
    CHOICE("--log-level", "L", OPT_LOG_LEVEL, log_level, 0, "what to log"),
    TEXT("--log-file", "PATH", OPT_STRING, log_file,
         "log there, not to standard error (USR1 reopens)"),
    HEADING("Handler options:"),
    WHOLE("--delay", "MS", handler_opts.delay_ms, 0, 3600000,
          "poetry: pause between lines (default 500)"),
    TEXT("--poem", "FILE", OPT_STRING, handler_opts.poem,
         "poetry: serve this file (default a built-in poem)"),
    TEXT("--remote", "ADDR", OPT_ADDRESS, handler_opts.remote,
         "forward: where to relay each client"),
    TEXT("--root", "DIR", OPT_STRING, handler_opts.root,
         "http: the directory to serve (default .)"),
    HEADING("Information:"),
    INFO("--list", NULL, cli_print_list,
         "list modes, accept strategies, pollers and handlers"),
    INFO("--help", "-h", cli_print_help, "this help"),
    INFO("--version", NULL, cli_print_version, "the version"),
};

const size_t cli_table_size = COUNT(cli_table);

static const char *const log_levels[] = {"error", "warn", "info", "debug"};

/* ---- The names a choice accepts (see table.h) -------------------------- */

static int prefork_value(void)
{
    return ss_choice_count(SS_CHOICE_MODE) + 1;
}

/* 1 when the kind's value 0 has a name of its own ("off"), listed first:
 * the CLI's values are then the library's plus one. */
static int zero_named(const cli_option_t *opt)
{
    return opt->type == OPT_CHOICE &&
           ss_choice_value(opt->kind, ss_choice_name(opt->kind, 0)) == 0;
}

int cli_names_count(const cli_option_t *opt)
{
    switch (opt->type) {
    case OPT_CHOICE:
        return ss_choice_count(opt->kind) + zero_named(opt);
    case OPT_MODE:
        return prefork_value();
    case OPT_LOG_LEVEL:
        return (int)COUNT(log_levels);
    default:
        return 0;
    }
}

const char *cli_name_at(const cli_option_t *opt, int value)
{
    if (value < 1 || value > cli_names_count(opt))
        return NULL;
    if (opt->type == OPT_LOG_LEVEL)
        return log_levels[value - 1];
    if (opt->type == OPT_MODE && value == prefork_value())
        return PREFORK;
    return ss_choice_name(opt->kind, value - zero_named(opt));
}

/* The value named, or -1.  The library's names are looked up by the
 * library; the CLI's own (prefork, the log levels) here. */
static int name_value(const cli_option_t *opt, const char *text)
{
    if (opt->type != OPT_LOG_LEVEL) {
        int value = ss_choice_value(opt->kind, text);
        if (value > 0 || opt->type == OPT_CHOICE)
            return value;
    }
    int first = opt->type == OPT_MODE ? prefork_value() : 1;
    for (int value = first; value <= cli_names_count(opt); value++)
        if (strcmp(cli_name_at(opt, value), text) == 0)
            return value;
    return -1;
}

void cli_join_names(const cli_option_t *opt, const char *sep, const char *last,
                    char *buf, size_t cap)
{
    int total = 0, shown = 0;
    for (int value = 1; value <= cli_names_count(opt); value++)
        total += cli_name_at(opt, value) != NULL;
    buf[0] = '\0';
    for (int value = 1; value <= cli_names_count(opt); value++) {
        const char *name = cli_name_at(opt, value);
        if (!name)
            continue;
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s",
                 shown == 0           ? ""
                 : shown == total - 1 ? last
                                      : sep,
                 name);
        shown++;
    }
}
/* ---- Values ------------------------------------------------------------ */

static int bad(const char *fmt, ...) SS_PRINTF(1, 2);
static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "socketserver: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cli_write_usage(stderr);
    return CLI_BAD_USAGE;
}

static int set_whole(const cli_option_t *opt, void *field, const char *text)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < opt->lo || v > opt->hi)
        return bad("%s: expected a whole number from %ld to %ld, got '%s'",
                   opt->name, opt->lo, opt->hi, text);
    if (opt->type == OPT_SIZE)
        *(size_t *)field = (size_t)v * (size_t)opt->unit;
    else
        *(int *)field = (int)v;
    return 0;
}

static int set_seconds(const cli_option_t *opt, void *field, const char *text)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < 0 || v > 86400)
        return bad("%s: expected seconds from 0 to 86400, got '%s'", opt->name,
                   text);
    int ms = (int)(v * 1000 + 0.5);
    *(int *)field = v > 0 && ms == 0 ? 1 : ms; /* a tiny timeout is still a
                                                  timeout, not "none" */
    return 0;
}

static int set_text(const cli_option_t *opt, void *field, const char *text)
{
    char why[256];
    if ((opt->type == OPT_ADDRESS || opt->type == OPT_LISTEN) &&
        ss_address_check(text, why, sizeof(why)) < 0)
        return bad("%s: %s", opt->name, why);
    *(const char **)field = text;
    return 0;
}

/* --listen: the first replaces the default address, each later one is
 * one more listener. */
static int add_listen(cli_options_t *o, const cli_option_t *opt,
                      const char *text)
{
    if (o->listens == 0) {
        o->listens++;
        return set_text(opt, &o->cfg.address, text);
    }
    if (o->listens >= SS_MAX_LISTENERS)
        return bad("%s: at most %d addresses", opt->name, SS_MAX_LISTENERS);
    int rc = set_text(opt, &o->extra[o->listens - 1], text);
    if (rc == 0)
        o->cfg.extra_addresses = o->extra;
    o->listens += rc == 0;
    return rc;
}

static int set_handler(const cli_option_t *opt, void *field, const char *text)
{
    const ss_handler_t *h = handlers_find(text);
    if (!h)
        return bad("%s: unknown handler '%s' (see --list)", opt->name, text);
    *(const ss_handler_t **)field = h;
    return 0;
}

/* A name of a choice, stored as its value; --mode prefork is sync mode
 * with workers, which cli_parse adds once every flag is read. */
static int set_choice(cli_options_t *o, const cli_option_t *opt, void *field,
                      const char *text)
{
    char names[256];
    int value = name_value(opt, text);
    if (value < 0) {
        cli_join_names(opt, ", ", " or ", names, sizeof(names));
        return bad("%s: expected %s, got '%s'", opt->name, names, text);
    }
    if (opt->type == OPT_MODE) {
        o->prefork = value == prefork_value();
        if (o->prefork)
            value = SS_MODE_SYNC;
    }
    *(int *)field = opt->type == OPT_LOG_LEVEL ? value - 1 : value;
    return 0;
}

/* Apply one flag, with its value (NULL for those that take none). */
static int apply(cli_options_t *o, const cli_option_t *opt, const char *value)
{
    void *field = (char *)o + opt->offset;
    switch (opt->type) {
    case OPT_INFO:
        opt->info();
        return CLI_EXIT_NOW;
    case OPT_SWITCH:
        *(int *)field = (int)opt->lo;
        return 0;
    case OPT_INT:
    case OPT_SIZE:
        return set_whole(opt, field, value);
    case OPT_SECONDS:
        return set_seconds(opt, field, value);
    case OPT_STRING:
    case OPT_ADDRESS:
        return set_text(opt, field, value);
    case OPT_LISTEN:
        return add_listen(o, opt, value);
    case OPT_HANDLER:
        return set_handler(opt, field, value);
    case OPT_CHOICE:
    case OPT_MODE:
    case OPT_LOG_LEVEL:
        return set_choice(o, opt, field, value);
    case OPT_HEADING:
        break;
    }
    return 0;
}

/* ---- The command line -------------------------------------------------- */

/* The row of the flag spelled by the len bytes at text, or NULL. */
static const cli_option_t *find_option(const char *text, size_t len)
{
    for (size_t i = 0; i < cli_table_size; i++) {
        const cli_option_t *opt = &cli_table[i];
        if (opt->type == OPT_HEADING)
            continue;
        if ((strlen(opt->name) == len && !strncmp(opt->name, text, len)) ||
            (opt->alias && strlen(opt->alias) == len &&
             !strncmp(opt->alias, text, len)))
            return opt;
    }
    return NULL;
}

int cli_defaults(cli_options_t *o)
{
    memset(o, 0, sizeof(*o));
    ss_config_init(&o->cfg);
    handler_options_init(&o->handler_opts);
    o->cfg.context = &o->handler_opts;
    o->cfg.address = "127.0.0.1:8002";
    o->cfg.handler = handlers_find("menu10086");
    o->cfg.reuse_address = 1;
    o->log_level = SS_LOG_INFO;
    /* The compiled-in mode goes through --mode's own row, prefork too; a
     * build with a mode that does not exist fails naming it. */
    return apply(o, find_option("--mode", strlen("--mode")), SS_DEFAULT_MODE);
}

/* argv[*i], "--flag", "--flag=VALUE" or "--flag VALUE" (which moves *i
 * past the value). */
static int parse_arg(cli_options_t *o, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    int dashes = strncmp(arg, "--", 2) == 0; /* only these take =VALUE */
    const char *eq = dashes ? strchr(arg, '=') : NULL;
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const cli_option_t *opt = find_option(arg, len);
    if (!opt && !dashes)
        return bad("unexpected argument '%s'", arg);
    if (!opt)
        return bad("unknown option '%.*s'", (int)len, arg);
    if (!opt->meta && eq)
        return bad("%s takes no value", opt->name);
    if (!opt->meta)
        return apply(o, opt, NULL);
    const char *value = eq ? eq + 1 : *i + 1 < argc ? argv[++*i] : NULL;
    if (!value)
        return bad("%s needs a value", opt->name);
    return apply(o, opt, value);
}

int cli_parse(int argc, char **argv, cli_options_t *o)
{
    int rc = cli_defaults(o);
    for (int i = 1; rc == 0 && i < argc; i++)
        rc = parse_arg(o, argc, argv, &i);
    if (rc == 0 && o->prefork && o->cfg.workers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        o->cfg.workers = cores > 0 ? 2 * (int)cores : 4;
    }
    return rc;
}
