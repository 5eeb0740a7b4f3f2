/* main.c -- build/socketserver: ss_main over the built-in handlers (in
 * list.h's order, menu10086 first: the default), and those a build adds
 * with `make HANDLERS="path/to/NAME.c ..."`, each defining
 * `const ss_handler_t ss_handler_NAME` (the Makefile lists them in
 * SS_EXTRA_HANDLERS, a header of HANDLER(NAME) lines). */
#include "../handlers/handlers.h"
#include "socketserver_cli.h"

#ifdef SS_EXTRA_HANDLERS
#define HANDLER(name) extern const ss_handler_t ss_handler_##name;
#include SS_EXTRA_HANDLERS
#undef HANDLER
#endif

static const ss_handler_t *const handlers[] = {
#define HANDLER(name) &ss_handler_##name,
#include "../handlers/list.h"
#ifdef SS_EXTRA_HANDLERS
#include SS_EXTRA_HANDLERS
#endif
#undef HANDLER
    NULL};

int main(int argc, char **argv)
{
    return ss_main(argc, argv, handlers);
}
