#ifndef DUET_JINJA_METHODS_H
#define DUET_JINJA_METHODS_H

/* Methods callable on values in templates, with Python's semantics:
 * str.strip/lstrip/rstrip([chars]), split([sep[, maxsplit]]), startswith,
 * endswith, upper, lower, title, capitalize, replace(old, new[, count]);
 * dict.items(), keys(), values(), get(key[, default]). Case mapping covers
 * all of Unicode (the C.UTF-8 locale), with Python's special casing on top
 * (case_special.h: ß -> SS, final sigma, title case). */

#include "engine/jinja/value.h"

int jinja_method_exists(const char *name);
/* obj.name(args). NULL (error recorded) when obj's type has no such method
 * or the arguments are wrong. */
jinja_value *jinja_method(jinja_arena *a, jinja_value *obj, const char *name, const jinja_args *args);

/* JCASE_TITLE: str.title() (a word starts after any non-letter);
 * JCASE_TITLE_FILTER: Jinja's |title (a word starts after whitespace or
 * one of -({[<). */
typedef enum { JCASE_UPPER, JCASE_LOWER, JCASE_TITLE, JCASE_CAPITALIZE, JCASE_TITLE_FILTER } jinja_case;
jinja_value *jinja_str_case(jinja_arena *a, const jinja_value *s, jinja_case mode);
/* chars NULL or None: Unicode whitespace (str.isspace). */
jinja_value *jinja_str_strip(jinja_arena *a, const jinja_value *s, const jinja_value *chars, int left, int right);
/* count < 0: all. */
jinja_value *jinja_str_replace(jinja_arena *a, const jinja_value *s, const jinja_value *old, const jinja_value *rep,
                               long long count);

#endif
