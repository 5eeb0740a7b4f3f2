/* fuzz_request.h -- a real request over a socketpair, for the fuzz
 * targets that drive request functions and handlers: the input is written
 * to the peer end, which is then half-closed. */
#ifndef SS_FUZZ_REQUEST_H
#define SS_FUZZ_REQUEST_H

#include "../../socketserver/internal.h"

#include <stddef.h>
#include <stdint.h>

/* A request whose client has sent data and closed its sending side; the
 * client's end, for reading replies, in *peer.  NULL when data is larger
 * than a socket buffer holds at once. */
ss_request_t *fuzz_request(const uint8_t *data, size_t size, int *peer);

#endif
