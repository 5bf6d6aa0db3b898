#include "engine/jinja/value.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

jinja_value jinja_undefined = {.type = JV_UNDEF};
jinja_value jinja_none = {.type = JV_NONE};
jinja_value jinja_true = {.type = JV_BOOL, .i = 1};
jinja_value jinja_false = {.type = JV_BOOL, .i = 0};

void jinja_buf_put(jinja_buf *b, const char *s, size_t n) {
  if (b->oom || !n) return;
  if (b->limit && b->n + n > b->limit) {
    b->oom = 1;
    return;
  }
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

void jinja_buf_puts(jinja_buf *b, const char *s) { jinja_buf_put(b, s, strlen(s)); }

void jinja_buf_put_cp(jinja_buf *b, unsigned cp) {
  char o[4];
  size_t k = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  static const unsigned char lead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
  for (size_t i = k - 1; i > 0; i--, cp >>= 6) o[i] = (char)(0x80 | (cp & 0x3F));
  o[0] = (char)(lead[k] | cp);
  jinja_buf_put(b, o, k);
}

jinja_value *jv_from_buf(jinja_arena *a, jinja_buf *b) {
  jinja_value *v = b->oom ? NULL : jv_str(a, b->p ? b->p : "", b->n);
  free(b->p);
  b->p = NULL;
  if (!v) duet_error(DUET_ENOMEM, "chat template: output too large or out of memory");
  return v;
}

int jinja_name_in(const char *const *names, const char *name) {
  for (int k = 0; names[k]; k++)
    if (!strcmp(names[k], name)) return 1;
  return 0;
}

jinja_value *jv_new(jinja_arena *a, jinja_value_type t) {
  jinja_value *v = jinja_alloc(a, sizeof *v);
  if (v) v->type = t;
  return v;
}

jinja_value *jv_str(jinja_arena *a, const char *s, size_t len) {
  jinja_value *v = jv_new(a, JV_STR);
  if (!v) return NULL;
  v->s = jinja_strndup(a, s, len);
  v->len = len;
  return v->s ? v : NULL;
}

jinja_value *jv_int(jinja_arena *a, long long i) {
  jinja_value *v = jv_new(a, JV_INT);
  if (v) v->i = i;
  return v;
}

jinja_value *jv_float(jinja_arena *a, double f) {
  jinja_value *v = jv_new(a, JV_FLOAT);
  if (v) v->f = f;
  return v;
}

jinja_value *jv_bool(int b) { return b ? &jinja_true : &jinja_false; }

jinja_value *jv_undef(jinja_arena *a, const char *name) {
  jinja_value *v = jv_new(a, JV_UNDEF);
  if (v) v->s = name;
  return v;
}

int jv_push(jinja_arena *a, jinja_value *list, jinja_value *v) {
  if (list->n == list->cap) {
    int cap = list->cap ? list->cap * 2 : 8;
    jinja_value **items = jinja_alloc(a, (size_t)cap * sizeof *items);
    jinja_value **keys = list->type == JV_LIST ? NULL : jinja_alloc(a, (size_t)cap * sizeof *keys);
    if (!items || (list->type != JV_LIST && !keys)) return DUET_ENOMEM;
    if (list->n) {
      memcpy(items, list->items, (size_t)list->n * sizeof *items);
      if (keys) memcpy(keys, list->keys, (size_t)list->n * sizeof *keys);
    }
    list->items = items;
    list->keys = keys;
    list->cap = cap;
  }
  list->items[list->n++] = v;
  return DUET_OK;
}

static int dict_find(const jinja_value *d, const char *key, size_t klen) {
  for (int k = 0; k < d->n; k++)
    if (d->keys[k]->len == klen && !memcmp(d->keys[k]->s, key, klen)) return k;
  return -1;
}

jinja_value *jv_dict_get(const jinja_value *d, const char *key, size_t klen) {
  int k = dict_find(d, key, klen);
  return k < 0 ? NULL : d->items[k];
}

int jv_dict_set(jinja_arena *a, jinja_value *d, jinja_value *key, jinja_value *v) {
  int k = dict_find(d, key->s, key->len);
  if (k >= 0) {
    d->items[k] = v;
    return DUET_OK;
  }
  int rc = jv_push(a, d, v);
  if (rc == DUET_OK) d->keys[d->n - 1] = key;
  return rc;
}

int jv_truthy(const jinja_value *v) {
  switch (v->type) {
    case JV_UNDEF:
    case JV_NONE: return 0;
    case JV_BOOL:
    case JV_INT: return v->i != 0;
    case JV_FLOAT: return v->f != 0;
    case JV_STR: return v->len != 0;
    case JV_LIST:
    case JV_DICT: return v->n != 0;
    default: return 1;
  }
}

static int is_num(const jinja_value *v) { return v->type == JV_INT || v->type == JV_FLOAT || v->type == JV_BOOL; }
static double num(const jinja_value *v) { return v->type == JV_FLOAT ? v->f : (double)v->i; }

int jv_equal(const jinja_value *a, const jinja_value *b) {
  if (is_num(a) && is_num(b)) {
    if (a->type != JV_FLOAT && b->type != JV_FLOAT) return a->i == b->i;
    return num(a) == num(b);
  }
  if (a->type != b->type) return 0;
  switch (a->type) {
    case JV_UNDEF:
    case JV_NONE: return 1;
    case JV_STR: return a->len == b->len && !memcmp(a->s, b->s, a->len);
    case JV_LIST:
    case JV_DICT:
      if (a->n != b->n) return 0;
      for (int k = 0; k < a->n; k++) {
        if (a->type == JV_DICT) {
          const jinja_value *bv = jv_dict_get(b, a->keys[k]->s, a->keys[k]->len);
          if (!bv || !jv_equal(a->items[k], bv)) return 0;
        } else if (!jv_equal(a->items[k], b->items[k])) {
          return 0;
        }
      }
      return 1;
    default: return a == b;
  }
}

const char *jv_type_name(const jinja_value *v) {
  static const char *names[] = {"undefined", "none", "boolean", "integer", "float", "string",
                                "list",      "dict", "namespace", "macro", "function"};
  return names[v->type];
}

/* Python's float repr: the shortest digits that read back exactly, in
 * positional form for exponents -4..15, else 1.5e+16. */
static void write_float(jinja_buf *b, double f, int json) {
  char s[64];
  if (isnan(f)) return jinja_buf_puts(b, json ? "NaN" : "nan");
  if (isinf(f)) return jinja_buf_puts(b, f < 0 ? (json ? "-Infinity" : "-inf") : (json ? "Infinity" : "inf"));
  int p = 1;
  for (; p < 17; p++) {
    snprintf(s, sizeof s, "%.*e", p - 1, f);
    if (strtod(s, NULL) == f) break;
  }
  snprintf(s, sizeof s, "%.*e", p - 1, f);
  int exp = atoi(strchr(s, 'e') + 1);
  if (exp >= -4 && exp < 16) {
    snprintf(s, sizeof s, "%.*f", p - 1 - exp > 0 ? p - 1 - exp : 0, f);
    if (!strchr(s, '.')) strcat(s, ".0");
  }
  /* else keep "%.*e": C prints 1e+16 and 1.5e-05 exactly as Python does. */
  jinja_buf_puts(b, s);
}

static void write_repr_str(jinja_buf *b, const jinja_value *v) {
  /* Python picks double quotes only when the text has ' and no ". */
  int has_sq = memchr(v->s, '\'', v->len) != NULL, has_dq = memchr(v->s, '"', v->len) != NULL;
  char q = has_sq && !has_dq ? '"' : '\'';
  jinja_buf_put(b, &q, 1);
  for (size_t k = 0; k < v->len; k++) {
    unsigned char c = (unsigned char)v->s[k];
    char esc[8];
    if (c == '\\' || c == (unsigned char)q) {
      esc[0] = '\\', esc[1] = (char)c;
      jinja_buf_put(b, esc, 2);
    } else if (c == '\n') jinja_buf_puts(b, "\\n");
    else if (c == '\r') jinja_buf_puts(b, "\\r");
    else if (c == '\t') jinja_buf_puts(b, "\\t");
    else if (c < 0x20 || c == 0x7f) {
      snprintf(esc, sizeof esc, "\\x%02x", c);
      jinja_buf_puts(b, esc);
    } else jinja_buf_put(b, (const char *)&c, 1);
  }
  jinja_buf_put(b, &q, 1);
}

static void write_repr(jinja_buf *b, const jinja_value *v) {
  if (v->type == JV_STR) return write_repr_str(b, v);
  if (v->type == JV_LIST || v->type == JV_DICT || v->type == JV_NS) {
    jinja_buf_puts(b, v->type == JV_LIST ? "[" : "{");
    for (int k = 0; k < v->n; k++) {
      if (k) jinja_buf_puts(b, ", ");
      if (v->type != JV_LIST) {
        write_repr_str(b, v->keys[k]);
        jinja_buf_puts(b, ": ");
      }
      write_repr(b, v->items[k]);
    }
    return jinja_buf_puts(b, v->type == JV_LIST ? "]" : "}");
  }
  jv_write_str(b, v);
}

void jv_write_str(jinja_buf *b, const jinja_value *v) {
  char s[32];
  switch (v->type) {
    case JV_UNDEF: return;
    case JV_NONE: return jinja_buf_puts(b, "None");
    case JV_BOOL: return jinja_buf_puts(b, v->i ? "True" : "False");
    case JV_INT:
      snprintf(s, sizeof s, "%lld", v->i);
      return jinja_buf_puts(b, s);
    case JV_FLOAT: return write_float(b, v->f, 0);
    case JV_STR: return jinja_buf_put(b, v->s, v->len);
    case JV_LIST:
    case JV_DICT: return write_repr(b, v);
    case JV_NS: return jinja_buf_puts(b, "<Namespace>");
    default: return jinja_buf_puts(b, "<function>");
  }
}

static void write_json_str(jinja_buf *b, const char *s, size_t n, int ascii) {
  jinja_buf_put(b, "\"", 1);
  for (size_t k = 0; k < n; k++) {
    unsigned char c = (unsigned char)s[k];
    const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                  : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
    char u[16];
    if (!e && c < 0x20) {
      snprintf(u, sizeof u, "\\u%04x", c);
      e = u;
    } else if (!e && c >= 0x7f && ascii) { /* ensure_ascii (Python escapes DEL too): \uXXXX, surrogate pairs past the BMP */
      unsigned cp;
      int ok;
      size_t l = jinja_utf8_next(s, n, k, &cp, &ok);
      if (cp >= 0x10000)
        snprintf(u, sizeof u, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF));
      else
        snprintf(u, sizeof u, "\\u%04x", cp);
      jinja_buf_puts(b, u);
      k += l - 1;
      continue;
    }
    if (e) jinja_buf_puts(b, e);
    else jinja_buf_put(b, (const char *)&c, 1);
  }
  jinja_buf_put(b, "\"", 1);
}

static void newline_indent(jinja_buf *b, const jv_json_opts *o, int depth) {
  jinja_buf_put(b, "\n", 1);
  for (int k = 0; k < depth; k++) jinja_buf_put(b, o->indent, o->indent_len);
}

/* Python's sort of str keys: code point order, which is UTF-8 byte order. */
static int key_less(const jinja_value *x, const jinja_value *y) {
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  return c < 0 || (c == 0 && x->len < y->len);
}

void jv_write_json_opts(jinja_buf *b, const jinja_value *v, const jv_json_opts *o, int depth) {
  char s[32];
  switch (v->type) {
    case JV_UNDEF:
    case JV_NONE: return jinja_buf_puts(b, "null");
    case JV_BOOL: return jinja_buf_puts(b, v->i ? "true" : "false");
    case JV_INT:
      snprintf(s, sizeof s, "%lld", v->i);
      return jinja_buf_puts(b, s);
    case JV_FLOAT: return write_float(b, v->f, 1);
    case JV_STR: return write_json_str(b, v->s, v->len, o->ascii);
    case JV_LIST:
    case JV_DICT:
    case JV_NS: {
      int order_small[64], *order = order_small;
      if (v->type != JV_LIST && o->sort_keys && v->n > 64) order = malloc((size_t)v->n * sizeof *order);
      if (!order) order = order_small; /* out of memory: keep insertion order */
      int sorted = v->type != JV_LIST && o->sort_keys && (order != order_small || v->n <= 64);
      for (int k = 0; sorted && k < v->n; k++) { /* insertion sort: stable, like Python's */
        int j = k;
        while (j > 0 && key_less(v->keys[k], v->keys[order[j - 1]])) {
          order[j] = order[j - 1];
          j--;
        }
        order[j] = k;
      }
      jinja_buf_puts(b, v->type == JV_LIST ? "[" : "{");
      for (int i = 0; i < v->n; i++) {
        int k = sorted ? order[i] : i;
        if (i) jinja_buf_put(b, o->item_sep, o->item_len);
        if (o->indent) newline_indent(b, o, depth + 1);
        if (v->type != JV_LIST) {
          write_json_str(b, v->keys[k]->s, v->keys[k]->len, o->ascii);
          jinja_buf_put(b, o->key_sep, o->key_len);
        }
        jv_write_json_opts(b, v->items[k], o, depth + 1);
      }
      if (order != order_small) free(order);
      if (o->indent && v->n) newline_indent(b, o, depth);
      return jinja_buf_puts(b, v->type == JV_LIST ? "]" : "}");
    }
    default: return jinja_buf_puts(b, "null");
  }
}

void jv_write_json(jinja_buf *b, const jinja_value *v, int indent, int depth) {
  char spaces[256 + 1];
  if (indent > 256) indent = 256;
  if (indent > 0) memset(spaces, ' ', (size_t)indent);
  jv_json_opts o = {indent >= 0 ? spaces : NULL, indent > 0 ? (size_t)indent : 0, indent >= 0 ? "," : ", ", ": ",
                    indent >= 0 ? 1 : 2, 2, 0, 0};
  jv_write_json_opts(b, v, &o, depth);
}

jinja_value *jv_from_json(jinja_arena *a, const json_t *j) {
  switch (json_typeof(j)) {
    case JSON_NULL: return &jinja_none;
    case JSON_TRUE: return &jinja_true;
    case JSON_FALSE: return &jinja_false;
    case JSON_INTEGER: return jv_int(a, json_integer_value(j));
    case JSON_REAL: return jv_float(a, json_real_value(j));
    case JSON_STRING: return jv_str(a, json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
      jinja_value *l = jv_new(a, JV_LIST);
      for (size_t k = 0; l && k < json_array_size(j); k++) {
        jinja_value *item = jv_from_json(a, json_array_get(j, k));
        if (!item || jv_push(a, l, item) < 0) return NULL;
      }
      return l;
    }
    case JSON_OBJECT: {
      jinja_value *d = jv_new(a, JV_DICT);
      const char *key;
      json_t *val;
      json_object_foreach((json_t *)j, key, val) {
        jinja_value *k = jv_str(a, key, strlen(key));
        jinja_value *item = k ? jv_from_json(a, val) : NULL;
        if (!d || !item || jv_dict_set(a, d, k, item) < 0) return NULL;
      }
      return d;
    }
  }
  return NULL;
}

jinja_value *jinja_arg(const jinja_args *a, int pos, const char *name) {
  for (int k = 0; name && k < a->nkw; k++)
    if (!strcmp(a->kwnames[k], name)) return a->kwargs[k];
  return pos >= 0 && pos < a->nargs ? a->args[pos] : NULL;
}

jinja_value *jinja_fail(int line, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  duet_error(DUET_EINVAL, "chat template line %d: %s", line, msg);
  return NULL;
}

/* Decodes one code point at s[i]; an invalid byte decodes as itself with
 * *ok = 0 so it is copied through untouched. Returns its length. */
size_t jinja_utf8_next(const char *s, size_t n, size_t i, unsigned *cp, int *ok) {
  const unsigned char *u = (const unsigned char *)s;
  unsigned c = u[i];
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  *ok = len != 0 && i + len <= n;
  for (size_t k = 1; *ok && k < len; k++) *ok = (u[i + k] & 0xC0) == 0x80;
  if (!*ok) {
    *cp = c;
    return 1;
  }
  *cp = len == 1 ? c : c & (0x7F >> len);
  for (size_t k = 1; k < len; k++) *cp = (*cp << 6) | (u[i + k] & 0x3F);
  return len;
}

/* Python's str.isspace() set. */
int jinja_is_space(unsigned cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}
