/* fuzz_request.c -- see fuzz_request.h. */
#include "fuzz_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_INPUT 65536

/* One server for the whole run: requests need one for their waits. */
static ss_server_t *fuzz_server(void)
{
    static ss_server_t *srv;
    if (!srv) {
        static const ss_handler_t none = {.name = "fuzz"};
        char path[64];
        ss_config_t cfg;
        snprintf(path, sizeof(path), "unix:/tmp/ss-fuzz-%ld.sock",
                 (long)getpid());
        ss_config_init(&cfg);
        cfg.address = path;
        cfg.mode = SS_MODE_SYNC;
        cfg.handler = &none;
        cfg.timeout_ms = 1000; /* a bug that waits for ever shows up */
        if (ss_server_create(&srv, &cfg, NULL, 0) < 0)
            abort();
        /* Nobody connects to it, and the fuzzer exits without closing
         * it: the socket file would be left behind. */
        unlink(path + strlen("unix:"));
    }
    return srv;
}

ss_request_t *fuzz_request(const uint8_t *data, size_t size, int *peer)
{
    int sv[2], big = 4 * MAX_INPUT;
    if (size > MAX_INPUT || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return NULL;
    for (int i = 0; i < 2; i++) {
        setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
        setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    }
    if (size && send(sv[0], data, size, 0) != (ssize_t)size) {
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    shutdown(sv[0], SHUT_WR);
    ss__set_nonblocking_cloexec(sv[1]);
    struct sockaddr_storage anon = {.ss_family = AF_UNIX};
    ss_request_t *req = ss__request_new(
        fuzz_server(), sv[1], (struct sockaddr *)&anon, sizeof(sa_family_t));
    *peer = sv[0];
    return req;
}
