/* handlers.c -- lookup over the built-in handlers listed in list.h. */
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
