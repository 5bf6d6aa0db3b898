#include "engine/jinja/tests.h"

#include <string.h>

#include "engine/jinja/methods.h"

static const char *const TESTS[] = {"defined", "undefined", "none",    "string", "number",    "integer", "float",
                                    "boolean", "true",      "false",   "mapping", "iterable", "sequence", "odd",
                                    "even",    "divisibleby", "eq",    "equalto", "==",       "ne",      "!=",
                                    "lower",   "upper",     "sameas",  "in",     "callable",  NULL};

int jinja_test_exists(const char *name) { return jinja_name_in(TESTS, name); }

/* is lower / is upper: the string equals its own case mapping. */
static int case_test(const jinja_value *v, jinja_case mode) {
  if (v->type != JV_STR) return 0;
  jinja_arena a = {0};
  jinja_value *m = jinja_str_case(&a, v, mode);
  int same = m && m->len == v->len && !memcmp(m->s, v->s, v->len);
  jinja_arena_free(&a);
  return same;
}

static int in_test(const jinja_value *v, const jinja_value *seq) {
  if (seq->type == JV_STR)
    return v->type == JV_STR && (v->len == 0 || memmem(seq->s, seq->len, v->s, v->len) != NULL);
  if (seq->type == JV_DICT) return v->type == JV_STR && jv_dict_get(seq, v->s, v->len) != NULL;
  for (int k = 0; seq->type == JV_LIST && k < seq->n; k++)
    if (jv_equal(v, seq->items[k])) return 1;
  return 0;
}

int jinja_test(const char *name, const jinja_value *v, const jinja_args *args) {
  const jinja_value *arg = jinja_arg(args, 0, NULL);
  jinja_value_type t = v->type;
  if (!strcmp(name, "defined")) return t != JV_UNDEF;
  if (!strcmp(name, "undefined")) return t == JV_UNDEF;
  if (!strcmp(name, "none")) return t == JV_NONE;
  if (!strcmp(name, "string")) return t == JV_STR;
  if (!strcmp(name, "number")) return t == JV_INT || t == JV_FLOAT;
  if (!strcmp(name, "integer")) return t == JV_INT;
  if (!strcmp(name, "float")) return t == JV_FLOAT;
  if (!strcmp(name, "boolean")) return t == JV_BOOL;
  if (!strcmp(name, "true")) return t == JV_BOOL && v->i;
  if (!strcmp(name, "false")) return t == JV_BOOL && !v->i;
  if (!strcmp(name, "mapping")) return t == JV_DICT;
  if (!strcmp(name, "iterable") || !strcmp(name, "sequence")) return t == JV_LIST || t == JV_DICT || t == JV_STR;
  if (!strcmp(name, "callable")) return t == JV_MACRO || t == JV_FUNC;
  if (!strcmp(name, "lower")) return case_test(v, JCASE_LOWER);
  if (!strcmp(name, "upper")) return case_test(v, JCASE_UPPER);
  if (!arg && strcmp(name, "odd") && strcmp(name, "even")) {
    jinja_fail(args->line, "test '%s' needs an argument", name);
    return -1;
  }
  if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "==")) return jv_equal(v, arg);
  if (!strcmp(name, "ne") || !strcmp(name, "!=")) return !jv_equal(v, arg);
  if (!strcmp(name, "sameas")) return v == arg || (v->type <= JV_BOOL && jv_equal(v, arg) && v->type == arg->type);
  if (!strcmp(name, "in")) return in_test(v, arg);
  if (t != JV_INT) {
    jinja_fail(args->line, "test '%s' needs an integer, got %s", name, jv_type_name(v));
    return -1;
  }
  if (!strcmp(name, "odd")) return (v->i & 1) != 0;
  if (!strcmp(name, "even")) return (v->i & 1) == 0;
  if (arg->type != JV_INT || arg->i == 0) {
    jinja_fail(args->line, "divisibleby needs a non-zero integer");
    return -1;
  }
  return v->i % arg->i == 0;
}
