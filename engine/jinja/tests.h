#ifndef DUET_JINJA_TESTS_H
#define DUET_JINJA_TESTS_H

/* Jinja tests (`x is defined`, `x is not none`, `n is divisibleby 3`...). */

#include "engine/jinja/value.h"

int jinja_test_exists(const char *name);
/* 1 / 0, or -1 with an error recorded (e.g. odd on a string). */
int jinja_test(const char *name, const jinja_value *v, const jinja_args *args);

#endif
