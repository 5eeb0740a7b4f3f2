/* thankyou -- seed 001's SocketServer handler: one line of thanks, then the
 * connection closes.  Over UDP, the same line answers each datagram. */
#include "handlers.h"

static const char thanks[] = "Thank you for connecting\n";

static int thankyou_handle(ss_request_t *req)
{
    return ss_send_all(req, thanks, sizeof(thanks) - 1);
}

const ss_handler_t ss_handler_thankyou = {
    .name = "thankyou",
    .summary = "sends \"Thank you for connecting\" and closes (seed 001)",
    .handle = thankyou_handle,
    .timeout_ms = HANDLER_TIMEOUT_TALK_MS,
};
