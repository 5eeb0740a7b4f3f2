/* main.c -- the tutorial's whole program: the kv handler, with every
 * flag, mode and signal of build/socketserver (ss_main).  Build it
 * against the installed library:
 *     cc main.c kv.c $(pkg-config --cflags --libs socketserver) -o kv */
#include <socketserver.h>
#include <socketserver_cli.h>

extern const ss_handler_t ss_handler_kv; /* kv.c */

static const ss_handler_t *const handlers[] = {&ss_handler_kv, &ss_handler_echo,
                                               NULL};

int main(int argc, char **argv)
{
    return ss_main(argc, argv, handlers);
}
