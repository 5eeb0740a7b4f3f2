/* http_open.c -- opening a path beneath the root's descriptor, so that no
 * file outside the root is ever opened: not by "..", not by a symlink
 * (absolute, or relative and climbing out), not by a component swapped
 * for a symlink between two checks.  No realpath per request.
 *
 * Linux 5.6+ does it in one call: openat2(RESOLVE_BENEATH) fails with
 * EXDEV at any step that would leave the root.  Elsewhere (and on an older
 * kernel, which says ENOSYS) the walk below does the same in user space
 * with one openat(O_NOFOLLOW) per component: the kernel never follows a
 * symlink for us, so each one is read here and resolved against the
 * directories already walked.  Both refuse an absolute symlink, even one
 * naming a place inside the root (the root's own path is not known to a
 * descriptor). */
#ifdef SS_HAVE_OPENAT2
#define _GNU_SOURCE /* syscall() */
#include <linux/openat2.h>
#include <sys/syscall.h>
#endif
#include "http.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
#define MAX_LINKS 40 /* symlinks followed in one path, as Linux's ELOOP */
#define WALK_MAX 4096

/* The walk's state: the components still to resolve (pending, from
 * next on) and the directory reached (dir), whose path under the root is
 * done: only real directories, so a ".." just drops done's last name. */
typedef struct walk {
    char pending[WALK_MAX];
    size_t next;
    char done[WALK_MAX];
    size_t done_len;
    int dir; /* root_fd (never closed here) or one this walk opened */
    int root_fd;
    int links;
} walk_t;

static void walk_set_dir(walk_t *w, int fd)
{
    if (w->dir != w->root_fd)
        close(w->dir);
    w->dir = fd;
}

/* The next component (NUL-terminated in place), skipping empty and "."
 * ones; NULL when none is left. */
static char *next_component(walk_t *w)
{
    for (;;) {
        char *p = w->pending + w->next;
        if (*p == '\0')
            return NULL;
        char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        w->next += len + (slash != NULL);
        p[len] = '\0';
        if (len && strcmp(p, ".") != 0)
            return p;
    }
}

/* Back to the directory above, for a "..": done loses its last name and
 * is walked again from the root, each name without following (they were
 * directories; one swapped for a symlink since fails, safely). */
static int walk_up(walk_t *w)
{
    if (w->done_len == 0)
        return -EXDEV; /* above the root */
    char *slash = strrchr(w->done, '/');
    w->done_len = slash ? (size_t)(slash - w->done) : 0;
    w->done[w->done_len] = '\0';
    walk_set_dir(w, w->root_fd);
    for (size_t i = 0; i < w->done_len;) {
        size_t len = strcspn(w->done + i, "/");
        char name[NAME_MAX + 1];
        if (len > NAME_MAX)
            return -ENAMETOOLONG;
        memcpy(name, w->done + i, len);
        name[len] = '\0';
        int fd = openat(w->dir, name,
                        O_RDONLY | O_CLOEXEC | O_DIRECTORY | O_NOFOLLOW);
        if (fd < 0)
            return -errno;
        walk_set_dir(w, fd);
        i += len + 1;
    }
    return 0;
}

/* name in dir is a symlink: its target takes its place in pending.  An
 * absolute target is refused, as RESOLVE_BENEATH does. */
static int walk_link(walk_t *w, const char *name, int open_errno)
{
    char target[WALK_MAX];
    ssize_t n = readlinkat(w->dir, name, target, sizeof(target) - 1);
    if (n < 0)
        return -open_errno; /* not a symlink after all */
    if (++w->links > MAX_LINKS)
        return -ELOOP;
    if (n == 0 || target[0] == '/')
        return -EXDEV;
    const char *rest = w->pending + w->next;
    size_t rest_len = strlen(rest);
    if ((size_t)n + 1 + rest_len + 1 > sizeof(w->pending))
        return -ENAMETOOLONG;
    memmove(w->pending + n + 1, rest, rest_len + 1);
    memcpy(w->pending, target, (size_t)n);
    w->pending[n] = '/';
    w->next = 0;
    return 0;
}

/* One component: "..", a symlink, or a file or directory to enter. */
static int walk_step(walk_t *w, const char *name)
{
    if (strcmp(name, "..") == 0)
        return walk_up(w);
    int fd = openat(w->dir, name, FILE_FLAGS | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        /* A symlink: ELOOP (Linux, POSIX), EMLINK (FreeBSD), EFTYPE
         * (NetBSD); readlinkat tells for sure. */
        return e == ENOENT || e == EACCES ? -e : walk_link(w, name, e);
    }
    size_t len = strlen(name);
    if (w->done_len + 1 + len + 1 > sizeof(w->done)) {
        close(fd);
        return -ENAMETOOLONG;
    }
    if (w->done_len)
        w->done[w->done_len++] = '/';
    memcpy(w->done + w->done_len, name, len + 1);
    w->done_len += len;
    walk_set_dir(w, fd);
    return 0;
}

int http_open_walk(int root_fd, const char *path, int *fd)
{
    walk_t *w = malloc(sizeof(*w));
    if (!w)
        return -ENOMEM;
    /* The directory first: a path too long still ends in walk_set_dir,
     * which must not close a descriptor it never opened. */
    w->dir = w->root_fd = root_fd;
    size_t len = strlen(path);
    int rc = len < sizeof(w->pending) ? 0 : -ENAMETOOLONG;
    if (rc == 0) {
        memcpy(w->pending, path, len + 1);
        w->next = w->done_len = 0;
        w->done[0] = '\0';
        w->links = 0;
    }
    for (char *name; rc == 0 && (name = next_component(w));)
        rc = walk_step(w, name); /* an intermediate non-directory: ENOTDIR */
    if (rc == 0 && w->dir == root_fd) { /* the root itself */
        *fd = openat(root_fd, ".", FILE_FLAGS);
        rc = *fd < 0 ? -errno : 0;
    } else if (rc == 0) {
        *fd = w->dir;
    } else {
        walk_set_dir(w, root_fd);
    }
    free(w);
    return rc;
}

#ifdef SS_HAVE_OPENAT2
/* 1: this kernel has no openat2 (ENOSYS once): walk from then on. */
static _Atomic int no_openat2;

int http_open_beneath(int root_fd, const char *path, int *fd)
{
    if (!no_openat2) {
        struct open_how how = {
            .flags = FILE_FLAGS,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        long rc = syscall(SYS_openat2, root_fd, *path ? path : ".", &how,
                          sizeof(how));
        if (rc >= 0) {
            *fd = (int)rc;
            return 0;
        }
        if (errno != ENOSYS)
            return -errno;
        no_openat2 = 1;
    }
    return http_open_walk(root_fd, path, fd);
}
#else
int http_open_beneath(int root_fd, const char *path, int *fd)
{
    return http_open_walk(root_fd, path, fd);
}
#endif
