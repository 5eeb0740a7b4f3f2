/* run.c -- ss_main: the whole command line of build/socketserver, for
 * any program that passes its handlers: parse, bind, serve until a signal
 * stops the server.
 *
 * Exit status: 0 after a clean stop (SIGINT/SIGTERM/SIGQUIT), 1 when the
 * server cannot run (address in use, permission), 2 for a bad command
 * line, 3 when its workers keep failing to start.
 *
 * Signals follow nginx and gunicorn where they agree: TERM and INT stop
 * gracefully, QUIT at once; HUP replaces the workers (nginx's reload,
 * gunicorn's HUP), TTIN and TTOU add or remove one (gunicorn), USR1
 * reopens the log file (both), USR2 upgrades the binary (both: this
 * program is started again with the listening sockets, and the old
 * master stops once the new one serves); URG logs each worker's counters
 * (it was USR2 before upgrades took that signal). */
#include "notify.h"
#include "options.h"
#include "socketserver_cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static ss_server_t *server;

/* Every control the library offers here is async-signal-safe: it sets a
 * flag and writes a byte to the server's self-pipe. */
static void on_signal(int sig)
{
    switch (sig) {
    case SIGQUIT:
        ss_server_stop_now(server);
        break;
    case SIGHUP:
        ss_server_reload(server);
        break;
    case SIGTTIN:
        ss_server_add_workers(server, 1);
        break;
    case SIGTTOU:
        ss_server_add_workers(server, -1);
        break;
    case SIGUSR2:
        ss_server_upgrade(server);
        break;
    case SIGURG:
        ss_server_report(server);
        break;
    case SIGUSR1:
        ss_server_reopen_logs(server);
        break;
    default: /* SIGTERM, SIGINT */
        ss_server_shutdown(server);
    }
}

static void install_signals(void)
{
    static const int handled[] = {SIGINT,  SIGTERM, SIGQUIT, SIGHUP, SIGTTIN,
                                  SIGTTOU, SIGUSR1, SIGUSR2, SIGURG};
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
        sigaction(handled[i], &sa, NULL);
    sa.sa_handler = SIG_IGN; /* a closed stdout must not kill the server */
    sigaction(SIGPIPE, &sa, NULL);
}

/* An upgrade starts this program again, by the path it was started from
 * (a file replaced there is what runs), with the same arguments. */
static char self_path[4096];
static const char *upgrade_argv[256];

static void prepare_upgrade(cli_options_t *opts, int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    if (n > 0 && !strstr(self_path, " (deleted)"))
        self_path[n] = '\0';
    else
        snprintf(self_path, sizeof(self_path), "%s", argv[0]);
    if (argc >= (int)(sizeof(upgrade_argv) / sizeof(upgrade_argv[0])))
        return; /* too long a command line to repeat: no upgrades */
    upgrade_argv[0] = self_path;
    for (int i = 1; i < argc; i++)
        upgrade_argv[i] = argv[i];
    upgrade_argv[argc] = NULL;
    opts->cfg.upgrade_argv = upgrade_argv;
}

/* The pidfile goes with its master: after an upgrade it names the new
 * one, which the old one must not remove. */
static void remove_pidfile(const char *path)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    long pid = 0;
    if (f && fscanf(f, "%ld", &pid) == 1 && pid == (long)getpid())
        unlink(path);
    if (f)
        fclose(f);
}

/* The pid, written once the socket is bound; 0, or -1 with a message. */
static int write_pidfile(const char *path)
{
    FILE *f = path ? fopen(path, "w") : NULL;
    if (path &&
        (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0)) {
        fprintf(stderr, "%s: pidfile %s: %s\n", cli_program(), path,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* The exit statuses (see the top of this file). */
enum {
    EXIT_STOPPED = 0,
    EXIT_CANNOT_RUN = 1,
    EXIT_USAGE = 2,
    EXIT_WORKERS = 3
};

/* One "listening on ADDRESS" line per listener, in the order given (the
 * first line the server prints: scripts wait for it), then the log's. */
static void announce(const cli_options_t *opts)
{
    for (int i = 0; i < ss_server_listener_count(server); i++)
        printf("listening on %s\n", ss_server_listener_address(server, i));
    fflush(stdout);
    /* The timeout in force (the handler's unless --timeout was given),
     * as the library resolved it. */
    int timeout_ms = ss_server_config(server)->timeout_ms;
    char timeout[64] = "no idle timeout";
    if (timeout_ms > 0)
        snprintf(timeout, sizeof(timeout), "idle timeout %g s",
                 timeout_ms / 1000.0);
    for (int i = 0; i < ss_server_listener_count(server); i++)
        ss_log(SS_LOG_INFO, "serving %s in %s mode on %s, %s",
               opts->cfg.handler->name,
               ss_choice_name(SS_CHOICE_MODE, opts->cfg.mode),
               ss_server_listener_address(server, i), timeout);
}

/* systemd's readiness, once the server serves (with workers: once they
 * all do).  MAINPID: after an upgrade systemd (NotifyAccess=all) follows
 * the new master, which says so only when it serves -- a successor that
 * fails never becomes the main process. */
static void notify_ready(ss_server_t *srv)
{
    (void)srv;
    char ready[64];
    snprintf(ready, sizeof(ready), "READY=1\nMAINPID=%ld", (long)getpid());
    cli_notify(ready);
}

/* Bind, then serve until a signal stops the server: the exit status. */
static int serve(cli_options_t *opts)
{
    char err[256];
    opts->cfg.on_ready = notify_ready;
    if (ss_server_create(&server, &opts->cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", cli_program(), err);
        return EXIT_CANNOT_RUN;
    }
    if (write_pidfile(opts->pidfile) < 0) {
        ss_server_close(server);
        return EXIT_CANNOT_RUN;
    }
    install_signals();
    announce(opts);

    int rc = ss_server_serve_forever(server);
    if (!ss_server_handed_over(server)) /* after an upgrade the service */
        cli_notify("STOPPING=1");       /* goes on, in the new master   */
    if (rc < 0 && rc != SS_EWORKERS)    /* the master has said why */
        ss_log(SS_LOG_ERROR, "serve: %s", ss_strerror(rc));
    ss_log(SS_LOG_INFO, "stopping: in-flight connections have %d ms",
           opts->cfg.grace_ms);
    ss_server_close(server);
    remove_pidfile(opts->pidfile);
    return rc == SS_EWORKERS ? EXIT_WORKERS
           : rc < 0          ? EXIT_CANNOT_RUN
                             : EXIT_STOPPED;
}

int ss_main(int argc, char **argv, const ss_handler_t *const *handlers)
{
    cli_options_t opts; /* filled in place: opts.cfg points into it */
    char why[256];
    if (cli_setup(argc > 0 ? argv[0] : NULL, handlers, why, sizeof(why)) < 0) {
        fprintf(stderr, "%s: %s\n", cli_program(), why);
        return EXIT_CANNOT_RUN;
    }
    int rc = cli_parse(argc, argv, &opts);
    if (rc)
        return rc == CLI_EXIT_NOW ? EXIT_STOPPED : EXIT_USAGE;
    ss_log_set_level(opts.log_level);
    if (opts.log_file && (rc = ss_log_open(opts.log_file)) < 0) {
        fprintf(stderr, "%s: log file %s: %s\n", cli_program(), opts.log_file,
                ss_strerror(rc));
        return EXIT_CANNOT_RUN;
    }
    prepare_upgrade(&opts, argc, argv);
    return serve(&opts);
}
