/* table.h -- the table of flags, shared by the parser (options.c) and the
 * help made from it (help.c).  Private to the CLI. */
#ifndef SS_CLI_TABLE_H
#define SS_CLI_TABLE_H

#include "options.h"

#include <stdio.h>

#define PREFORK "prefork" /* Apache prefork's shape, not a mode of its own */
#define PREFORK_SUMMARY "--workers 2 x cores --mode sync"

typedef enum opt_type {
    OPT_HEADING,       /* not a flag: a heading in --help */
    OPT_INFO,          /* prints something, then the CLI exits 0 */
    OPT_SWITCH,        /* no value: stores lo in an int */
    OPT_INT,           /* a whole number lo..hi, in an int */
    OPT_SIZE,          /* a whole number lo..hi of `unit` bytes, in a size_t */
    OPT_SECONDS,       /* 0..86400 seconds, fractions too, as ms in an int */
    OPT_TIMEOUT,       /* OPT_SECONDS whose 0 is stored as SS_TIMEOUT_NONE: the
                          field's own 0 means "not given" (the handler's) */
    OPT_STRING,        /* any text (a path, a user name) */
    OPT_ADDRESS,       /* an address ss_address_check accepts */
    OPT_LISTEN,        /* OPT_ADDRESS, repeatable: the first replaces the
                          default, each later one adds a listener */
    OPT_HANDLER,       /* a built-in handler's name, stored as the handler */
    OPT_CHOICE,        /* a name of ss_choice_t `kind`, stored as its enum */
    OPT_MODE,          /* OPT_CHOICE over the modes, plus prefork */
    OPT_LOG_LEVEL,     /* error, warn, info or debug, as SS_LOG_* */
    OPT_HANDLER_OPTION /* a handler's own (its ss_handler_option_t `hopt`),
                          added to cli_options_t.values */
} opt_type_t;

typedef enum cli_info { /* what an OPT_INFO row prints */
                        CLI_INFO_LIST,
                        CLI_INFO_HELP,
                        CLI_INFO_VERSION
} cli_info_t;

typedef struct cli_option {
    const char *name;  /* "--mode"; a heading's text */
    const char *alias; /* another spelling ("-h"), or NULL */
    const char *meta;  /* what the value is called; NULL: takes none */
    opt_type_t type;
    size_t offset;    /* where in cli_options_t the value goes */
    long lo, hi;      /* OPT_INT, OPT_SIZE: the range; OPT_SWITCH: lo */
    long unit;        /* OPT_SIZE: bytes per unit given */
    ss_choice_t kind; /* OPT_CHOICE, OPT_MODE */
    cli_info_t info;  /* OPT_INFO */
    const char *help;
    const ss_handler_option_t *hopt; /* OPT_HANDLER_OPTION */
} cli_option_t;

/* table.c: the rows, in --help's order (the CLI's own, then the
 * handlers' options under a heading of their own, then --list, --help and
 * --version), and the names a choice-like row (OPT_CHOICE, OPT_MODE,
 * OPT_LOG_LEVEL) accepts, as values 1 .. cli_names_count; a value may
 * have no name (a poller this system lacks: NULL), and is then skipped. */
size_t cli_row_count(void);
const cli_option_t *cli_row_at(size_t i);
/* The handlers cli_setup was given, NULL-terminated; one by name. */
const ss_handler_t *const *cli_handlers(void);
const ss_handler_t *cli_find_handler(const char *name);
int cli_names_count(const cli_option_t *opt);
/* --mode's value for prefork: one past the library's modes. */
int cli_prefork_value(void);
const char *cli_name_at(const cli_option_t *opt, int value);
/* The names joined into buf: "a, b or c" (sep ", ", last " or ") or
 * "a|b|c" (both "|"). */
void cli_join_names(const cli_option_t *opt, const char *sep, const char *last,
                    char *buf, size_t cap);
/* options.c: every default, the compiled-in mode included: 0 or
 * CLI_BAD_USAGE. */
int cli_defaults(cli_options_t *o);

/* help.c: the usage lines (after a bad flag too), and the OPT_INFO rows'
 * printers (--help shows the defaults it is given). */
void cli_write_usage(FILE *out);
void cli_print_help(const cli_options_t *defaults);
void cli_print_list(void);
void cli_print_version(void);

#endif
