/* coro_switch -- what one coroutine switch costs: the event mode's own
 * switch against glibc's swapcontext, measured side by side in one run
 * (the machine is shared and noisy: compare the ratio, not the figures).
 *
 *   make bench-switch      or      build/bench/coro_switch [ROUNDS]
 *
 * A round is two switches (into the coroutine and back). */
#include "../socketserver/coro.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <ucontext.h>

static long rounds = 2000000;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ---- Ours -------------------------------------------------------------- */

static void ping(ss_coro_t *coro)
{
    for (long i = 0; i < rounds; i++)
        ss__coro_yield(coro);
}

static double ours_ns_per_switch(void)
{
    ss_coro_ctx_t main_ctx;
    ss_coro_t *coro = ss__coro_new(64 * 1024, ping, NULL);
    if (!coro)
        return -1;
    double t0 = now_ns();
    while (!coro->done)
        ss__coro_resume(&main_ctx, coro);
    double t1 = now_ns();
    ss__coro_free(coro);
    return (t1 - t0) / (2.0 * rounds);
}

/* ---- glibc swapcontext ------------------------------------------------- */

static ucontext_t main_uc, coro_uc;

static void uc_ping(void)
{
    for (long i = 0; i < rounds; i++)
        swapcontext(&coro_uc, &main_uc);
}

static double swapcontext_ns_per_switch(void)
{
    static char stack[64 * 1024];
    getcontext(&coro_uc);
    coro_uc.uc_stack.ss_sp = stack;
    coro_uc.uc_stack.ss_size = sizeof(stack);
    coro_uc.uc_link = &main_uc;
    makecontext(&coro_uc, uc_ping, 0);
    double t0 = now_ns();
    for (long i = 0; i <= rounds; i++)
        swapcontext(&main_uc, &coro_uc);
    double t1 = now_ns();
    return (t1 - t0) / (2.0 * rounds);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rounds = atol(argv[1]);
    if (rounds <= 0)
        return fprintf(stderr, "usage: coro_switch [ROUNDS > 0]\n"), 2;
    double ours = ours_ns_per_switch();
    double glibc = swapcontext_ns_per_switch();
    printf("switch        ns/switch\n");
    printf("ours          %9.1f\n", ours);
    printf("swapcontext   %9.1f\n", glibc);
    printf("ratio         %9.1fx faster\n", glibc / ours);
    return ours > 0 ? 0 : 1;
}
