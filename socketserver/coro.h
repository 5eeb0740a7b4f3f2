/* coro.h -- private: coroutines with their own stacks, for the event mode.
 *
 * A coroutine runs a function on an mmap'ed stack with a guard page below
 * it.  ss__coro_switch saves the callee-saved registers and the stack
 * pointer and loads another's: on x86-64 a dozen instructions and no system
 * call (glibc's swapcontext makes a sigprocmask call on every switch); other
 * machines fall back to ucontext. */
#ifndef SOCKETSERVER_CORO_H
#define SOCKETSERVER_CORO_H

#include <stddef.h>

#if defined(__x86_64__)
#define SS_CORO_ASM 1
typedef struct ss_coro_ctx {
    void *sp;
} ss_coro_ctx_t;
#else
#include <ucontext.h>
typedef struct ss_coro_ctx {
    ucontext_t uc;
} ss_coro_ctx_t;
#endif

typedef struct ss_coro ss_coro_t;
typedef void (*ss_coro_fn)(ss_coro_t *coro);

struct ss_coro {
    ss_coro_ctx_t ctx;
    ss_coro_ctx_t *caller; /* where to switch when it yields */
    ss_coro_fn fn;
    void *arg;
    void *stack; /* the stack's lowest byte: a guard page is below it, and
                    this struct above its top, in the same mapping */
    size_t stack_size;
    int done;
    void *tsan_fiber, *tsan_caller; /* ThreadSanitizer builds only */
};

/* A coroutine that will run fn(coro) on a stack of at least stack_size
 * bytes (a guard page is added below): NULL when the stack cannot be
 * mapped.  Each is one mapping, split in two by its guard page, so a
 * process holds at most about vm.max_map_count / 2 of them. */
ss_coro_t *ss__coro_new(size_t stack_size, ss_coro_fn fn, void *arg);
void ss__coro_free(ss_coro_t *coro);

/* Run coro from the scheduler's context until it yields or finishes. */
void ss__coro_resume(ss_coro_ctx_t *scheduler, ss_coro_t *coro);
/* From inside coro: back to whoever resumed it. */
void ss__coro_yield(ss_coro_t *coro);
/* Make a finished coroutine run fn again from the top (stack reuse). */
void ss__coro_reset(ss_coro_t *coro, ss_coro_fn fn, void *arg);

#endif
