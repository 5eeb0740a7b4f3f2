/* mode_sync.c -- iterative: the server runs each request itself, one at a
 * time (Python's BaseServer without a mixin). */
#include "internal.h"

static int sync_open(ss_server_t *srv)
{
    (void)srv;
    return 0;
}

static void sync_process(ss_server_t *srv, ss_request_t *req)
{
    (void)srv;
    ss__request_run(req);
    ss__request_free(req);
}

const ss_mode_t ss__mode_sync = {
    .open = sync_open,
    .process = sync_process,
};
