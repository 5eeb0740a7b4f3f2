/* A build probe (see the Makefile): does this system have openat2 with
 * RESOLVE_BENEATH (Linux 5.6 headers)?  Compiled only, never run: a
 * kernel without it says ENOSYS, and the handler walks instead. */
#define _GNU_SOURCE
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    struct open_how how = {.flags = 0, .resolve = RESOLVE_BENEATH};
    return (int)syscall(SYS_openat2, 0, ".", &how, sizeof(how));
}
