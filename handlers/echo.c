/* echo -- seeds 000 and 002: every byte back until the client closes.
 * Over UDP each datagram goes back whole to its sender. */
#include "handlers.h"

/* One stack page holds this and the calls beneath it: an idle echo
 * connection in the event mode then costs a single page of stack. */
#define ECHO_CHUNK 2048

static int echo_handle(ss_request_t *req)
{
    if (ss_is_datagram(req)) {
        size_t len;
        const void *data = ss_datagram(req, &len);
        return ss_reply(req, data, len);
    }
    char buf[ECHO_CHUNK];
    for (;;) {
        ssize_t n = ss_recv(req, buf, sizeof(buf));
        if (n <= 0)
            return (int)n;
        int rc = ss_send_all(req, buf, (size_t)n);
        if (rc < 0)
            return rc;
    }
}

const ss_handler_t ss_handler_echo = {
    .name = "echo",
    .summary = "sends back every byte until the client closes (seeds 000, 002)",
    .handle = echo_handle,
    .timeout_ms = HANDLER_TIMEOUT_TALK_MS,
};
