/* modes.c -- the table of built-in modes.  A new mode is one mode_*.c file
 * and one row here. */
#include "internal.h"

#include <string.h>

static const ss_mode_t *const modes[] = {
    &ss__mode_sync,
    &ss__mode_fork,
    &ss__mode_thread,
    &ss__mode_prethread,
    &ss__mode_event,
};

#define MODE_COUNT (sizeof(modes) / sizeof(modes[0]))

const ss_mode_t *ss__mode_find(const char *name)
{
    for (size_t i = 0; i < MODE_COUNT; i++)
        if (strcmp(modes[i]->name, name) == 0)
            return modes[i];
    return NULL;
}

const char *ss_mode_name(size_t i)
{
    return i < MODE_COUNT ? modes[i]->name : NULL;
}

const char *ss_mode_summary(size_t i)
{
    return i < MODE_COUNT ? modes[i]->summary : NULL;
}
