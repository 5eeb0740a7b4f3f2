/* connect.c -- outgoing connections from a handler (a port forwarder's
 * remote side), made without blocking the mode: a non-blocking connect(),
 * then a wait for writability through the request's wait seam. */
#include "internal.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Finish a connect() that answered EINPROGRESS: 0 or -errno. */
static int finish_connect(ss_request_t *req, int fd)
{
    int rc = ss__wait_fd(req, fd, POLLOUT, ss__call_deadline(req));
    if (rc < 0)
        return rc;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

/* One candidate address: the connected descriptor, or -errno. */
static int connect_one(ss_request_t *req, const struct sockaddr *sa,
                       socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    int rc = ss__set_nonblocking_cloexec(fd);
    if (rc == 0 && connect(fd, sa, len) < 0)
        rc = errno == EINPROGRESS || errno == EAGAIN || errno == EINTR
                 ? finish_connect(req, fd)
                 : -errno;
    if (rc == 0)
        return fd;
    close(fd);
    return rc;
}

int ss_connect(ss_request_t *req, const char *address)
{
    ss_addr_parts_t parts;
    if (ss__addr_parse(address, &parts, NULL, 0) < 0)
        return -EINVAL;
    if (parts.is_unix) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        strcpy(un.sun_path, parts.path);
        return connect_one(req, (struct sockaddr *)&un, sizeof(un));
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *list;
    if (getaddrinfo(parts.host[0] ? parts.host : NULL, parts.port, &hints,
                    &list) != 0)
        return -EHOSTUNREACH;
    int fd = -EHOSTUNREACH;
    /* Try each address in turn, as Python's create_connection does; stop
     * early when the request itself is over. */
    for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        fd = connect_one(req, ai->ai_addr, ai->ai_addrlen);
        if (fd >= 0 || fd == -ECANCELED || fd == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(list);
    return fd;
}
