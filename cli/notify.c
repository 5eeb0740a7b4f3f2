/* notify.c -- systemd's readiness protocol, with libc only: one datagram
 * ("READY=1", "STOPPING=1") to the Unix socket named by NOTIFY_SOCKET.  A
 * name starting with '@' is in Linux's abstract namespace.  Without
 * NOTIFY_SOCKET it does nothing. */
#include "notify.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void cli_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    size_t len = path ? strlen(path) : 0;
    if (len == 0 || len >= sizeof(un.sun_path))
        return;
    memcpy(un.sun_path, path, len);
    if (un.sun_path[0] == '@')
        un.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0)
        return;
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&un,
               salen) < 0)
        fprintf(stderr, "socketserver: NOTIFY_SOCKET %s: cannot send %s\n",
                path, state);
    close(fd);
}
