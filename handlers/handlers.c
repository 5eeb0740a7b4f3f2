/* handlers.c -- lookup over the built-in handlers listed in list.h, and
 * their options. */
#include "handlers.h"

#include <string.h>

static const ss_handler_t *const builtin[] = {
#define HANDLER(name) &ss_handler_##name,
#include "list.h"
#undef HANDLER
};

#define HANDLER_COUNT (sizeof(builtin) / sizeof(builtin[0]))

const ss_handler_t *handlers_at(size_t i)
{
    return i < HANDLER_COUNT ? builtin[i] : NULL;
}

const ss_handler_t *handlers_find(const char *name)
{
    for (size_t i = 0; i < HANDLER_COUNT; i++)
        if (strcmp(builtin[i]->name, name) == 0)
            return builtin[i];
    return NULL;
}

void handler_options_init(handler_options_t *o)
{
    o->delay_ms = -1;
    o->poem = NULL;
    o->remote = NULL;
    o->root = NULL;
}

const handler_options_t *handler_server_options(const ss_server_t *srv)
{
    static const handler_options_t defaults = {-1, NULL, NULL, NULL};
    const handler_options_t *o = ss_server_context(srv);
    return o ? o : &defaults;
}

const handler_options_t *handler_options(const ss_request_t *req)
{
    return handler_server_options(ss_request_server(req));
}
