/* listen.c -- the server's socket (redis's anet.c, in small): resolve,
 * socket, options, bind, listen, each failure naming its call and the
 * address; or the socket systemd handed over. */

/* SO_REUSEPORT is not POSIX, and glibc hides it in strict POSIX mode.  It is
 * the one extension this file uses, and only when reuse_port asks for it. */
#define _DEFAULT_SOURCE
#include "internal.h"

#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A Unix socket file nobody listens on is left over from a dead server:
 * connecting to it is refused.  Only then may reuse_address remove it.
 * The probe does not block: a live server with a full backlog answers
 * EAGAIN, and is live. */
static int unix_path_is_stale(const char *path, int socktype)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return 0;
    int probe = socket(AF_UNIX, socktype, 0);
    if (probe < 0)
        return 0;
    ss__set_nonblocking_cloexec(probe);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, path);
    int stale = connect(probe, (struct sockaddr *)&un, sizeof(un)) < 0 &&
                errno == ECONNREFUSED;
    close(probe);
    return stale;
}

/* 0, or -errno with the option that failed in *what. */
static int set_socket_options(const ss_config_t *cfg, int fd, int family,
                              const char **what)
{
    int on = 1;
    if (family == AF_UNIX)
        return 0;
    *what = "setsockopt SO_REUSEADDR";
    if (cfg->reuse_address &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
        return -errno;
    *what = "setsockopt SO_REUSEPORT";
#ifdef SO_REUSEPORT
    if (cfg->reuse_port &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0)
        return -errno;
#else
    if (cfg->reuse_port)
        return -ENOPROTOOPT;
#endif
    return 0;
}

static int bind_retrying_stale(const ss_config_t *cfg, int fd,
                               const struct sockaddr *sa, socklen_t len,
                               int socktype)
{
    if (bind(fd, sa, len) == 0)
        return 0;
    int err = errno;
    const char *path = ((const struct sockaddr_un *)sa)->sun_path;
    if (err != EADDRINUSE || sa->sa_family != AF_UNIX || !cfg->reuse_address ||
        !unix_path_is_stale(path, socktype)) {
        errno = err; /* the probe's errno must not become bind's */
        return -1;
    }
    unlink(path);
    return bind(fd, sa, len);
}

/* socket + options + bind + listen on one address (address, as given,
 * names it in messages).  Returns the descriptor, with the socket file it
 * made in unix_path; or -errno with the failing call named in err. */
static int open_listener(const ss_config_t *cfg, const char *address,
                         const struct sockaddr *sa, socklen_t len,
                         char *unix_path, char *err, size_t errlen)
{
    int socktype = cfg->datagram ? SOCK_DGRAM : SOCK_STREAM;
    int fd = socket(sa->sa_family, socktype, 0);
    if (fd < 0)
        return ss__fail(err, errlen, -errno, "socket %s: %s", address,
                        strerror(errno));
    const char *call = "fcntl";
    int rc = ss__set_nonblocking_cloexec(fd);
    if (rc == 0)
        rc = set_socket_options(cfg, fd, sa->sa_family, &call);
    if (rc == 0) {
        call = "bind";
        rc = bind_retrying_stale(cfg, fd, sa, len, socktype) < 0 ? -errno : 0;
    }
    if (rc == 0 && sa->sa_family == AF_UNIX)
        strcpy(unix_path, ((const struct sockaddr_un *)sa)->sun_path);
    if (rc == 0 && !cfg->datagram) {
        call = "listen";
        rc = listen(fd, cfg->backlog) < 0 ? -errno : 0;
    }
    if (rc == 0)
        return fd;
    close(fd);
    if (unix_path[0]) {
        unlink(unix_path);
        unix_path[0] = '\0';
    }
    return ss__fail(err, errlen, rc, "%s %s: %s", call, address, strerror(-rc));
}

/* Resolve address and bind the first candidate that works, as Python's
 * create_server does.  The descriptor, or -errno. */
static int bind_address(const ss_config_t *cfg, const char *address,
                        char *unix_path, char *err, size_t errlen)
{
    ss_addr_parts_t parts;
    if (ss__addr_parse(address, &parts, err, errlen) < 0)
        return -EINVAL;
    if (parts.is_unix) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        strcpy(un.sun_path, parts.path);
        return open_listener(cfg, address, (struct sockaddr *)&un, sizeof(un),
                             unix_path, err, errlen);
    }
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                             .ai_socktype =
                                 cfg->datagram ? SOCK_DGRAM : SOCK_STREAM};
    struct addrinfo *list;
    int gai = getaddrinfo(parts.host[0] ? parts.host : NULL, parts.port, &hints,
                          &list);
    if (gai != 0)
        return ss__fail(err, errlen, -EADDRNOTAVAIL, "resolve %s: %s", address,
                        gai_strerror(gai));
    int fd = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next)
        fd = open_listener(cfg, address, ai->ai_addr, ai->ai_addrlen, unix_path,
                           err, errlen);
    freeaddrinfo(list);
    return fd;
}

/* systemd's socket activation: when LISTEN_PID names this process,
 * descriptors 3 .. 3 + LISTEN_FDS - 1 are sockets already bound (and, for
 * a stream, listening) for us: each becomes a listener, in order.
 * Returns how many, 0 when not activated, or -errno when one is not a
 * socket of the kind asked for (or there are too many).  The variables are
 * removed so that children do not take the sockets for theirs. */
static int adopt_activated(ss_server_t *srv, char *err, size_t errlen)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || atol(pid) != (long)getpid() || atoi(fds) < 1)
        return 0;
    int n = atoi(fds);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (n > SS_MAX_LISTENERS)
        return ss__fail(err, errlen, -EMFILE,
                        "LISTEN_FDS: %d sockets, at "
                        "most %d",
                        n, SS_MAX_LISTENERS);
    int want = srv->cfg.datagram ? SOCK_DGRAM : SOCK_STREAM;
    for (int fd = 3; fd < 3 + n; fd++) {
        int type = 0;
        socklen_t len = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
            type != want)
            return ss__fail(err, errlen, -ENOTSOCK,
                            "LISTEN_FDS: descriptor %d is not a %s socket", fd,
                            srv->cfg.datagram ? "datagram" : "stream");
    }
    for (int fd = 3; fd < 3 + n; fd++) { /* ours only once all are right */
        int rc = ss__set_nonblocking_cloexec(fd);
        if (rc < 0)
            return ss__fail(err, errlen, rc, "fcntl %d: %s", fd, strerror(-rc));
        srv->listeners[srv->nlisteners++].fd = fd;
    }
    return n;
}

/* The address a listener is bound to, with the real port, and its
 * family.  An upgrade's successor takes over its predecessor's socket
 * files too (owns_file): it removes them when it stops; systemd's stay
 * systemd's. */
static int record_bound_address(ss_listener_t *l, int owns_file, char *err,
                                size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0)
        return ss__fail(err, errlen, -errno, "getsockname %d: %s", l->fd,
                        strerror(errno));
    l->family = ss.ss_family;
    ss__addr_format((struct sockaddr *)&ss, len, l->address,
                    sizeof(l->address));
    const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
    size_t path_len = len - offsetof(struct sockaddr_un, sun_path);
    if (owns_file && l->family == AF_UNIX &&
        len > offsetof(struct sockaddr_un, sun_path) && un->sun_path[0] &&
        path_len < sizeof(l->unix_path)) {
        memcpy(l->unix_path, un->sun_path, path_len);
        l->unix_path[path_len] = '\0'; /* the kernel may count the NUL */
    }
    return 0;
}

/* Another socket on listener i's bound address, with its options (accept
 * "reuseport": one per worker, and the kernel spreads connections over
 * them).  The descriptor, or -errno with the reason in err. */
int ss__bind_again(ss_server_t *srv, int i, char *err, size_t errlen)
{
    char no_file[sizeof(srv->listeners[i].unix_path)] = "";
    return bind_address(&srv->cfg, srv->listeners[i].address, no_file, err,
                        errlen);
}

/* Bind every configured address, in order: the first, then the extra
 * ones.  0, or -errno (what was bound stays, for the caller to release). */
const char *ss__config_address(const ss_config_t *cfg, int i)
{
    if (i == 0)
        return cfg->address;
    const char *const *extra = cfg->extra_addresses;
    for (int k = 0; extra && extra[k]; k++) /* no reading past its NULL */
        if (k == i - 1)
            return extra[k];
    return NULL;
}

static int bind_all(ss_server_t *srv, char *err, size_t errlen)
{
    const char *address; /* create checked there are SS_MAX_LISTENERS at most */
    for (int i = 0;
         i < SS_MAX_LISTENERS && (address = ss__config_address(&srv->cfg, i));
         i++) {
        ss_listener_t *l = &srv->listeners[srv->nlisteners];
        int fd = bind_address(&srv->cfg, address, l->unix_path, err, errlen);
        if (fd < 0)
            return fd;
        l->fd = fd;
        srv->nlisteners++;
    }
    return 0;
}

/* The sockets: systemd's when activated, else our own bound to the
 * configured addresses; then each one's address as bound. */
int ss__listen(ss_server_t *srv, char *err, size_t errlen)
{
    int successor = getenv(SS_UPGRADE_READY_ENV) != NULL;
    int rc = adopt_activated(srv, err, errlen);
    if (rc == 0) /* not socket-activated: bind them ourselves */
        rc = bind_all(srv, err, errlen);
    for (int i = 0; rc >= 0 && i < srv->nlisteners; i++)
        rc = record_bound_address(&srv->listeners[i], successor, err, errlen);
    return rc < 0 ? rc : 0;
}

/* accept "reuseport": every worker binds a socket of its own beside each
 * listener, which the kernel allows only when the listener has
 * SO_REUSEPORT too.  Ours always do; an inherited one may not (a systemd
 * socket without ReusePort=yes): refused at start, rather than every
 * worker's bind failing over and over. */
int ss__check_reuse_port(ss_server_t *srv, char *err, size_t errlen)
{
#ifdef SO_REUSEPORT
    for (int i = 0; i < srv->nlisteners; i++) {
        int on = 0;
        socklen_t len = sizeof(on);
        if (getsockopt(srv->listeners[i].fd, SOL_SOCKET, SO_REUSEPORT, &on,
                       &len) == 0 &&
            on)
            continue;
        return ss__fail(err, errlen, -EINVAL,
                        "accept reuseport: the inherited socket %s has no "
                        "SO_REUSEPORT, so no worker can bind beside it: set "
                        "ReusePort=yes in its .socket unit, or use accept "
                        "shared, lock or pass",
                        srv->listeners[i].address);
    }
    return 0;
#else
    return ss__fail(err, errlen, -ENOPROTOOPT,
                    "accept reuseport: no SO_REUSEPORT on this system");
#endif
}

/* The socket files this process made go with it; a forked child's
 * copies are not its to remove. */
void ss__remove_socket_files(ss_server_t *srv)
{
    for (int i = 0; i < srv->nlisteners; i++) {
        ss_listener_t *l = &srv->listeners[i];
        if (l->unix_path[0] && srv->owner_pid == getpid())
            unlink(l->unix_path);
        l->unix_path[0] = '\0';
    }
}

void ss__close_listeners(ss_server_t *srv)
{
    for (int i = 0; i < srv->nlisteners; i++)
        ss__close_fd(&srv->listeners[i].fd);
    ss__remove_socket_files(srv);
}
