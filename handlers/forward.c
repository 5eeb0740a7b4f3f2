/* forward -- seed 004's asyncore port forwarder: each client is relayed to
 * --remote HOST:PORT, both directions at once, until both are done.
 *
 * A relay is two flows (client to remote, remote to client).  A flow reads
 * a chunk when its buffer is empty, then waits until its destination is
 * writable and sends the chunk; one ss_poll covers both flows, so neither
 * direction waits for the other.  When a flow's source reaches end of file
 * its destination is shut down for writing (half-close), and the other
 * flow goes on until its own end of file. */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FORWARD_CHUNK 4096 /* per direction, as the seed's recv(4096) */

/* One direction of the relay. */
typedef struct flow {
    int from, to;
    char *buf;  /* FORWARD_CHUNK bytes */
    size_t len; /* bytes read from `from`, not yet sent to `to` */
    int done;   /* `from` ended (or failed): nothing more to relay */
    int error;  /* how it failed, or 0 */
} flow_t;

/* Refuse a missing or malformed --remote, and datagram servers: a relay
 * needs connections on both sides. */
static int forward_open(ss_server_t *srv, char *err, size_t errlen)
{
    const char *remote = ss_server_option(srv, "remote");
    char why[200];
    if (!remote || !*remote) {
        snprintf(err, errlen, "forward: --remote HOST:PORT is required");
        return -EINVAL;
    }
    if (ss_address_check(remote, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "forward: --remote %s: %s", remote, why);
        return -EINVAL;
    }
    if (ss_server_config(srv)->datagram) {
        snprintf(err, errlen,
                 "forward: relays stream connections only, "
                 "not datagrams");
        return -EINVAL;
    }
    return 0;
}

/* The poll events a descriptor needs: readable for a flow reading from it
 * with room in its buffer, writable for a flow with bytes bound for it. */
static short wanted_events(const flow_t flows[2], int fd)
{
    short events = 0;
    for (int i = 0; i < 2; i++) {
        if (flows[i].done)
            continue;
        if (flows[i].from == fd && flows[i].len == 0)
            events |= POLLIN;
        if (flows[i].to == fd && flows[i].len > 0)
            events |= POLLOUT;
    }
    return events;
}

/* A timeout or the server's stop ends the whole relay; any other failure
 * (a reset, a broken pipe) ends only this flow, so the other one still
 * delivers what its side already sent. */
static int flow_failed(flow_t *f, int rc)
{
    if (rc == -ETIMEDOUT || rc == -ECANCELED)
        return rc;
    f->done = 1;
    f->len = 0;
    f->error = rc;
    return 0;
}

/* Read one chunk into an empty flow.  At its end (or failure), pass the
 * half-close on: the destination sees end of file, and may still answer
 * through the other flow. */
static int flow_read(ss_request_t *req, flow_t *f)
{
    ssize_t n = ss_fd_recv(req, f->from, f->buf, FORWARD_CHUNK);
    if (n <= 0) {
        shutdown(f->to, SHUT_WR);
        f->done = 1;
        return n < 0 ? flow_failed(f, (int)n) : 0;
    }
    f->len = (size_t)n;
    return 0;
}

/* Send the flow's pending chunk, now that its destination is writable. */
static int flow_write(ss_request_t *req, flow_t *f)
{
    int rc = ss_fd_send_all(req, f->to, f->buf, f->len);
    f->len = 0;
    return rc < 0 ? flow_failed(f, rc) : 0;
}

/* What poll reported for fd, one of the two in pfd. */
static short revents_of(const struct pollfd pfd[2], int fd)
{
    return pfd[0].fd == fd ? pfd[0].revents : pfd[1].revents;
}

/* Act on what poll reported for one flow.  Hang-ups and errors count as
 * ready: the read or send then reports the end or the error itself. */
static int flow_step(ss_request_t *req, flow_t *f, const struct pollfd pfd[2])
{
    const short trouble = POLLHUP | POLLERR;
    if (f->done)
        return 0;
    if (f->len == 0 && (revents_of(pfd, f->from) & (POLLIN | trouble)))
        return flow_read(req, f);
    if (f->len > 0 && (revents_of(pfd, f->to) & (POLLOUT | trouble)))
        return flow_write(req, f);
    return 0;
}

/* Relay until both flows are done.  A descriptor nothing waits on is left
 * out of the poll (fd -1), so a hang-up there cannot make the loop spin. */
static int relay(ss_request_t *req, flow_t flows[2])
{
    int fds[2] = {flows[0].from, flows[1].from};
    while (!flows[0].done || !flows[1].done) {
        struct pollfd pfd[2];
        for (int i = 0; i < 2; i++) {
            short events = wanted_events(flows, fds[i]);
            pfd[i] = (struct pollfd){events ? fds[i] : -1, events, 0};
        }
        int rc = ss_poll(req, pfd, 2, -1);
        pfd[0].fd = fds[0]; /* flow_step tells the two apart by fd */
        pfd[1].fd = fds[1];
        for (int i = 0; rc >= 0 && i < 2; i++)
            rc = flow_step(req, &flows[i], pfd);
        if (rc < 0)
            return rc;
    }
    return flows[0].error ? flows[0].error : flows[1].error;
}

/* Connect to the remote and relay.  An unreachable remote is the remote's
 * fault, not the client's: log it and close the client quietly. */
static int forward_handle(ss_request_t *req)
{
    const char *remote = ss_server_option(ss_request_server(req), "remote");
    int remote_fd = ss_connect(req, remote);
    if (remote_fd < 0) {
        ss_log_peer(SS_LOG_WARN, "forward: %s: cannot connect to %s: %s",
                    ss_peer(req), remote, strerror(-remote_fd));
        return remote_fd == -ECANCELED ? remote_fd : 0;
    }
    char *buffers = malloc(2 * FORWARD_CHUNK);
    if (!buffers) {
        ss_fd_close(req, remote_fd);
        return -ENOMEM;
    }
    flow_t flows[2] = {
        {ss_fd(req), remote_fd, buffers, 0, 0, 0},
        {remote_fd, ss_fd(req), buffers + FORWARD_CHUNK, 0, 0, 0},
    };
    int rc = relay(req, flows);
    free(buffers);
    ss_fd_close(req, remote_fd);
    return rc;
}

static const ss_handler_option_t forward_options[] = {
    {.name = "remote",
     .meta = "ADDR",
     .help = "where to relay each client",
     .type = SS_OPTION_ADDRESS},
    {0}};

const ss_handler_t ss_handler_forward = {
    .name = "forward",
    .summary = "relays each client to --remote HOST:PORT, both ways, "
               "half-close included (seed 004)",
    .handle = forward_handle,
    .open = forward_open,
    .timeout_ms = HANDLER_TIMEOUT_RELAY_MS,
    .options = forward_options,
};
