/* test_poetry.c -- placeholder while the poetry handler is written. */
#include "helpers.h"

void register_poetry_tests(void) { }
