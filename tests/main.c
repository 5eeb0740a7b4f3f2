/* main.c -- the CUnit runner: every suite, one process, CUnit's summary. */
#include "helpers.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/* Each file registers its own suites. */
#define SUITES(X)                                                              \
    X(addr)                                                                    \
    X(request)                                                                 \
    X(close)                                                                   \
    X(server)                                                                  \
    X(transports)                                                              \
    X(event)                                                                   \
    X(workers)                                                                 \
    X(limits)                                                                  \
    X(parked)                                                                  \
    X(flood)                                                                   \
    X(hostile)                                                                 \
    X(log)                                                                     \
    X(handlers)                                                                \
    X(menu)                                                                    \
    X(cli)                                                                     \
    X(poetry)                                                                  \
    X(logger)                                                                  \
    X(robot)                                                                   \
    X(http)                                                                    \
    X(forward)                                                                 \
    X(chat)                                                                    \
    X(errors)                                                                  \
    X(listeners)                                                               \
    X(proxy)                                                                   \
    X(proxied)                                                                 \
    X(upgrade)                                                                 \
    X(tutorial)

#define DECLARE(name) void register_##name##_tests(void);
SUITES(DECLARE)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    ss_log_set_level(SS_LOG_ERROR); /* keep expected warnings out of the way */
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
#define REGISTER(name) register_##name##_tests();
    SUITES(REGISTER)
    CU_basic_set_mode(CU_BRM_VERBOSE);
    /* SS_TEST_SUITE=name runs one suite, for work on one area. */
    const char *only = getenv("SS_TEST_SUITE");
    if (only && *only) {
        CU_pSuite suite = CU_get_suite(only);
        if (!suite) {
            fprintf(stderr, "no suite named '%s'\n", only);
            return 2;
        }
        CU_basic_run_suite(suite);
    } else {
        CU_basic_run_tests();
    }
    unsigned failures =
        CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return failures == 0 && run > 0 ? 0 : 1;
}
