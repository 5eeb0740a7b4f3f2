/* option.c -- the handler's options: the values given in the server's
 * configuration, looked up by name (ss_server_option).  The CLI checks
 * each value against the handler's declaration before it gets here. */
#include "internal.h"

#include <string.h>

const char *ss_server_option(const ss_server_t *srv, const char *name)
{
    const char *found = NULL;
    const ss_option_value_t *v = srv->cfg.options;
    for (; v && v->name; v++)
        if (strcmp(v->name, name) == 0)
            found = v->value; /* the last one given wins, as flags do */
    return found;
}
