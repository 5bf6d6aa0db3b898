#ifndef DUET_JINJA_INTERP_H
#define DUET_JINJA_INTERP_H

/* The interpreter's shared state, between expression evaluation (eval.c)
 * and statement execution (exec.c). One jinja_ctx per render; everything
 * it allocates lives in its arena. */

#include "engine/jinja/parser.h"
#include "engine/jinja/value.h"

/* Variables: a chain of scopes. A for loop body and a macro call get their
 * own scope (assignments inside do not leak out, as in Jinja); if blocks
 * share their parent's. */
typedef struct jinja_scope jinja_scope;
struct jinja_scope {
  jinja_scope *parent;
  const char **names;
  jinja_value **vals;
  int n, cap;
};

enum { JCTL_NONE, JCTL_BREAK, JCTL_CONTINUE };

/* Global functions available to every template. */
enum { JFN_RAISE, JFN_RANGE, JFN_NAMESPACE, JFN_STRFTIME, JFN_DICT, JFN_COUNT };
extern const char *const jinja_function_names[JFN_COUNT];

typedef struct {
  jinja_arena *a;
  jinja_buf *out; /* where statements write (swapped for block set and macros) */
  jinja_scope *root;
  int ctl;        /* pending break/continue */
  int depth;      /* macro call depth */
} jinja_ctx;

jinja_scope *jinja_scope_new(jinja_arena *a, jinja_scope *parent);
/* Nearest definition, or NULL. */
jinja_value *jinja_scope_get(const jinja_scope *s, const char *name);
/* Defines or replaces name in s itself. */
int jinja_scope_set(jinja_arena *a, jinja_scope *s, const char *name, jinja_value *v);

jinja_value *jinja_eval(jinja_ctx *c, jinja_scope *s, const jinja_node *n);
int jinja_exec(jinja_ctx *c, jinja_scope *s, jinja_node *const *body, int n);
/* Calls a macro value; returns its rendered text. */
jinja_value *jinja_call_macro(jinja_ctx *c, const jinja_value *m, const jinja_args *args);

#endif
