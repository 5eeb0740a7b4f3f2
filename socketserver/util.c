/* util.c -- the clock and descriptors. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

/* Monotonic milliseconds: deadlines must not move with the wall clock. */
long long ss__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every descriptor the library opens is non-blocking (waits go through the
 * mode's wait, with deadlines) and close-on-exec (nothing leaks into a
 * program the user runs). */
/* For a descriptor just made by accept(): its flags are known to be
 * clear, so they are set without reading them first (two system calls
 * fewer per connection). */
int ss__set_new_fd_flags(int fd)
{
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

int ss__set_nonblocking_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

/* A non-blocking, close-on-exec pipe: 0, or -errno. */
int ss__make_pipe(int *r, int *w)
{
    int p[2];
    if (pipe(p) < 0)
        return -errno;
    ss__set_nonblocking_cloexec(p[0]);
    ss__set_nonblocking_cloexec(p[1]);
    *r = p[0];
    *w = p[1];
    return 0;
}

void ss__close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}
