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
