/* options.c -- the command line of ss_main: the parser.
 *
 * One table (table.c), one row per flag: its name, where its value goes
 * (an offset into cli_options_t, whose cfg is the server's ss_config_t
 * itself), what kind of value it takes, and its help.  The parser and its
 * messages here, and the usage and --help in help.c, are all made from
 * the table; the names a choice accepts come from the library
 * (ss_choice_*), so a new mode or poller shows up everywhere without an
 * edit here.  The handlers' own options are rows too, made from their
 * declarations; their values are collected as {name, value} pairs for the
 * server's configuration (cfg.options).
 *
 * Every bad flag or value is named in the message, and the exit status is
 * 2. */
#include "table.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SS_DEFAULT_MODE /* make MODE=fork compiles another default in */
#define SS_DEFAULT_MODE "thread"
#endif

/* The informational flags: print, and the CLI exits 0. */
static void print_info(cli_info_t info)
{
    cli_options_t defaults;
    switch (info) {
    case CLI_INFO_LIST:
        cli_print_list();
        break;
    case CLI_INFO_HELP:
        cli_defaults(&defaults); /* the help shows the defaults in force */
        cli_print_help(&defaults);
        break;
    case CLI_INFO_VERSION:
        cli_print_version();
        break;
    }
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
    int first = opt->type == OPT_MODE ? cli_prefork_value() : 1;
    for (int value = first; value <= cli_names_count(opt); value++)
        if (strcmp(cli_name_at(opt, value), text) == 0)
            return value;
    return -1;
}

/* ---- Values ------------------------------------------------------------ */

static int bad(const char *fmt, ...) SS_PRINTF(1, 2);
static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", cli_program());
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

/* --timeout 0 asks for none, which must differ from not asking (0, the
 * handler's default). */
static int set_timeout(const cli_option_t *opt, void *field, const char *text)
{
    int rc = set_seconds(opt, field, text);
    if (rc == 0 && *(int *)field == 0)
        *(int *)field = SS_TIMEOUT_NONE;
    return rc;
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
    const ss_handler_t *h = cli_find_handler(text);
    if (!h)
        return bad("%s: unknown handler '%s' (see --list)", opt->name, text);
    *(const ss_handler_t **)field = h;
    return 0;
}

/* A handler's option: checked as its declaration says, then one more
 * {name, value} for the server (the handler reads the last one given). */
static int add_value(cli_options_t *o, const cli_option_t *opt,
                     const char *text)
{
    int rc = 0, scratch;
    const ss_handler_option_t *h = opt->hopt;
    if (h->type == SS_OPTION_INT) {
        cli_option_t range = *opt;
        range.type = OPT_INT;
        rc = set_whole(&range, &scratch, text);
    } else if (h->type == SS_OPTION_ADDRESS) {
        cli_option_t address = *opt;
        address.type = OPT_ADDRESS;
        const char *ignored;
        rc = set_text(&address, &ignored, text);
    }
    if (rc == 0 && o->nvalues == CLI_MAX_VALUES)
        rc = bad("%s: more than %d handler options", opt->name, CLI_MAX_VALUES);
    if (rc == 0) {
        o->values[o->nvalues++] = (ss_option_value_t){h->name, text};
        o->cfg.options = o->values;
    }
    return rc;
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
        o->prefork = value == cli_prefork_value();
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
        print_info(opt->info);
        return CLI_EXIT_NOW;
    case OPT_SWITCH:
        *(int *)field = (int)opt->lo;
        return 0;
    case OPT_INT:
    case OPT_SIZE:
        return set_whole(opt, field, value);
    case OPT_SECONDS:
        return set_seconds(opt, field, value);
    case OPT_TIMEOUT:
        return set_timeout(opt, field, value);
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
    case OPT_HANDLER_OPTION:
        return add_value(o, opt, value);
    case OPT_HEADING:
        break;
    }
    return 0;
}

/* ---- The command line -------------------------------------------------- */

/* The row of the flag spelled by the len bytes at text, or NULL. */
static const cli_option_t *find_option(const char *text, size_t len)
{
    for (size_t i = 0; i < cli_row_count(); i++) {
        const cli_option_t *opt = cli_row_at(i);
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
    o->cfg.address = "127.0.0.1:8002";
    o->cfg.handler = cli_handlers()[0]; /* the program's first */
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
