#ifndef DUET_JINJA_FILTERS_H
#define DUET_JINJA_FILTERS_H

/* Jinja filters (`x | trim`, `xs | join(", ")`...) with the semantics of
 * Python's Jinja, and tojson as transformers defines it for chat templates
 * (json.dumps with ensure_ascii=False and keys in their given order). */

#include "engine/jinja/value.h"

int jinja_filter_exists(const char *name);
/* v | name(args): the result, or NULL with an error recorded. */
jinja_value *jinja_filter(jinja_arena *a, const char *name, jinja_value *v, const jinja_args *args);

#endif
