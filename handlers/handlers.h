/* handlers.h -- the built-in handlers, each defined in its own file and
 * listed in list.h. */
#ifndef SS_HANDLERS_H
#define SS_HANDLERS_H

#include "../socketserver/socketserver.h"

#include <errno.h>

#define HANDLER(name) extern const ss_handler_t ss_handler_##name;
#include "list.h"
#undef HANDLER

/* The i-th built-in handler, NULL past the end; or one by name. */
const ss_handler_t *handlers_at(size_t i);
const ss_handler_t *handlers_find(const char *name);

#endif
