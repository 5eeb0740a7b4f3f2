/* master_reuseport.c -- accept "reuseport": a socket per listener at each
 * worker position, all made and held by the master (position 0's are the
 * server's own listeners), so that none goes away with connections queued
 * while a worker is replaced: the replacement takes over its
 * predecessor's position. */
#include "workers.h"

#include <errno.h>

/* accept "reuseport": the sockets of position pos (0: the server's own
 * listeners, never closed here). */
void ss__reuseport_close(ss_server_t *srv, ss_master_t *m, int pos)
{
    for (int l = 0; pos > 0 && l < srv->nlisteners; l++)
        ss__close_fd(&m->sock_fd[pos][l]);
}

/* accept "reuseport": keep the sockets of position `sock`, one per
 * listener, and close the others (the master still holds every one). */
void ss__reuseport_keep(ss_server_t *srv, ss_master_t *m, int sock)
{
    if (!m->reuseport)
        return;
    for (int i = 1; i < SS_MAX_WORKERS; i++)
        if (i != sock)
            ss__reuseport_close(srv, m, i);
    for (int l = 0; sock > 0 && l < srv->nlisteners; l++) {
        ss__close_fd(&srv->listeners[l].fd);
        srv->listeners[l].fd = m->sock_fd[sock][l];
    }
}

/* accept "reuseport": position pos's sockets, one per listener, made if
 * need be: all of them, or none (0 or -errno, logged). */
static int open_position(ss_server_t *srv, ss_master_t *m, int pos)
{
    for (int l = 0; pos > 0 && l < srv->nlisteners; l++) {
        char err[256];
        if (m->sock_fd[pos][l] >= 0)
            continue;
        int fd = ss__bind_again(srv, l, err, sizeof(err));
        if (fd < 0) { /* retried on the next pass: logged with a backoff */
            ss__log_backoff(&m->bind_log, SS_LOG_ERROR, "reuseport: %s", err);
            ss__reuseport_close(srv, m, pos);
            return fd;
        }
        m->sock_fd[pos][l] = fd;
    }
    ss__log_backoff_ok(&m->bind_log);
    return 0;
}

/* accept "reuseport": the first position no serving worker has (a
 * stopping one may still drain it), with its sockets made if need be.
 * -1 without reuseport; -errno when a socket cannot be made. */
int ss__reuseport_free_position(ss_server_t *srv)
{
    ss_master_t *m = srv->process;
    if (!m->reuseport)
        return -1;
    for (int i = 0; i < SS_MAX_WORKERS; i++) {
        int taken = 0;
        for (int k = 0; k < SS_MAX_WORKERS && !taken; k++)
            taken = m->workers[k].pid && !m->workers[k].told_ms &&
                    m->workers[k].sock == i;
        if (taken)
            continue;
        int rc = open_position(srv, m, i);
        return rc < 0 ? rc : i;
    }
    return -EAGAIN;
}

/* A position nobody serves and the target no longer needs: its listener
 * goes (connections still queued on it are lost, as with nginx). */
void ss__reuseport_drop_unneeded(ss_server_t *srv, ss_master_t *m)
{
    for (int i = 1; m->reuseport && i < SS_MAX_WORKERS; i++) {
        int used = 0;
        for (int k = 0; k < SS_MAX_WORKERS && !used; k++)
            used = m->workers[k].pid && m->workers[k].sock == i;
        if (!used && i >= m->target)
            ss__reuseport_close(srv, m, i);
    }
}
