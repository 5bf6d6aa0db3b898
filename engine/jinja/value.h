#ifndef DUET_JINJA_VALUE_H
#define DUET_JINJA_VALUE_H

/* Runtime values of the Jinja engine, with Python's semantics (templates are
 * written for Python's Jinja): truthiness, equality, str() and the JSON
 * form tojson writes. Values live in a render's arena and are never freed
 * one by one. Lists and dicts keep insertion order. */

#include <jansson.h>
#include <stddef.h>

#include "engine/jinja/arena.h"

typedef enum {
  JV_UNDEF, /* a name or key that does not exist (s = its name, for errors) */
  JV_NONE,
  JV_BOOL,  /* i = 0 / 1 */
  JV_INT,   /* i */
  JV_FLOAT, /* f */
  JV_STR,   /* s, len (UTF-8, may hold NULs) */
  JV_LIST,  /* items[0..n) (tuples too) */
  JV_DICT,  /* keys[k] (strings) -> items[k] */
  JV_NS,    /* namespace(): a dict whose attributes can be set */
  JV_MACRO, /* macro: the defining node */
  JV_FUNC,  /* a global function: builtin id */
} jinja_value_type;

typedef struct jinja_value jinja_value;
struct jinja_value {
  jinja_value_type type;
  long long i;
  double f;
  const char *s;
  size_t len;
  jinja_value **items, **keys;
  int n, cap;
  const void *macro;   /* JV_MACRO: its jinja_node */
  const void *closure; /* JV_MACRO: the scope it was defined in */
  int func;
};

/* Arguments of a filter, test, method or function call. */
typedef struct {
  jinja_value **args;
  int nargs;
  const char **kwnames;
  jinja_value **kwargs;
  int nkw;
  int line;
} jinja_args;

/* Keyword `name` if given, else positional argument `pos` (or NULL). */
jinja_value *jinja_arg(const jinja_args *a, int pos, const char *name);

/* Growable output buffer (malloc'd, not arena: the rendered text outlives
 * the render's arena). oom latches the first failure. */
typedef struct {
  char *p;
  size_t n, cap, limit;
  int oom;
} jinja_buf;
void jinja_buf_put(jinja_buf *b, const char *s, size_t n);
void jinja_buf_puts(jinja_buf *b, const char *s);
/* Appends code point cp as UTF-8. */
void jinja_buf_put_cp(jinja_buf *b, unsigned cp);

extern jinja_value jinja_undefined, jinja_none, jinja_true, jinja_false;

jinja_value *jv_new(jinja_arena *a, jinja_value_type t);
jinja_value *jv_str(jinja_arena *a, const char *s, size_t len);
jinja_value *jv_int(jinja_arena *a, long long i);
jinja_value *jv_float(jinja_arena *a, double f);
jinja_value *jv_bool(int b);
jinja_value *jv_undef(jinja_arena *a, const char *name);
/* The buffer's text as a string value, freeing the buffer; NULL (error
 * recorded) when the buffer overflowed or memory ran out. */
jinja_value *jv_from_buf(jinja_arena *a, jinja_buf *b);
/* Whether name is in the NULL-terminated list. */
int jinja_name_in(const char *const *names, const char *name);
int jv_push(jinja_arena *a, jinja_value *list, jinja_value *v); /* DUET_OK or DUET_ENOMEM */
int jv_dict_set(jinja_arena *a, jinja_value *d, jinja_value *key, jinja_value *v);
jinja_value *jv_dict_get(const jinja_value *d, const char *key, size_t klen); /* NULL if absent */

int jv_truthy(const jinja_value *v);
int jv_equal(const jinja_value *a, const jinja_value *b);
const char *jv_type_name(const jinja_value *v);

/* str(v) as Python prints it: None, True, 1.5, ['a', 1], {'k': 'v'}. */
void jv_write_str(jinja_buf *b, const jinja_value *v);
/* JSON as Hugging Face's tojson writes it: json.dumps(v, ensure_ascii=False,
 * indent=indent) (indent < 0: one line with ", " and ": "). */
void jv_write_json(jinja_buf *b, const jinja_value *v, int indent, int depth);
/* json.dumps with transformers' tojson options: indent (NULL: one line;
 * else the text put per level), separators (NULL: Python's defaults),
 * sort_keys, ensure_ascii. */
typedef struct {
  const char *indent; /* NULL: no newlines */
  size_t indent_len;
  const char *item_sep, *key_sep;
  size_t item_len, key_len;
  int sort_keys, ascii;
} jv_json_opts;
void jv_write_json_opts(jinja_buf *b, const jinja_value *v, const jv_json_opts *o, int depth);
/* A jansson value as a Jinja value (deep copy into the arena). */
jinja_value *jv_from_json(jinja_arena *a, const json_t *j);

/* Records a render error (DUET_EINVAL, "chat template line N: ...") and
 * returns NULL, for `return jinja_fail(...)` in evaluators. */
jinja_value *jinja_fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Decodes the code point at s[i] (of n bytes) into *cp and returns its
 * length; an invalid byte gives *ok = 0, length 1 and cp = the byte. */
size_t jinja_utf8_next(const char *s, size_t n, size_t i, unsigned *cp, int *ok);
/* Python's str.isspace(): ASCII and Unicode whitespace. */
int jinja_is_space(unsigned cp);

#endif
