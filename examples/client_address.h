/* client_address.h -- what the example clients share: "HOST:PORT" or
 * "[IPV6]:PORT" split for getaddrinfo, and a blocking TCP connection to
 * such an address.  Static inline, so each client still builds from its
 * own .c file and uses only what it needs.  libc and POSIX sockets only. */
#ifndef EXAMPLES_CLIENT_ADDRESS_H
#define EXAMPLES_CLIENT_ADDRESS_H

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Split "HOST:PORT" or "[IPV6]:PORT" into host (copied, brackets off)
 * and port (a pointer into address); NULL when it is neither. */
static inline const char *split_address(const char *address, char *host,
                                        size_t cap)
{
    const char *colon = strrchr(address, ':');
    if (!colon || colon == address || !colon[1])
        return NULL;
    const char *start = address;
    size_t len = (size_t)(colon - address);
    if (address[0] == '[' && colon[-1] == ']') { /* "[::1]:8002" */
        start++;
        len -= 2;
    }
    if (len >= cap)
        return NULL;
    memcpy(host, start, len);
    host[len] = '\0';
    return colon + 1;
}

/* Connect to address: a blocking socket, or -1 with the reason in *why. */
static inline int dial(const char *address, const char **why)
{
    char host[256];
    const char *port = split_address(address, host, sizeof(host));
    if (!port) {
        *why = "not HOST:PORT";
        return -1;
    }
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        *why = gai_strerror(rc);
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        close(fd);
        fd = -1;
    }
    *why = fd < 0 ? strerror(errno) : NULL;
    freeaddrinfo(res);
    return fd;
}

#endif
