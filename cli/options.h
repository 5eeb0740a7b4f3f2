/* options.h -- the command line of build/socketserver.  One table in
 * options.c parses, checks and documents every flag. */
#ifndef SS_CLI_OPTIONS_H
#define SS_CLI_OPTIONS_H

#include "../handlers/handlers.h"

#define CLI_EXIT_NOW 1  /* --help, --list or --version was printed */
#define CLI_BAD_USAGE 2 /* a message was printed; exit status 2 */

/* What the command line sets: the server's configuration itself, filled
 * flag by flag, and what only the CLI uses.  cfg.context points at
 * handler_opts inside the same struct, so it is filled in place and never
 * copied. */
typedef struct cli_options {
    ss_config_t cfg;
    handler_options_t handler_opts; /* --delay, --poem, --remote, --root */
    const char *pidfile, *log_file;
    int log_level;
    int prefork; /* --mode prefork: sync mode, and workers when not given */
    int listens; /* --listen flags read so far */
    const char *extra[SS_MAX_LISTENERS]; /* the 2nd, 3rd... (cfg points
                                            here), NULL-terminated */
} cli_options_t;

/* 0: serve with o->cfg; CLI_EXIT_NOW or CLI_BAD_USAGE: exit with 0 or 2. */
int cli_parse(int argc, char **argv, cli_options_t *o);

#endif
