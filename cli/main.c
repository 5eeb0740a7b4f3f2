/* main.c -- build/socketserver: serve a built-in handler in a chosen mode.
 *
 * Exit status: 0 after a clean stop (SIGINT/SIGTERM), 1 when the server
 * cannot run (address in use, permission), 2 for a bad command line. */
#include "options.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static ss_server_t *server;

/* ss_server_shutdown is async-signal-safe: it sets a flag and writes a
 * byte to the server's self-pipe. */
static void on_stop_signal(int sig)
{
    (void)sig;
    ss_server_shutdown(server);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN; /* a closed stdout must not kill the server */
    sigaction(SIGPIPE, &sa, NULL);
}

static void config_from_options(ss_config_t *cfg, cli_options_t *o)
{
    ss_config_init(cfg);
    cfg->context = &o->handler_opts;
    cfg->address = o->listen;
    cfg->datagram = o->udp;
    cfg->mode = o->mode;
    cfg->handler = handlers_find(o->handler);
    cfg->backlog = o->backlog;
    cfg->reuse_address = o->reuse_address;
    cfg->reuse_port = o->reuse_port;
    cfg->tcp_nodelay = o->nodelay;
    cfg->max_datagram = o->max_datagram;
    cfg->timeout_ms = o->timeout_ms;
    cfg->max_children = o->max_children;
    cfg->max_threads = o->max_threads;
    cfg->thread_stack_size = o->thread_stack;
    cfg->poller = o->poller;
    cfg->pool_threads = o->pool_threads;
    cfg->pool_accept = o->pool_accept;
    cfg->coro_stack_size = o->coro_stack;
    cfg->grace_ms = o->grace_ms;
}

int main(int argc, char **argv)
{
    cli_options_t opts;
    int rc = cli_parse(argc, argv, &opts);
    if (rc)
        return rc == CLI_EXIT_NOW ? 0 : 2;
    ss_log_set_level(opts.log_level);

    ss_config_t cfg;
    config_from_options(&cfg, &opts);
    char err[256];
    if (ss_server_create(&server, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "socketserver: %s\n", err);
        return 1;
    }
    install_signals();
    printf("listening on %s\n", ss_server_address(server));
    fflush(stdout);
    ss_log(SS_LOG_INFO, "serving %s in %s mode on %s", cfg.handler->name,
           cfg.mode, ss_server_address(server));

    rc = ss_server_serve_forever(server);
    if (rc < 0)
        ss_log(SS_LOG_ERROR, "serve: %s", strerror(-rc));
    ss_log(SS_LOG_INFO, "stopping: in-flight connections have %d ms",
           opts.grace_ms);
    ss_server_close(server);
    return rc < 0 ? 1 : 0;
}
