/* listen.c -- the server's socket (redis's anet.c, in small): resolve,
 * socket, options, bind, listen, each failure naming its call and the
 * address; or the socket systemd handed over. */

/* SO_REUSEPORT is not POSIX, and glibc hides it in strict POSIX mode.  It is
 * the one extension this file uses, and only when reuse_port asks for it. */
#define _DEFAULT_SOURCE
#include "internal.h"

#include <errno.h>
#include <netdb.h>
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
    if (err != EADDRINUSE || sa->sa_family != AF_UNIX ||
        !cfg->reuse_address || !unix_path_is_stale(path, socktype)) {
        errno = err; /* the probe's errno must not become bind's */
        return -1;
    }
    unlink(path);
    return bind(fd, sa, len);
}

/* socket + options + bind + listen on one address.  Returns the descriptor,
 * or -errno with the failing call named in err. */
static int open_listener(ss_server_t *srv, const struct sockaddr *sa,
                         socklen_t len, char *err, size_t errlen)
{
    const ss_config_t *cfg = &srv->cfg;
    int socktype = cfg->datagram ? SOCK_DGRAM : SOCK_STREAM;
    int fd = socket(sa->sa_family, socktype, 0);
    if (fd < 0)
        return ss__fail(err, errlen, -errno, "socket %s: %s", cfg->address,
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
        strcpy(srv->unix_path, ((const struct sockaddr_un *)sa)->sun_path);
    if (rc == 0 && !cfg->datagram) {
        call = "listen";
        rc = listen(fd, cfg->backlog) < 0 ? -errno : 0;
    }
    if (rc == 0)
        return fd;
    close(fd);
    if (srv->unix_path[0]) {
        unlink(srv->unix_path);
        srv->unix_path[0] = '\0';
    }
    return ss__fail(err, errlen, rc, "%s %s: %s", call, cfg->address,
                strerror(-rc));
}

/* Resolve address and bind the first candidate that works, as Python's
 * create_server does. */
static int bind_address(ss_server_t *srv, const char *address, char *err,
                        size_t errlen)
{
    ss_addr_parts_t parts;
    if (ss__addr_parse(address, &parts, err, errlen) < 0)
        return -EINVAL;
    if (parts.is_unix) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        strcpy(un.sun_path, parts.path);
        return open_listener(srv, (struct sockaddr *)&un, sizeof(un), err,
                             errlen);
    }
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                             .ai_socktype =
                                 srv->cfg.datagram ? SOCK_DGRAM : SOCK_STREAM};
    struct addrinfo *list;
    int gai = getaddrinfo(parts.host[0] ? parts.host : NULL, parts.port,
                          &hints, &list);
    if (gai != 0)
        return ss__fail(err, errlen, -EADDRNOTAVAIL, "resolve %s: %s",
                    srv->cfg.address, gai_strerror(gai));
    int fd = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next)
        fd = open_listener(srv, ai->ai_addr, ai->ai_addrlen, err, errlen);
    freeaddrinfo(list);
    return fd;
}

/* systemd's socket activation: when LISTEN_PID names this process and
 * LISTEN_FDS is at least 1, descriptor 3 is a socket already bound (and,
 * for a stream, listening) for us.  Returns it, -1 when not activated, or
 * -errno when it is not a socket of the kind asked for.  The variables are
 * removed so that children do not take the socket for theirs. */
static int activated_socket(const ss_config_t *cfg, char *err, size_t errlen)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || atol(pid) != (long)getpid() || atoi(fds) < 1)
        return -1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        type != (cfg->datagram ? SOCK_DGRAM : SOCK_STREAM))
        return ss__fail(err, errlen, -ENOTSOCK,
                    "LISTEN_FDS: descriptor 3 is not a %s socket",
                    cfg->datagram ? "datagram" : "stream");
    int rc = ss__set_nonblocking_cloexec(3);
    return rc < 0 ? rc : 3;
}

static int record_bound_address(ss_server_t *srv)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(srv->fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    srv->family = ss.ss_family;
    ss__addr_format((struct sockaddr *)&ss, len, srv->address,
                    sizeof(srv->address));
    return 0;
}

/* Another listener on the server's bound address, with its options
 * (accept "reuseport": one per worker, and the kernel spreads connections
 * over them).  The descriptor, or -errno with the reason in err. */
int ss__bind_again(ss_server_t *srv, char *err, size_t errlen)
{
    return bind_address(srv, srv->address, err, errlen);
}

/* The socket: systemd's when activated, else our own bound to the
 * configured address; then the address as bound (the real port). */
int ss__listen(ss_server_t *srv, char *err, size_t errlen)
{
    int fd = activated_socket(&srv->cfg, err, errlen);
    if (fd == -1) /* not socket-activated: bind it ourselves */
        fd = bind_address(srv, srv->cfg.address, err, errlen);
    if (fd < 0)
        return fd;
    srv->fd = fd;
    int rc = record_bound_address(srv);
    if (rc < 0)
        return ss__fail(err, errlen, rc, "getsockname %s: %s",
                        srv->cfg.address, strerror(-rc));
    return 0;
}
