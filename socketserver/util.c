/* util.c -- the clock, descriptor flags and the logger. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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

static atomic_int log_level = SS_LOG_INFO;
static char log_path[4096]; /* ss_log_open's file, for ss_log_reopen */

/* Point standard error (where ss_log writes) at path, appending. */
static int redirect_stderr(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0)
        return -errno;
    int rc = dup2(fd, STDERR_FILENO) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int ss_log_open(const char *path)
{
    if (strlen(path) >= sizeof(log_path))
        return -ENAMETOOLONG;
    int rc = redirect_stderr(path);
    if (rc == 0)
        strcpy(log_path, path);
    return rc;
}

/* Async-signal-safe (open, dup2, close): after a log rotation moved the
 * file away, log into a new one under the same name. */
void ss_log_reopen(void)
{
    int saved = errno;
    if (log_path[0])
        redirect_stderr(log_path);
    errno = saved;
}

void ss_log_set_level(int level) { atomic_store(&log_level, level); }

int ss_log_level(void) { return atomic_load(&log_level); }

/* One write(2) per line, so lines from threads and children never mix. */
void ss_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > atomic_load(&log_level))
        return;
    int saved_errno = errno;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
    int k = snprintf(line + n, sizeof(line) - n, ".%03ld [%ld] %s: ",
                     ts.tv_nsec / 1000000, (long)getpid(),
                     names[level < 0 ? 0 : level > 3 ? 3 : level]);
    n += k > 0 ? (size_t)k : 0;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n += k > 0 ? (size_t)k : 0;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w; /* nowhere to report a failed log write */
    errno = saved_errno;
}
