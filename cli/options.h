/* options.h -- the command line of ss_main (build/socketserver and every
 * program built on it).  One table in table.c, with the handlers' own
 * options after it, parses, checks and documents every flag. */
#ifndef SS_CLI_OPTIONS_H
#define SS_CLI_OPTIONS_H

#include "socketserver.h"

#define CLI_EXIT_NOW 1    /* --help, --list or --version was printed */
#define CLI_BAD_USAGE 2   /* a message was printed; exit status 2 */
#define CLI_MAX_VALUES 64 /* handler options given on one command line */

/* What the command line sets: the server's configuration itself, filled
 * flag by flag, and what only the CLI uses.  cfg.options points at
 * values inside the same struct, so it is filled in place and never
 * copied. */
typedef struct cli_options {
    ss_config_t cfg;
    ss_option_value_t values[CLI_MAX_VALUES + 1]; /* the handlers' options
                                                     given, NULL-ended */
    int nvalues;
    const char *pidfile, *log_file;
    int log_level;
    int prefork; /* --mode prefork: sync mode, and workers when not given */
    int listens; /* --listen flags read so far */
    const char *extra[SS_MAX_LISTENERS]; /* the 2nd, 3rd... (cfg points
                                            here), NULL-terminated */
} cli_options_t;

/* The program's name (argv[0]'s last part) for messages, and its
 * handlers (NULL-terminated, the first is the default): their names for
 * --handler and --list, their options as flags.  0, or -1 with why (a
 * handler option named like a flag of the CLI's own). */
int cli_setup(const char *argv0, const ss_handler_t *const *handlers, char *why,
              size_t cap);
const char *cli_program(void);

/* 0: serve with o->cfg; CLI_EXIT_NOW or CLI_BAD_USAGE: exit with 0 or 2. */
int cli_parse(int argc, char **argv, cli_options_t *o);

#endif
