/* A build probe (see the Makefile): does this system have Linux's
 * sendfile(out, in, &offset, count)?  Compiled only, never run. */
#define _GNU_SOURCE
#include <sys/sendfile.h>

int main(void)
{
    off_t off = 0;
    return (int)sendfile(1, 0, &off, 1);
}
