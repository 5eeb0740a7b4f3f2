/* sendfile.c -- ss_send_file: a file's bytes to the request's connection.
 *
 * sendfile(2) where the build has it (SS_HAVE_SENDFILE, probed by
 * mk/sendfile.c): the kernel copies from the page cache, the process
 * never sees the bytes.  Elsewhere, or for a file sendfile refuses, pread
 * and the request's own send.  Either way the waits, the idle timeout and
 * the event mode's turns go through the request's waiter, as in every
 * request function. */
#define _GNU_SOURCE /* <sys/sendfile.h> wants it; nothing GNU is used */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#ifdef SS_HAVE_SENDFILE
#include <sys/sendfile.h>
#endif

#define READ_STEP 8192          /* the fallback's buffer, on the stack */
#define SENDFILE_STEP (1 << 20) /* bytes per sendfile call */

/* Up to len bytes of fd at offset into buf, retrying interrupted and
 * short reads: how many (fewer than len only at the file's end), or
 * -errno. */
static ssize_t read_at(int fd, char *buf, size_t len, long long offset)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* What the file still has goes out before a file that ended early is
 * reported, as with sendfile. */
static int send_by_reads(ss_request_t *req, int fd, long long offset,
                         long long len)
{
    char buf[READ_STEP];
    while (len > 0) {
        size_t want = len < READ_STEP ? (size_t)len : READ_STEP;
        ssize_t got = read_at(fd, buf, want, offset);
        if (got < 0)
            return (int)got;
        int rc = got > 0 ? ss_send_all(req, buf, (size_t)got) : 0;
        if (rc < 0 || (size_t)got < want)
            return rc < 0 ? rc : -EIO; /* the file shrank */
        offset += got;
        len -= got;
    }
    return 0;
}

#ifdef SS_HAVE_SENDFILE
/* sendfile has no MSG_NOSIGNAL: a peer that reset would raise SIGPIPE,
 * and the library never lets a client kill the process.  So SIGPIPE is
 * blocked in this thread around the one call (no yield in between: a
 * coroutine switch must not carry the mask), and one it raised is taken
 * back before the old mask returns. */
static ssize_t sendfile_quietly(int sock, int fd, long long offset, size_t len)
{
    sigset_t pipe_only, old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    off_t at = (off_t)offset;
    ssize_t n = sendfile(sock, fd, &at, len);
    int saved = errno;
    if (n < 0 && saved == EPIPE && !sigismember(&old, SIGPIPE)) {
        struct timespec none = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &none) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return n;
}

int ss_send_file(ss_request_t *req, int fd, long long offset, long long len)
{
    if (req->datagram)
        return send_by_reads(req, fd, offset, len);
    long long deadline = ss__call_deadline(req);
    while (len > 0) {
        size_t want = len < SENDFILE_STEP ? (size_t)len : SENDFILE_STEP;
        ssize_t n = sendfile_quietly(req->fd, fd, offset, want);
        if (n > 0) {
            offset += n;
            len -= n;
            deadline = ss__call_deadline(req); /* progress: idle again */
            ss__made_progress(req);
            continue;
        }
        if (n == 0)
            return -EIO; /* the file shrank */
        if (errno == EINTR)
            continue;
        if (errno == EINVAL || errno == ENOSYS) /* no page cache behind fd */
            return send_by_reads(req, fd, offset, len);
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int rc = ss__wait_fd(req, req->fd, POLLOUT, deadline);
        if (rc < 0)
            return rc;
    }
    return 0;
}
#else
int ss_send_file(ss_request_t *req, int fd, long long offset, long long len)
{
    return send_by_reads(req, fd, offset, len);
}
#endif
