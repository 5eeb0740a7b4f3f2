/* wait.c -- the one wait seam.  Every request function that would block
 * waits here, with an absolute deadline, through the request's waiter:
 * poll(2) by default, a parked coroutine in the event mode.  Nothing here
 * or above knows which. */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* The earlier of two deadlines, where 0 means "none". */
static long long earlier(long long a, long long b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

#define SS_MAX_WAIT_FDS 16

/* The default waiter: poll(2) on the descriptors, the server's abort pipe
 * (-ECANCELED once written) and the hard stop time a shutdown set.
 *
 * Until the hard stop time is known the wait also watches the server's
 * wake pipe: a shutdown from another thread sets that time after this poll
 * began, and the pipe (never drained) is how this wait learns of it. */
static int poll_wait(ss_request_t *req, struct pollfd *fds, unsigned nfds,
                     long long deadline_ms)
{
    ss_server_t *srv = req->server;
    struct pollfd pfd[SS_MAX_WAIT_FDS + 2];
    if (nfds > SS_MAX_WAIT_FDS)
        return -EINVAL;
    memcpy(pfd, fds, nfds * sizeof(*fds));
    pfd[nfds] = (struct pollfd){srv->abort_r, POLLIN, 0};
    pfd[nfds + 1] = (struct pollfd){srv->wake_r, POLLIN, 0};
    for (;;) { /* polls at least once: a deadline of now still looks */
        long long stop = atomic_load(&srv->hard_stop_at_ms);
        if (stop)
            pfd[nfds + 1].fd = -1; /* shutdown known: stop is its deadline */
        long long until = earlier(deadline_ms, stop);
        long long now = ss__now_ms();
        if (stop && now >= stop)
            return -ECANCELED;
        long long left = !until ? -1 : until > now ? until - now : 0;
        int n = poll(pfd, nfds + 2, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0 && pfd[nfds].revents)
            return -ECANCELED;
        int ready = 0;
        for (unsigned i = 0; n > 0 && i < nfds; i++) {
            fds[i].revents = pfd[i].revents;
            ready += pfd[i].revents != 0;
        }
        if (ready)
            return ready;
        if (deadline_ms && ss__now_ms() >= deadline_ms &&
            !(stop && deadline_ms >= stop))
            return -ETIMEDOUT;
    }
}

const ss_waiter_t ss__poll_waiter = {.wait = poll_wait};

/* Every wait goes through the request's waiter: a blocking mode's thread
 * polls, an event mode's coroutine is parked. */
int ss__wait(ss_request_t *req, struct pollfd *fds, unsigned nfds,
             long long deadline_ms)
{
    for (unsigned i = 0; i < nfds; i++)
        fds[i].revents = 0;
    return req->waiter->wait(req, fds, nfds, deadline_ms);
}

int ss__wait_fd(ss_request_t *req, int fd, short events, long long deadline_ms)
{
    struct pollfd p = {fd, events, 0};
    int rc = ss__wait(req, &p, fd >= 0 ? 1 : 0, deadline_ms);
    return rc < 0 ? rc : 0;
}

/* When the blocking call starting now must give up: the idle timeout
 * from now, or the connection's deadline if that comes first.  Calls that
 * move bytes in several steps ask again after each step, so the timeout
 * bounds a silence, not a slow but steady transfer (which --deadline
 * bounds).  0: never. */
long long ss__call_deadline(const ss_request_t *req)
{
    long long idle = req->timeout_ms > 0 ? ss__now_ms() + req->timeout_ms : 0;
    return earlier(idle, req->deadline_at_ms);
}

/* A call moved bytes: the waiter may let others run (a client that always
 * has data must not starve the rest of an event loop). */
void ss__made_progress(ss_request_t *req)
{
    if (req->waiter->progress)
        req->waiter->progress(req);
}
