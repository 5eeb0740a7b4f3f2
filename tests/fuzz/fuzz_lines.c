/* fuzz_lines -- ss_read_line on arbitrary bytes with a cap chosen by the
 * first byte (2..65; a cap of 1 is refused with -EINVAL, checked too): every
 * result is NUL-terminated and within the cap, a line ends with '\n' unless it
 * is the last, and together the results account for every byte sent. */
#include "fuzz_request.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t cap = (size_t)(data[0] % 64) + 2;
    int peer;
    ss_request_t *req = fuzz_request(data + 1, size - 1, &peer);
    if (!req)
        return 0;
    char buf[66];
    if (ss_read_line(req, buf, 1) != -EINVAL)
        abort();
    size_t total = 0;
    for (;;) {
        ssize_t n = ss_read_line(req, buf, cap);
        if (n == -EMSGSIZE) {
            if (buf[cap - 1] != '\0')
                abort();
            total += cap - 1;
            continue;
        }
        if (n < 0)
            abort(); /* the data is all there: no other error may come */
        if (n == 0)
            break;
        if ((size_t)n > cap - 1 || buf[n] != '\0')
            abort();
        total += (size_t)n;
    }
    if (total != size - 1)
        abort();
    ss__request_free(req);
    close(peer);
    return 0;
}
