/* socketserver_cli.h -- the command line of build/socketserver as a
 * library call (libsocketserver-cli, installed beside libsocketserver;
 * `pkg-config --libs socketserver` links both).
 *
 * A program of its own is its handlers plus a main that hands them to
 * ss_main, and gets every flag, mode, worker strategy, signal, log option
 * and exit status of the stock binary:
 *
 *     static const ss_handler_t *const handlers[] = {&my_handler, NULL};
 *     int main(int argc, char **argv)
 *     {
 *         return ss_main(argc, argv, handlers);
 *     }
 */
#ifndef SOCKETSERVER_CLI_H
#define SOCKETSERVER_CLI_H

#include "socketserver.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parse the command line, bind, serve until a signal stops the server,
 * and return the exit status: 0 after a clean stop (and after --help,
 * --list, --version), 1 when the server cannot run, 2 for a bad command
 * line (the message names the flag), 3 when workers keep failing to
 * start.  handlers is NULL-terminated; the first is the default of
 * --handler, and all of them are listed by --list.  Each option a handler
 * declares (ss_handler_t.options) is a flag, --NAME VALUE, checked as its
 * type says and passed to the server (ss_server_option); a handler option
 * named like one of the CLI's own flags makes it return 1.  Messages and
 * the usage name the program by argv[0].  Call it once per process: it
 * installs signal handlers and keeps the server in a static. */
int ss_main(int argc, char **argv, const ss_handler_t *const *handlers);

/* The built-in handlers, NULL-terminated, and each by name, for a list of
 * your own that has some of them beside yours. */
extern const ss_handler_t *const ss_builtin_handlers[];
extern const ss_handler_t ss_handler_menu10086, ss_handler_thankyou,
    ss_handler_echo, ss_handler_poetry, ss_handler_logger, ss_handler_robot,
    ss_handler_forward, ss_handler_http, ss_handler_chat, ss_handler_whoami;

#ifdef __cplusplus
}
#endif
#endif /* SOCKETSERVER_CLI_H */
