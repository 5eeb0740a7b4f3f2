/* fuzz_addr -- the address parser on arbitrary text: it never overruns,
 * and what it accepts fits its fields and is accepted again when written
 * back ("[host]:port" or "unix:path"). */
#include "../../socketserver/internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    ss_addr_parts_t parts;
    char err[128];
    if (ss__addr_parse(text, &parts, err, sizeof(err)) == 0) {
        char again[400];
        if (parts.is_unix)
            snprintf(again, sizeof(again), "unix:%s", parts.path);
        else
            snprintf(again, sizeof(again), "[%s]:%s", parts.host, parts.port);
        ss_addr_parts_t twice;
        if (strlen(parts.port) > 5 ||
            (!parts.is_unix && !strchr(parts.host, ']') &&
             ss__addr_parse(again, &twice, NULL, 0) != 0))
            abort(); /* accepted once, refused when written back */
    }
    free(text);
    return 0;
}
