/* A build probe (see the Makefile): does this system have accept4 with
 * SOCK_NONBLOCK and SOCK_CLOEXEC?  Compiled only, never run. */
#define _GNU_SOURCE
#include <sys/socket.h>

int main(void)
{
    return accept4(0, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
