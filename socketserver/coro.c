/* coro.c -- see coro.h. */

/* MAP_ANONYMOUS is not in POSIX.1-2008 (only in its 2024 edition); glibc
 * hides it in strict mode.  Every system we run on has it. */
#define _DEFAULT_SOURCE
#include "coro.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* AddressSanitizer must be told when the stack changes under it, or it
 * reports false errors on the coroutine stacks. */
#if defined(__SANITIZE_ADDRESS__)
#define SS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SS_ASAN 1
#endif
#endif

#ifdef SS_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom,
                                    size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save,
                                     const void **bottom_old, size_t *size_old);
#define FIBER_START(save, bottom, size)                                        \
    __sanitizer_start_switch_fiber(save, bottom, size)
#define FIBER_FINISH(save, bottom, size)                                       \
    __sanitizer_finish_switch_fiber(save, bottom, size)
#else
#define FIBER_START(save, bottom, size)                                        \
    ((void)(save), (void)(bottom), (void)(size))
#define FIBER_FINISH(save, bottom, size)                                       \
    ((void)(save), (void)(bottom), (void)(size))
#endif

/* ThreadSanitizer too: each coroutine is a "fiber" to it. */
#if defined(__SANITIZE_THREAD__)
#define SS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SS_TSAN 1
#endif
#endif

#ifdef SS_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#define TSAN_SWITCH(fiber) __tsan_switch_to_fiber(fiber, 0)
/* ThreadSanitizer holds an asynchronous signal for the fiber it arrived
 * on until that fiber's next intercepted call.  A coroutine about to
 * yield, or to finish for good, may make none, and the signal (SIGTERM)
 * would be lost: a TSan-only hang at stop, seen once in CI.  An
 * intercepted call that changes nothing hands it over before the
 * switch. */
#define TSAN_DELIVER_SIGNALS()                                                 \
    do {                                                                       \
        sigset_t unchanged_;                                                   \
        pthread_sigmask(SIG_BLOCK, NULL, &unchanged_);                         \
    } while (0)
#else
#define TSAN_SWITCH(fiber) ((void)(fiber))
#define TSAN_DELIVER_SIGNALS() ((void)0)
#endif

/* Valgrind's memcheck (built with -DSS_VALGRIND only: valgrind.h is not
 * POSIX) must be told which memory is a stack, or it takes each switch
 * for a huge frame and reports every access on the new stack.  The id it
 * gives back is kept beside the coroutine, in memory only this file
 * allocates and frees, so coro.h knows nothing of valgrind. */
#ifdef SS_VALGRIND
#include <valgrind/valgrind.h>
typedef struct vg_coro {
    ss_coro_t coro; /* first: a vg_coro_t * is an ss_coro_t * */
    unsigned stack_id;
} vg_coro_t;
#define CORO_ALLOC_SIZE sizeof(vg_coro_t)
/* From the lowest to the highest usable byte, both included. */
#define VG_REGISTER(c)                                                         \
    (((vg_coro_t *)(c))->stack_id = VALGRIND_STACK_REGISTER(                   \
         (c)->stack, (char *)(c)->stack + (c)->stack_size - 1))
#define VG_DEREGISTER(c) VALGRIND_STACK_DEREGISTER(((vg_coro_t *)(c))->stack_id)
#else
#define CORO_ALLOC_SIZE sizeof(ss_coro_t)
#define VG_REGISTER(c) ((void)(c))
#define VG_DEREGISTER(c) ((void)(c))
#endif

/* The scheduler's stack, learnt by each coroutine when it first runs (for
 * the sanitizer's bookkeeping only). */
static _Thread_local const void *scheduler_stack;
static _Thread_local size_t scheduler_stack_size;

static void coro_entry(ss_coro_t *coro);

#ifdef SS_CORO_ASM
/* ss__coro_switch(from, to): push the callee-saved registers, save the
 * stack pointer in from->sp, load to->sp, pop, return into `to`.  A new
 * coroutine's stack is laid out so that this "returns" into the
 * trampoline, which passes the coroutine (left in rbx) to coro_entry. */
void ss__coro_switch(ss_coro_ctx_t *from, ss_coro_ctx_t *to);
void ss__coro_trampoline(void);
__asm__(".text\n"
        ".globl ss__coro_switch\n"
        ".hidden ss__coro_switch\n"
        ".type ss__coro_switch, @function\n"
        "ss__coro_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq (%rsi), %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size ss__coro_switch, .-ss__coro_switch\n"
        ".globl ss__coro_trampoline\n"
        ".hidden ss__coro_trampoline\n"
        ".type ss__coro_trampoline, @function\n"
        "ss__coro_trampoline:\n"
        "    movq %rbx, %rdi\n"
        "    call ss__coro_start@PLT\n"
        "    ud2\n"
        ".size ss__coro_trampoline, .-ss__coro_trampoline\n");

/* Called only from the trampoline. */
void ss__coro_start(ss_coro_t *coro) __attribute__((visibility("hidden")));
void ss__coro_start(ss_coro_t *coro)
{
    coro_entry(coro);
}

/* Top of stack: the trampoline's address, then six zeroed registers, rbx
 * holding the coroutine.  After the pops and ret, rsp is 16-byte aligned
 * as the ABI wants before the trampoline's call. */
static void prepare_stack(ss_coro_t *coro)
{
    uintptr_t top =
        ((uintptr_t)coro->stack + coro->stack_size) & ~(uintptr_t)15;
    uintptr_t *sp = (uintptr_t *)top;
    *--sp = (uintptr_t)ss__coro_trampoline;
    *--sp = 0;               /* rbp */
    *--sp = (uintptr_t)coro; /* rbx */
    for (int i = 0; i < 4; i++)
        *--sp = 0; /* r12-r15 */
    coro->ctx.sp = sp;
}

#define SWITCH(from, to) ss__coro_switch(from, to)
#else
/* The portable fallback: makecontext takes int arguments only, so the
 * coroutine being started is passed in a thread-local. */
static _Thread_local ss_coro_t *starting;

static void ucontext_entry(void)
{
    coro_entry(starting);
}

static void prepare_stack(ss_coro_t *coro)
{
    getcontext(&coro->ctx.uc);
    coro->ctx.uc.uc_stack.ss_sp = coro->stack;
    coro->ctx.uc.uc_stack.ss_size = coro->stack_size;
    coro->ctx.uc.uc_link = NULL;
    makecontext(&coro->ctx.uc, ucontext_entry, 0);
}

#define SWITCH(from, to) swapcontext(&(from)->uc, &(to)->uc)
#endif

/* First run of a coroutine: run its function, mark it done, and switch
 * back for good (the scheduler frees the stack, or resets it for another
 * run, which starts a fresh frame; resuming a done one just returns). */
static void coro_entry(ss_coro_t *coro)
{
    FIBER_FINISH(NULL, &scheduler_stack, &scheduler_stack_size);
    coro->fn(coro);
    coro->done = 1;
    for (;;)
        ss__coro_yield(coro);
}

/* The coroutine's own bookkeeping sits at the top of its mapping, in the
 * page its stack touches first anyway: an idle connection costs that one
 * page, not a page and a heap block too.  64: keeps the stack's top
 * aligned. */
#define CORO_HEAD ((CORO_ALLOC_SIZE + 63) / 64 * 64)

ss_coro_t *ss__coro_new(size_t stack_size, ss_coro_fn fn, void *arg)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t map_size = (stack_size + CORO_HEAD + page - 1) / page * page + page;
    char *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    mprotect(map, page, PROT_NONE); /* overflow faults instead of corrupting */
    ss_coro_t *coro = (ss_coro_t *)(map + map_size - CORO_HEAD); /* zeroed */
    coro->stack = map + page;
    coro->stack_size = map_size - page - CORO_HEAD;
    VG_REGISTER(coro);
#ifdef SS_TSAN
    coro->tsan_fiber = __tsan_create_fiber(0);
#endif
    ss__coro_reset(coro, fn, arg);
    return coro;
}

void ss__coro_reset(ss_coro_t *coro, ss_coro_fn fn, void *arg)
{
    coro->fn = fn;
    coro->arg = arg;
    coro->done = 0;
    prepare_stack(coro);
}

void ss__coro_free(ss_coro_t *coro)
{
    if (!coro)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
#ifdef SS_TSAN
    __tsan_destroy_fiber(coro->tsan_fiber);
#endif
    VG_DEREGISTER(coro);
    char *map = (char *)coro->stack - page; /* coro lives in the mapping */
    munmap(map, page + coro->stack_size + CORO_HEAD);
}

void ss__coro_resume(ss_coro_ctx_t *scheduler, ss_coro_t *coro)
{
    void *fake = NULL;
    coro->caller = scheduler;
#ifndef SS_CORO_ASM
    starting = coro;
#endif
#ifdef SS_TSAN
    coro->tsan_caller = __tsan_get_current_fiber();
#endif
    FIBER_START(&fake, coro->stack, coro->stack_size);
    TSAN_SWITCH(coro->tsan_fiber);
    SWITCH(scheduler, &coro->ctx);
    FIBER_FINISH(fake, NULL, NULL);
}

void ss__coro_yield(ss_coro_t *coro)
{
    void *fake = NULL;
    /* A finished coroutine's frames are dead: tell the sanitizer so. */
    FIBER_START(coro->done ? NULL : &fake, scheduler_stack,
                scheduler_stack_size);
    TSAN_DELIVER_SIGNALS();
    TSAN_SWITCH(coro->tsan_caller);
    SWITCH(&coro->ctx, coro->caller);
    FIBER_FINISH(fake, &scheduler_stack, &scheduler_stack_size);
}
