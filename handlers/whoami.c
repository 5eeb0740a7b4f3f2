/* whoami -- says who the server thinks the client is, and through whom:
 * "you are 192.0.2.7:4321 via 10.0.0.2:51000\n" behind a balancer speaking
 * the PROXY protocol, "you are 127.0.0.1:5000\n" without one; then closes.
 * For checking a deployment (and the balancer's health check), as
 * nginx's $remote_addr and $realip_remote_addr are. */
#include "handlers.h"

static int whoami_handle(ss_request_t *req)
{
    const char *via = ss_proxy_peer(req);
    if (via)
        return ss_sendf(req, "you are %s via %s\n", ss_peer(req), via);
    return ss_sendf(req, "you are %s\n", ss_peer(req));
}

const ss_handler_t ss_handler_whoami = {
    .name = "whoami",
    .summary = "tells the client its address (and the balancer's, behind one), "
               "then closes",
    .handle = whoami_handle,
    .timeout_ms = HANDLER_TIMEOUT_TALK_MS,
};
