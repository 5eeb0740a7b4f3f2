/* handlers.h -- the built-in handlers, each defined in its own file and
 * listed in list.h. */
#ifndef SS_HANDLERS_H
#define SS_HANDLERS_H

#include "../socketserver/socketserver.h"

#include <errno.h>

#define HANDLER(name) extern const ss_handler_t ss_handler_##name;
#include "list.h"
#undef HANDLER

/* Options of the built-in handlers, given as the server's context (a NULL
 * context means every default).  The CLI fills them from its flags. */
typedef struct handler_options {
    int delay_ms;       /* poetry: pause between lines; < 0: 500 */
    const char *poem;   /* poetry: a file to serve; NULL: the built-in poem */
    const char *remote; /* forward: HOST:PORT to relay to; required */
    const char *root;   /* http: the directory served; NULL: "." */
} handler_options_t;

void handler_options_init(handler_options_t *o);
/* The options in force for a request: its server's, or the defaults. */
const handler_options_t *handler_options(const ss_request_t *req);
const handler_options_t *handler_server_options(const ss_server_t *srv);

/* The i-th built-in handler, NULL past the end; or one by name. */
const ss_handler_t *handlers_at(size_t i);
const ss_handler_t *handlers_find(const char *name);

#endif
