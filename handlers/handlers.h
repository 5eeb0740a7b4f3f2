/* handlers.h -- the built-in handlers, each defined in its own file and
 * listed in list.h. */
#ifndef SS_HANDLERS_H
#define SS_HANDLERS_H

#include "../socketserver/socketserver.h"

#include <errno.h>

#define HANDLER(name) extern const ss_handler_t ss_handler_##name;
#include "list.h"
#undef HANDLER

/* The handlers' default idle timeouts (ss_handler_t.timeout_ms), for a
 * server whose configuration sets none (the CLI without --timeout): every
 * wait for a client, to send or to take our bytes, is bounded unless a
 * client may rightly stay quiet.  chat and logger have none: their only
 * wait is for the client's next line, which may come hours later, and
 * they never block on a send (the logger sends nothing; chat disconnects
 * a reader 64 KiB behind). */
#define HANDLER_TIMEOUT_TALK_MS                                                \
    (300 * 1000) /* a person at a prompt, or a                                 \
                    client taking a reply: the                                 \
                    line bots, echo, poetry */
#define HANDLER_TIMEOUT_HTTP_MS                                                \
    (60 * 1000) /* nginx's client_header_timeout                               \
                   and send_timeout */
#define HANDLER_TIMEOUT_RELAY_MS                                               \
    (600 * 1000) /* nginx stream's proxy_timeout:                              \
                    a relayed session may idle */

/* Every built-in handler, in list.h's order, then NULL: what the stock
 * binary passes to ss_main, and what a program of its own may pass too
 * (declared for it in socketserver_cli.h). */
extern const ss_handler_t *const ss_builtin_handlers[];

/* The i-th built-in handler, NULL past the end; or one by name. */
const ss_handler_t *handlers_at(size_t i);
const ss_handler_t *handlers_find(const char *name);

/* The handler option `name` (ss_server_option) as a whole number from lo
 * to hi: *out, 0; not given: *out untouched, 0; else -EINVAL. */
int handler_option_int(const ss_server_t *srv, const char *name, long lo,
                       long hi, long *out);

#endif
