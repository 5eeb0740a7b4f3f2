/* handlers.c -- the built-in handlers listed in list.h, as the table the
 * stock binary hands to ss_main, a lookup over it, and the reading of a
 * numeric handler option. */
#include "handlers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const ss_handler_t *const ss_builtin_handlers[] = {
#define HANDLER(name) &ss_handler_##name,
#include "list.h"
#undef HANDLER
    NULL};

#define HANDLER_COUNT                                                          \
    (sizeof(ss_builtin_handlers) / sizeof(ss_builtin_handlers[0]) - 1)

const ss_handler_t *handlers_at(size_t i)
{
    return i < HANDLER_COUNT ? ss_builtin_handlers[i] : NULL;
}

const ss_handler_t *handlers_find(const char *name)
{
    for (size_t i = 0; i < HANDLER_COUNT; i++)
        if (strcmp(ss_builtin_handlers[i]->name, name) == 0)
            return ss_builtin_handlers[i];
    return NULL;
}

int handler_option_int(const ss_server_t *srv, const char *name, long lo,
                       long hi, long *out)
{
    const char *text = ss_server_option(srv, name);
    char *end;
    if (!text)
        return 0;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}
