/* lifetime.c -- a server object's memory: made with nothing open, kept
 * alive by references, and released -- everything it holds, in reverse --
 * when the last one goes.  It calls only down, or through the function
 * pointers of the mode, the handler and the process layer. */
#include "internal.h"

#include <stdlib.h>
#include <unistd.h>

ss_server_t *ss__server_alloc(const ss_config_t *cfg)
{
    ss_server_t *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    srv->cfg = *cfg;
    srv->wake_r = srv->wake_w = srv->abort_r = srv->abort_w = -1;
    for (int i = 0; i < SS_MAX_LISTENERS; i++)
        srv->listeners[i].fd = -1;
    srv->hooks.watch_fd = -1;
    srv->run_uid = (uid_t)-1;
    srv->run_gid = (gid_t)-1;
    srv->owner_pid = getpid();
    atomic_init(&srv->refs, 1);
    atomic_init(&srv->hard_stop_at_ms, 0);
    atomic_init(&srv->shutdown_requested, 0);
    atomic_init(&srv->stop_now, 0);
    atomic_init(&srv->accept_paused_until_ms, 0);
    atomic_init(&srv->accept_error_logged_ms, 0);
    return srv;
}

/* Everything the server may have acquired, released in reverse. */
static void server_free(ss_server_t *srv)
{
    if (srv->handler_opened && srv->cfg.handler->close)
        srv->cfg.handler->close(srv);
    if (srv->mode_state && srv->mode->release)
        srv->mode->release(srv);
    ss__close_listeners(srv);
    ss__close_fd(&srv->wake_r);
    ss__close_fd(&srv->wake_w);
    ss__close_fd(&srv->abort_r);
    ss__close_fd(&srv->abort_w);
    if (srv->hooks.release)
        srv->hooks.release(srv);
    free(srv->datagram_buf);
    free(srv->proxy_trust);
    free(srv);
}

/* The owner holds one reference and each running request one, so a thread
 * that outlives ss_server_close (block_on_close off) still finds its
 * server; the last one out frees it. */
void ss__server_ref(ss_server_t *srv)
{
    atomic_fetch_add(&srv->refs, 1);
}

void ss__server_unref(ss_server_t *srv)
{
    if (atomic_fetch_sub(&srv->refs, 1) == 1)
        server_free(srv);
}
