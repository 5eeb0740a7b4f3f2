/* handler.c -- the handler's open, at create and again on a master's
 * reload, with its close owed only after an open that succeeded. */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* The handler's open, if any: 0 or -errno, with its message (or one
 * naming the handler) in err.  open always gets a buffer of its own, so
 * a handler may write its message without checking: the caller's err may
 * be NULL or short. */
static int call_open(ss_server_t *srv, char *err, size_t errlen)
{
    const ss_handler_t *h = srv->cfg.handler;
    char why[256] = "";
    int rc = h->open ? h->open(srv, why, sizeof(why)) : 0;
    if (rc > 0)
        rc = -EINVAL; /* open must return 0 or -errno */
    if (rc < 0 && why[0])
        return ss__fail(err, errlen, rc, "%s", why);
    if (rc < 0)
        return ss__fail(err, errlen, rc, "%s: open: %s", ss__handler_name(h),
                        ss_strerror(rc));
    return 0;
}

/* The handler's open runs once the socket is bound; its close is owed
 * only when open succeeded. */
int ss__open_handler(ss_server_t *srv, char *err, size_t errlen)
{
    int rc = call_open(srv, err, errlen);
    srv->handler_opened = rc == 0;
    return rc;
}

/* A reload in a master: open the handler again before the new workers
 * start, so that they get what it loads now (a poem file read again).
 * Only once that succeeded is the old state closed: close sees it through
 * ss_server_handler_data as before, and the new state takes its place.  A
 * failed open keeps the old state, and says why. */
int ss__reopen_handler(ss_server_t *srv)
{
    const ss_handler_t *h = srv->cfg.handler;
    if (!h->open)
        return 0;
    void *old = srv->handler_data;
    char err[256];
    int rc = call_open(srv, err, sizeof(err));
    if (rc < 0) {
        srv->handler_data = old;
        ss_log(SS_LOG_ERROR, "reload: %s: %s; the handler stays as it was",
               ss__handler_name(h), err);
        return rc;
    }
    void *fresh = srv->handler_data;
    if (fresh != old && srv->handler_opened && h->close) {
        srv->handler_data = old;
        h->close(srv);
    }
    srv->handler_data = fresh;
    srv->handler_opened = 1;
    return 0;
}
