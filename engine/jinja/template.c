#include "engine/jinja/template.h"

#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/jinja/filters.h"
#include "engine/jinja/interp.h"
#include "engine/jinja/methods.h"
#include "engine/jinja/tests.h"

struct jinja_template {
  jinja_arena arena; /* tokens and syntax tree */
  jinja_program prog;
};

enum { MAX_OUTPUT = 64 << 20 };

typedef struct {
  const char **macros;
  int nmacros;
  int collect; /* pass 1 collects macro names, pass 2 checks */
} checker;

static int check_nodes(checker *k, jinja_node *const *nodes, int n);

static int known_callee(const checker *k, const char *name) {
  for (int i = 0; i < JFN_COUNT; i++)
    if (!strcmp(jinja_function_names[i], name)) return 1;
  for (int i = 0; i < k->nmacros; i++)
    if (!strcmp(k->macros[i], name)) return 1;
  return 0;
}

/* The string literal at args[i] of n, or NULL: a test or filter named by
 * a string (selectattr('a', 'equalto', x), select('odd'), map('lower')). */
static const char *literal_arg(const jinja_node *n, int i) {
  if (i >= n->nargs || n->args[i]->kind != JN_LITERAL || n->args[i]->lit->type != JV_STR) return NULL;
  return n->args[i]->lit->s;
}

static int has_kwarg(const jinja_node *n, const char *name) {
  for (int i = 0; i < n->nkwargs && i < n->nnames; i++)
    if (!strcmp(n->names[i], name)) return 1;
  return 0;
}

/* A filter that names a test or filter by string is checked at load too,
 * so that select('gt', 1) or map('round') fail the load, not a request. */
static int check_named_callee(const jinja_node *n) {
  int by_attr = !strcmp(n->str, "selectattr") || !strcmp(n->str, "rejectattr");
  const char *test = NULL, *filter = NULL;
  if (by_attr || !strcmp(n->str, "select") || !strcmp(n->str, "reject")) test = literal_arg(n, by_attr);
  else if (!strcmp(n->str, "map") && !has_kwarg(n, "attribute")) filter = literal_arg(n, 0);
  if (test && !jinja_test_exists(test))
    return duet_error(DUET_EUNSUPPORTED, "chat template line %d: unsupported test '%s' (in %s)", n->line, test, n->str);
  if (filter && !jinja_filter_exists(filter))
    return duet_error(DUET_EUNSUPPORTED, "chat template line %d: unsupported filter '%s' (in map)", n->line, filter);
  return DUET_OK;
}

static int check_node(checker *k, const jinja_node *n) {
  if (!n) return DUET_OK;
  if (k->collect) {
    if (n->kind == JN_MACRO) {
      const char **m = realloc(k->macros, (size_t)(k->nmacros + 1) * sizeof *m);
      if (!m) return duet_error(DUET_ENOMEM, "chat template: out of memory");
      k->macros = m;
      k->macros[k->nmacros++] = n->str;
    }
  } else if (n->kind == JN_FILTER && !jinja_filter_exists(n->str)) {
    return duet_error(DUET_EUNSUPPORTED, "chat template line %d: unsupported filter '%s'", n->line, n->str);
  } else if (n->kind == JN_TEST && !jinja_test_exists(n->str)) {
    return duet_error(DUET_EUNSUPPORTED, "chat template line %d: unsupported test '%s'", n->line, n->str);
  } else if (n->kind == JN_CALL && n->a->kind == JN_NAME && !known_callee(k, n->a->str)) {
    return duet_error(DUET_EUNSUPPORTED, "chat template line %d: unknown function '%s'", n->line, n->a->str);
  } else if (n->kind == JN_CALL && n->a->kind == JN_ATTR && !jinja_method_exists(n->a->str)) {
    return duet_error(DUET_EUNSUPPORTED, "chat template line %d: unsupported method '%s'", n->line, n->a->str);
  } else if (n->kind == JN_FILTER && check_named_callee(n) < 0) {
    return DUET_EUNSUPPORTED;
  }
  const jinja_node *kids[] = {n->a, n->b, n->c, n->d};
  for (int i = 0; i < 4; i++)
    if (check_node(k, kids[i]) < 0) return DUET_EUNSUPPORTED;
  if (check_nodes(k, n->args, n->nargs) < 0 || check_nodes(k, n->kwargs, n->nkwargs) < 0 ||
      check_nodes(k, n->body, n->nbody) < 0 || check_nodes(k, n->body2, n->nbody2) < 0)
    return DUET_EUNSUPPORTED;
  return DUET_OK;
}

static int check_nodes(checker *k, jinja_node *const *nodes, int n) {
  for (int i = 0; i < n; i++)
    if (check_node(k, nodes[i]) < 0) return DUET_EUNSUPPORTED;
  return DUET_OK;
}

int jinja_template_compile(const char *src, size_t len, jinja_template **out) {
  *out = NULL;
  jinja_template *t = calloc(1, sizeof *t);
  if (!t) return duet_error(DUET_ENOMEM, "chat template: out of memory");
  jinja_token *toks;
  int ntoks, rc = jinja_lex(&t->arena, src, len, &toks, &ntoks);
  if (rc == DUET_OK) rc = jinja_parse(&t->arena, toks, ntoks, &t->prog);
  if (rc == DUET_OK) {
    checker k = {.collect = 1};
    rc = check_nodes(&k, t->prog.body, t->prog.nbody);
    k.collect = 0;
    if (rc == DUET_OK) rc = check_nodes(&k, t->prog.body, t->prog.nbody);
    free(k.macros);
  }
  if (rc < 0) {
    jinja_template_free(t);
    return rc;
  }
  *out = t;
  return DUET_OK;
}

void jinja_template_free(jinja_template *t) {
  if (!t) return;
  jinja_arena_free(&t->arena);
  free(t);
}

static int setup_globals(jinja_arena *a, jinja_scope *root, const json_t *vars) {
  for (int i = 0; i < JFN_COUNT; i++) {
    jinja_value *f = jv_new(a, JV_FUNC);
    if (!f) return DUET_ENOMEM;
    f->func = i;
    if (jinja_scope_set(a, root, jinja_function_names[i], f) < 0) return DUET_ENOMEM;
  }
  const char *key;
  json_t *val;
  if (!vars) return DUET_OK;
  json_object_foreach((json_t *)vars, key, val) {
    const char *name = jinja_strndup(a, key, strlen(key));
    jinja_value *v = name ? jv_from_json(a, val) : NULL;
    if (!v || jinja_scope_set(a, root, name, v) < 0) return DUET_ENOMEM;
  }
  return DUET_OK;
}

int jinja_template_render(const jinja_template *t, const json_t *vars, char **out, size_t *len) {
  *out = NULL;
  if (len) *len = 0;
  if (vars && !json_is_object(vars)) return duet_error(DUET_EINVAL, "chat template: variables must be a JSON object");
  jinja_arena a = {0};
  jinja_buf buf = {.limit = MAX_OUTPUT};
  jinja_scope *root = jinja_scope_new(&a, NULL);
  jinja_ctx c = {.a = &a, .out = &buf, .root = root};
  int rc = root ? setup_globals(&a, root, vars) : DUET_ENOMEM;
  if (rc < 0) duet_error(DUET_ENOMEM, "chat template: out of memory");
  else rc = jinja_exec(&c, root, t->prog.body, t->prog.nbody);
  jinja_arena_free(&a);
  if (rc == DUET_OK && buf.oom) rc = duet_error(DUET_ENOMEM, "chat template: output too large or out of memory");
  if (rc < 0) {
    free(buf.p);
    return rc;
  }
  if (!buf.p && !(buf.p = calloc(1, 1))) return duet_error(DUET_ENOMEM, "chat template: out of memory");
  *out = buf.p;
  if (len) *len = buf.n;
  return DUET_OK;
}
