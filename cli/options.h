/* options.h -- the command line of build/socketserver. */
#ifndef SS_CLI_OPTIONS_H
#define SS_CLI_OPTIONS_H

#include "../handlers/handlers.h"

#include <stddef.h>

#define CLI_EXIT_NOW 1  /* --help, --list or --version was printed */
#define CLI_BAD_USAGE 2 /* a message was printed; exit status 2 */

typedef struct cli_options {
    const char *mode, *handler, *listen, *poller, *pool_accept, *accept;
    const char *pidfile, *log_file, *user, *group;
    int refuse_root;
    int udp, nodelay, reuse_port, reuse_address;
    int max_conns, max_children, max_threads, pool_threads, backlog;
    int workers, max_requests, max_requests_jitter, worker_timeout_ms;
    size_t thread_stack, coro_stack, max_datagram;
    int grace_ms, timeout_ms, deadline_ms, log_level;
    handler_options_t handler_opts; /* --delay, --poem, --remote, --root */
} cli_options_t;

void cli_defaults(cli_options_t *o);

/* 0: serve with *o; CLI_EXIT_NOW or CLI_BAD_USAGE: exit with 0 or 2. */
int cli_parse(int argc, char **argv, cli_options_t *o);

#endif
