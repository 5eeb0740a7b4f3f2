/* test_request.c -- placeholder while the suite is written. */
#include "helpers.h"

void register_request_tests(void) { }
