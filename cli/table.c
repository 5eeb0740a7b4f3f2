/* table.c -- the CLI's flags, one row each, the rows made from the
 * handlers' own options, and the names a choice-like row accepts.  Data
 * and lookups only: the parser (options.c) and the help (help.c) both
 * read it, and it calls neither. */
#include "table.h"

#include <limits.h>
#include <string.h>

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
#define INFO(flag_, alias_, info_, text_)                                      \
    {                                                                          \
        .name = flag_, .alias = alias_, .type = OPT_INFO, .info = info_,       \
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

static const cli_option_t head[] = {
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
    {.name = "--timeout",
     .meta = "SECONDS",
     .type = OPT_TIMEOUT,
     .offset = AT(cfg.timeout_ms, int),
     .help = "idle timeout of each read or write; 0: none (default: the "
             "handler's, see --list)"},
    SECONDS("--deadline", cfg.deadline_ms,
            "the longest a connection may live (default none)"),
    WHOLE("--backlog", "N", cfg.backlog, 1, INT_MAX,
          "listen backlog (default SOMAXCONN)"),
    SIZE("--max-datagram", "BYTES", cfg.max_datagram, 65536, 1,
         "longest datagram accepted (default 8192)"),
    HEADING("Tuning:"),
    SIZE("--thread-stack", "KIB", cfg.thread_stack_size, 1L << 20, 1024,
         "thread and prethread modes: stack size per thread"),
    WHOLE("--idle-threads", "N", cfg.idle_threads, 0, 100000,
          "thread mode: finished threads kept for the next connections "
          "(default 32; 0: a new thread for each)"),
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
};

/* After the handlers' options. */
static const cli_option_t tail[] = {
    HEADING("Information:"),
    INFO("--list", NULL, CLI_INFO_LIST,
         "list modes, accept strategies, pollers and handlers"),
    INFO("--help", "-h", CLI_INFO_HELP, "this help"),
    INFO("--version", NULL, CLI_INFO_VERSION, "the version"),
};

/* ---- The handlers and their options ------------------------------------ */

#define MAX_HANDLER_ROWS 64
static const ss_handler_t *const *handlers;
static cli_option_t handler_rows[MAX_HANDLER_ROWS + 1]; /* a heading first */
static char handler_text[MAX_HANDLER_ROWS][2][160]; /* each flag, its help */
static size_t nhandler_rows;
static char program[64] = "socketserver";

const char *cli_program(void)
{
    return program;
}

const ss_handler_t *const *cli_handlers(void)
{
    return handlers;
}

const ss_handler_t *cli_find_handler(const char *name)
{
    for (size_t i = 0; handlers && handlers[i]; i++)
        if (strcmp(handlers[i]->name, name) == 0)
            return handlers[i];
    return NULL;
}

/* The CLI's own row spelled flag, or NULL. */
static const cli_option_t *own_row(const char *flag)
{
    for (size_t i = 0; i < COUNT(head) + COUNT(tail); i++) {
        const cli_option_t *row =
            i < COUNT(head) ? &head[i] : &tail[i - COUNT(head)];
        if (row->type != OPT_HEADING && strcmp(row->name, flag) == 0)
            return row;
    }
    return NULL;
}

/* A row for option o of handler h; a name two handlers share is one flag
 * (the first one's help), whose value both read. */
static int add_handler_row(const ss_handler_t *h, const ss_handler_option_t *o,
                           char *why, size_t cap)
{
    char flag[160];
    snprintf(flag, sizeof(flag), "--%s", o->name);
    if (own_row(flag)) {
        snprintf(why, cap, "handler %s: option %s is a flag of the CLI's own",
                 h->name, flag);
        return -1;
    }
    for (size_t i = 1; i <= nhandler_rows; i++)
        if (strcmp(handler_rows[i].name, flag) == 0)
            return 0;
    if (nhandler_rows == MAX_HANDLER_ROWS) {
        snprintf(why, cap, "handlers: more than %d options", MAX_HANDLER_ROWS);
        return -1;
    }
    char(*text)[160] = handler_text[nhandler_rows++];
    snprintf(text[0], sizeof(text[0]), "%s", flag);
    snprintf(text[1], sizeof(text[1]), "%s: %s", h->name,
             o->help ? o->help : "");
    handler_rows[nhandler_rows] =
        (cli_option_t){.name = text[0],
                       .meta = o->meta ? o->meta : "VALUE",
                       .type = OPT_HANDLER_OPTION,
                       .lo = o->lo,
                       .hi = o->hi,
                       .help = text[1],
                       .hopt = o};
    return 0;
}

int cli_setup(const char *argv0, const ss_handler_t *const *list, char *why,
              size_t cap)
{
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    if (argv0 && *argv0)
        snprintf(program, sizeof(program), "%s", slash ? slash + 1 : argv0);
    handlers = list;
    nhandler_rows = 0;
    handler_rows[0] = (cli_option_t)HEADING("Handler options:");
    if (!list || !list[0]) {
        snprintf(why, cap, "no handlers given");
        return -1;
    }
    for (size_t i = 0; list[i]; i++)
        for (const ss_handler_option_t *o = list[i]->options; o && o->name; o++)
            if (add_handler_row(list[i], o, why, cap) < 0)
                return -1;
    return 0;
}

/* ---- The rows, in order ------------------------------------------------- */

size_t cli_row_count(void)
{
    return COUNT(head) + (nhandler_rows ? nhandler_rows + 1 : 0) + COUNT(tail);
}

const cli_option_t *cli_row_at(size_t i)
{
    size_t handler_part = nhandler_rows ? nhandler_rows + 1 : 0;
    if (i < COUNT(head))
        return &head[i];
    i -= COUNT(head);
    if (i < handler_part)
        return &handler_rows[i];
    i -= handler_part;
    return i < COUNT(tail) ? &tail[i] : NULL;
}

static const char *const log_levels[] = {"error", "warn", "info", "debug"};

/* ---- The names a choice accepts (see table.h) -------------------------- */

int cli_prefork_value(void)
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
        return cli_prefork_value();
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
    if (opt->type == OPT_MODE && value == cli_prefork_value())
        return PREFORK;
    return ss_choice_name(opt->kind, value - zero_named(opt));
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
