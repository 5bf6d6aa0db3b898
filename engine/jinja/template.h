#ifndef DUET_JINJA_TEMPLATE_H
#define DUET_JINJA_TEMPLATE_H

/* A compiled Jinja template: lexed, parsed and checked once, rendered many
 * times (rendering is read-only on the template, so threads may share it).
 * Compiling checks every filter, test, function and method name against
 * what this engine implements, so an unsupported template fails at load,
 * not at request time. */

#include <jansson.h>
#include <stddef.h>

typedef struct jinja_template jinja_template;

/* DUET_EFORMAT (syntax), DUET_EUNSUPPORTED (unknown tag, filter, test,
 * function or method), each with a message naming it and its line. */
int jinja_template_compile(const char *src, size_t len, jinja_template **out);
void jinja_template_free(jinja_template *t);

/* vars: a JSON object whose keys become the template's variables. *out is
 * malloc'd and NUL-terminated. Errors (raise_exception, type errors, an
 * undefined value used where a value is required) give DUET_EINVAL. */
int jinja_template_render(const jinja_template *t, const json_t *vars, char **out, size_t *len);

#endif
