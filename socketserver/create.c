/* create.c -- ss_server_create: the configuration checked and completed,
 * the socket and pipes acquired, the strategy that runs requests chosen
 * (this process's mode, or a master's workers), the handler opened.  The
 * one file that composes every layer; nothing calls it but the user. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ss_config_init(ss_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mode = SS_MODE_THREAD;
    cfg->block_on_close = 1;
    cfg->grace_ms = SS_DEFAULT_GRACE_MS;
    /* Here, not at create: 0 says "none" (as --idle-threads 0 does). */
    cfg->idle_threads = SS_DEFAULT_IDLE_THREADS;
}

/* Fill in the zero-means-default fields of the server's own copy. */
static void apply_defaults(ss_config_t *cfg)
{
    if (cfg->mode == SS_MODE_DEFAULT)
        cfg->mode = SS_MODE_THREAD;
    if (cfg->accept == SS_ACCEPT_DEFAULT)
        cfg->accept = SS_ACCEPT_SHARED;
    if (cfg->pool_accept == SS_POOL_ACCEPT_DEFAULT)
        cfg->pool_accept = SS_POOL_ACCEPT_QUEUE;
    if (cfg->backlog <= 0)
        cfg->backlog = SOMAXCONN;
    if (cfg->max_datagram == 0)
        cfg->max_datagram = SS_DEFAULT_MAX_DATAGRAM;
    if (cfg->max_children <= 0)
        cfg->max_children = SS_DEFAULT_MAX_CHILDREN;
    if (cfg->max_threads <= 0)
        cfg->max_threads = SS_DEFAULT_MAX_THREADS;
    if (cfg->thread_idle_ms <= 0)
        cfg->thread_idle_ms = SS_DEFAULT_THREAD_IDLE_MS;
    if (cfg->grace_ms < 0)
        cfg->grace_ms = 0;
    if (cfg->timeout_ms == 0) /* not set: the handler knows its clients */
        cfg->timeout_ms = cfg->handler->timeout_ms;
    if (cfg->timeout_ms < 0) /* SS_TIMEOUT_NONE; from here on 0 is none */
        cfg->timeout_ms = 0;
    if (cfg->service_interval_ms <= 0)
        cfg->service_interval_ms = SS_DEFAULT_SERVICE_MS;
    if (cfg->max_conns > 0) { /* the modes with a cap of their own */
        if (cfg->max_children > cfg->max_conns)
            cfg->max_children = cfg->max_conns;
        if (cfg->max_threads > cfg->max_conns)
            cfg->max_threads = cfg->max_conns;
    }
    if (cfg->idle_threads < 0)
        cfg->idle_threads = 0;
    if (cfg->idle_threads > cfg->max_threads) /* never more than serve */
        cfg->idle_threads = cfg->max_threads;
}

/* Every address: at most SS_MAX_LISTENERS, each well formed, and none a
 * Unix socket when workers each bind their own (accept "reuseport"). */
static int check_addresses(const ss_config_t *cfg, char *err, size_t errlen)
{
    int reuseport = cfg->workers > 0 && cfg->accept == SS_ACCEPT_REUSEPORT;
    const char *address;
    for (int i = 0; (address = ss__config_address(cfg, i)); i++) {
        if (i >= SS_MAX_LISTENERS)
            return ss__fail(err, errlen, -EINVAL, "at most %d addresses",
                            SS_MAX_LISTENERS);
        int rc = ss_address_check(address, err, errlen);
        if (rc < 0)
            return rc;
        if (reuseport && !strncmp(address, "unix:", 5))
            return ss__fail(err, errlen, -EINVAL,
                            "accept reuseport needs TCP or UDP addresses, "
                            "not %s",
                            address);
    }
    return 0;
}

/* Options checked here rather than when a mode opens: with workers, the
 * mode opens only in the workers, where an error is too late to report. */
static int check_config(const ss_config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->handler)
        return ss__fail(err, errlen, -EINVAL, "no handler given");
    if (!ss__mode_for(cfg->mode))
        return ss__fail(err, errlen, -EINVAL, "unknown mode %d", cfg->mode);
    if (!cfg->address)
        return ss__fail(err, errlen, -EINVAL, "no address given");
    if (!ss_choice_name(SS_CHOICE_POLLER, cfg->poller))
        return ss__fail(err, errlen, -EINVAL, "poller %d: not on this system",
                        cfg->poller);
    if (!ss_choice_name(SS_CHOICE_POOL_ACCEPT, cfg->pool_accept))
        return ss__fail(err, errlen, -EINVAL, "unknown pool accept design %d",
                        cfg->pool_accept);
    if (!ss_choice_name(SS_CHOICE_ACCEPT, cfg->accept))
        return ss__fail(err, errlen, -EINVAL, "unknown accept strategy %d",
                        cfg->accept);
    if (cfg->workers < 0 || cfg->workers > SS_MAX_WORKERS)
        return ss__fail(err, errlen, -EINVAL, "workers: from 0 to %d, not %d",
                        SS_MAX_WORKERS, cfg->workers);
    if (!ss_choice_name(SS_CHOICE_PROXY, cfg->proxy_protocol))
        return ss__fail(err, errlen, -EINVAL, "unknown proxy_protocol %d",
                        cfg->proxy_protocol);
    if (cfg->proxy_protocol != SS_PROXY_OFF && cfg->datagram)
        return ss__fail(err, errlen, -EINVAL,
                        "the PROXY protocol needs a stream server");
    if (cfg->workers > 0 && cfg->accept == SS_ACCEPT_PASS && cfg->datagram)
        return ss__fail(err, errlen, -EINVAL,
                        "accept pass needs a stream server (connections to "
                        "hand over)");
    return check_addresses(cfg, err, errlen);
}

/* The resources every server holds: its socket, its wake and abort
 * pipes, and a buffer for datagrams. */
static int acquire(ss_server_t *srv, char *err, size_t errlen)
{
    int rc = ss__listen(srv, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = ss__make_pipe(&srv->wake_r, &srv->wake_w)) < 0 ||
        (rc = ss__make_pipe(&srv->abort_r, &srv->abort_w)) < 0)
        return ss__fail(err, errlen, rc, "pipe: %s", strerror(-rc));
    if (srv->cfg.datagram &&
        !(srv->datagram_buf = malloc(srv->cfg.max_datagram)))
        return ss__fail(err, errlen, -ENOMEM, "out of memory");
    return ss__proxy_prepare(srv, err, errlen);
}

/* Who runs the requests: a master's workers (each opens the mode and
 * drops privileges for itself), or this process, from now on as the
 * configured user. */
static int choose_runner(ss_server_t *srv, char *err, size_t errlen)
{
    int rc = ss__resolve_identity(srv, err, errlen);
    if (rc < 0)
        return rc;
    if (srv->cfg.workers > 0 && srv->cfg.accept == SS_ACCEPT_REUSEPORT &&
        (rc = ss__check_reuse_port(srv, err, errlen)) < 0)
        return rc;
    if (srv->cfg.workers > 0)
        return ss__master_prepare(srv, err, errlen);
    return ss__server_start_mode(srv, err, errlen);
}

int ss_server_create(ss_server_t **out, const ss_config_t *cfg, char *err,
                     size_t errlen)
{
    *out = NULL;
    int rc = check_config(cfg, err, errlen);
    if (rc < 0)
        return rc;
    ss_server_t *srv = ss__server_alloc(cfg);
    if (!srv)
        return ss__fail(err, errlen, -ENOMEM, "out of memory");
    apply_defaults(&srv->cfg);
    srv->mode = ss__mode_for(srv->cfg.mode);
    if (srv->cfg.workers > 0 && srv->cfg.accept == SS_ACCEPT_REUSEPORT)
        srv->cfg.reuse_port = 1; /* the workers bind beside the master */
    ss__log_share_peer_limit();
    rc = acquire(srv, err, errlen);
    if (rc >= 0)
        rc = choose_runner(srv, err, errlen);
    if (rc >= 0)
        rc = ss__open_handler(srv, err, errlen);
    if (rc < 0) {
        ss__server_unref(srv); /* releases what was acquired */
        return rc;
    }
    *out = srv;
    return 0;
}
