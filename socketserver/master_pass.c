/* master_pass.c -- accept "pass": the master accepts every connection and
 * hands it to the least loaded worker over a SOCK_SEQPACKET channel, its
 * descriptor as SCM_RIGHTS and its peer address as the message. */
#include "workers.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* accept "pass": a channel that keeps message boundaries, one message
 * per connection.  The master's end in ends[0]. */
int ss__pass_channel(const ss_master_t *m, int ends[2])
{
    ends[0] = ends[1] = -1;
    if (!m->pass)
        return 0;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ends) < 0)
        return -errno;
    ss__set_nonblocking_cloexec(ends[0]);
    return 0;
}

/* The serving worker with the fewest open connections whose channel has
 * room now, or NULL: then the master does not accept (back-pressure). */
static worker_t *least_loaded(ss_master_t *m)
{
    worker_t *best = NULL;
    long best_open = 0;
    for (int i = 0; i < SS_MAX_WORKERS; i++) {
        worker_t *w = &m->workers[i];
        struct pollfd p = {w->channel, POLLOUT, 0};
        if (!w->pid || w->told_ms || poll(&p, 1, 0) != 1 ||
            !(p.revents & POLLOUT))
            continue;
        long open = atomic_load(&m->shared->slots[w->slot].open);
        if (!best || open < best_open) {
            best = w;
            best_open = open;
        }
    }
    return best;
}

/* Send one connection: its descriptor as SCM_RIGHTS, its peer address as
 * the message.  0, or -1 when the channel would not take it. */
static int hand_over(worker_t *w, int fd, const struct sockaddr_storage *peer,
                     socklen_t len)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof(control));
    struct iovec iov = {(void *)peer, len};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(fd));
    return sendmsg(w->channel, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Accept what is waiting (a bounded batch) and pass each connection on. */
int ss__pass_has_taker(ss_master_t *m)
{
    return least_loaded(m) != NULL;
}

int ss__pass_connections(ss_server_t *srv, ss_master_t *m,
                         const ss_listener_t *l)
{
    int passed = 0;
    for (int i = 0; i < 64; i++) {
        worker_t *w = least_loaded(m);
        struct sockaddr_storage peer;
        socklen_t len;
        int fd = w ? ss__accept_raw(srv, l, &peer, &len) : -1;
        if (fd < 0)
            return passed;
        while (w && hand_over(w, fd, &peer, len) < 0)
            w = least_loaded(m); /* that channel filled up meanwhile */
        if (!w)
            ss_log(SS_LOG_ERROR, "no worker can take a connection; "
                                 "closing it");
        passed += w != NULL;
        close(fd); /* the worker has its own copy now */
    }
    return passed;
}
