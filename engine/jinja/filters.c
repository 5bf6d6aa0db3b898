#include "engine/jinja/filters.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/jinja/methods.h"
#include "engine/jinja/tests.h"
#include "engine/tokenizer/utf8.h"

enum { MAX_JSON_INDENT = 256 };

static const char *const FILTERS[] = {
    "trim",  "length", "count",      "tojson", "upper",   "lower",   "default", "d",      "join",
    "first", "last",   "replace",    "string", "int",     "float",   "items",   "list",   "selectattr",
    "rejectattr", "map", "capitalize", "title", "safe",   "abs",     "reverse", "select", "reject",
    "indent", "sort", "unique", NULL};

int jinja_filter_exists(const char *name) { return jinja_name_in(FILTERS, name); }

static jinja_value *to_string(jinja_arena *a, const jinja_value *v) {
  if (v->type == JV_STR) return (jinja_value *)v;
  jinja_buf b = {0};
  jv_write_str(&b, v);
  return jv_from_buf(a, &b);
}

/* Items of an iterable as a list: list itself, dict keys, string chars. */
static jinja_value *as_list(jinja_arena *a, jinja_value *v, int line) {
  if (v->type == JV_LIST) return v;
  jinja_value *out = jv_new(a, JV_LIST);
  if (!out) return NULL;
  if (v->type == JV_DICT) {
    for (int k = 0; k < v->n; k++)
      if (jv_push(a, out, v->keys[k]) < 0) return NULL;
    return out;
  }
  if (v->type == JV_STR) {
    for (size_t i = 0; i < v->len;) {
      size_t l = 1;
      while (i + l < v->len && ((unsigned char)v->s[i + l] & 0xC0) == 0x80) l++;
      jinja_value *c = jv_str(a, v->s + i, l);
      if (!c || jv_push(a, out, c) < 0) return NULL;
      i += l;
    }
    return out;
  }
  if (v->type == JV_UNDEF) return out;
  return jinja_fail(line, "%s is not iterable", jv_type_name(v));
}

/* item.a.b for selectattr/map/join(attribute=...). */
static jinja_value *get_path(jinja_value *item, const jinja_value *path) {
  const char *p = path->s, *end = path->s + path->len;
  while (p <= end) {
    const char *dot = memchr(p, '.', (size_t)(end - p));
    size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);
    jinja_value *next = item->type == JV_DICT || item->type == JV_NS ? jv_dict_get(item, p, n) : NULL;
    if (!next) return &jinja_undefined;
    item = next;
    if (!dot) break;
    p = dot + 1;
  }
  return item;
}

static jinja_value *f_join(jinja_arena *a, jinja_value *v, const jinja_args *args) {
  jinja_value *sep = jinja_arg(args, 0, "d"), *attr = jinja_arg(args, 1, "attribute");
  jinja_value *l = as_list(a, v, args->line);
  if (!l) return NULL;
  jinja_buf b = {0};
  for (int k = 0; k < l->n; k++) {
    if (k && sep) jv_write_str(&b, sep);
    jv_write_str(&b, attr && attr->type == JV_STR ? get_path(l->items[k], attr) : l->items[k]);
  }
  return jv_from_buf(a, &b);
}

/* selectattr/rejectattr(attr[, test, args...]) and select/reject([test, args...]):
 * keep the items (or their attribute) that pass the test, or are truthy. */
static jinja_value *f_select(jinja_arena *a, jinja_value *v, const jinja_args *args, int reject, int by_attr) {
  jinja_value *attr = by_attr ? jinja_arg(args, 0, NULL) : NULL, *test = jinja_arg(args, by_attr, NULL);
  if (by_attr && (!attr || attr->type != JV_STR)) return jinja_fail(args->line, "selectattr/rejectattr need an attribute name");
  if (test && (test->type != JV_STR || !jinja_test_exists(test->s)))
    return jinja_fail(args->line, "%s: unknown test '%s'", by_attr ? "selectattr/rejectattr" : "select/reject",
                      test->type == JV_STR ? test->s : jv_type_name(test));
  /* Jinja yields nothing for a falsy value ("if value:"): templates filter
   * `tools` after {% set tools = none %} (Functionary v3.1). */
  if (!jv_truthy(v)) return jv_new(a, JV_LIST);
  jinja_value *l = as_list(a, v, args->line), *out = jv_new(a, JV_LIST);
  if (!l || !out) return NULL;
  int skip = by_attr + 1;
  jinja_args targs = {.args = args->args + skip, .nargs = args->nargs > skip ? args->nargs - skip : 0, .line = args->line};
  for (int k = 0; k < l->n; k++) {
    jinja_value *x = by_attr ? get_path(l->items[k], attr) : l->items[k];
    int r = test ? jinja_test(test->s, x, &targs) : jv_truthy(x);
    if (r < 0) return NULL;
    if (r != reject && jv_push(a, out, l->items[k]) < 0) return NULL;
  }
  return out;
}

/* Sort key comparison: numbers, or strings (case-folded unless asked). */
static int sort_cmp(jinja_arena *a, jinja_value *x, jinja_value *y, int case_sensitive, int *err) {
  int nx = x->type == JV_INT || x->type == JV_FLOAT || x->type == JV_BOOL;
  int ny = y->type == JV_INT || y->type == JV_FLOAT || y->type == JV_BOOL;
  if (nx && ny) {
    double p = x->type == JV_FLOAT ? x->f : (double)x->i, q = y->type == JV_FLOAT ? y->f : (double)y->i;
    return p < q ? -1 : p > q;
  }
  if (x->type != JV_STR || y->type != JV_STR) return *err = 1, 0;
  if (!case_sensitive) {
    x = jinja_str_case(a, x, JCASE_LOWER), y = jinja_str_case(a, y, JCASE_LOWER);
    if (!x || !y) return *err = 1, 0;
  }
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* sort(reverse=false, case_sensitive=false, attribute=none): stable, as Python's. */
static jinja_value *f_sort(jinja_arena *a, jinja_value *v, const jinja_args *args) {
  jinja_value *rev = jinja_arg(args, 0, "reverse"), *cs = jinja_arg(args, 1, "case_sensitive");
  jinja_value *attr = jinja_arg(args, 2, "attribute");
  jinja_value *l = as_list(a, v, args->line), *out = jv_new(a, JV_LIST);
  if (!l || !out) return NULL;
  int err = 0, sign = rev && jv_truthy(rev) ? -1 : 1;
  for (int k = 0; k < l->n; k++) { /* insertion sort: lists in templates are short */
    if (jv_push(a, out, l->items[k]) < 0) return NULL;
    for (int j = out->n - 1; j > 0; j--) {
      jinja_value *p = out->items[j - 1], *q = out->items[j];
      jinja_value *kp = attr && attr->type == JV_STR ? get_path(p, attr) : p;
      jinja_value *kq = attr && attr->type == JV_STR ? get_path(q, attr) : q;
      if (sign * sort_cmp(a, kp, kq, cs && jv_truthy(cs), &err) <= 0) break;
      out->items[j - 1] = q, out->items[j] = p;
    }
    if (err) return jinja_fail(args->line, "sort: items are not all numbers or all strings");
  }
  return out;
}

/* unique(case_sensitive=false, attribute=none): first occurrences, in order. */
static jinja_value *f_unique(jinja_arena *a, jinja_value *v, const jinja_args *args) {
  jinja_value *cs = jinja_arg(args, 0, "case_sensitive"), *attr = jinja_arg(args, 1, "attribute");
  jinja_value *l = as_list(a, v, args->line), *out = jv_new(a, JV_LIST);
  if (!l || !out) return NULL;
  for (int k = 0; k < l->n; k++) {
    jinja_value *x = attr && attr->type == JV_STR ? get_path(l->items[k], attr) : l->items[k];
    int seen = 0;
    for (int j = 0; j < out->n && !seen; j++) {
      jinja_value *y = attr && attr->type == JV_STR ? get_path(out->items[j], attr) : out->items[j];
      int err = 0;
      seen = x->type == JV_STR && y->type == JV_STR ? !sort_cmp(a, x, y, cs && jv_truthy(cs), &err) : jv_equal(x, y);
    }
    if (!seen && jv_push(a, out, l->items[k]) < 0) return NULL;
  }
  return out;
}

/* Length of the line break at s[i] as Python's str.splitlines() sees one
 * (\n, \r, \r\n, \v, \f, \x1c-\x1e, U+0085, U+2028, U+2029), else 0. */
static size_t line_break(const char *s, size_t len, size_t i) {
  unsigned char c = (unsigned char)s[i];
  if (c == '\r') return i + 1 < len && s[i + 1] == '\n' ? 2 : 1;
  if (c == '\n' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e)) return 1;
  if (c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] == 0x85) return 2;
  if (c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 && ((unsigned char)s[i + 2] & 0xFE) == 0xA8) return 3;
  return 0;
}

/* indent(width=4, first=false, blank=false): indents the lines after the
 * first (and the first, and blank lines, when asked). Jinja splits with
 * str.splitlines() and joins with \n, so every line break becomes \n. */
static jinja_value *f_indent(jinja_arena *a, jinja_value *v, const jinja_args *args) {
  jinja_value *w = jinja_arg(args, 0, "width"), *first = jinja_arg(args, 1, "first");
  jinja_value *blank = jinja_arg(args, 2, "blank");
  jinja_buf pad = {0}, b = {0};
  if (w && w->type == JV_STR) jinja_buf_put(&pad, w->s, w->len);
  else
    for (long long k = 0; k < (w && w->type == JV_INT ? w->i : 4) && k < 256; k++) jinja_buf_put(&pad, " ", 1);
  /* Jinja appends "\n" first (a trailing "\r" then ends as "\r\n" does),
   * so every line, the last included, ends with a break. */
  jinja_buf t = {0};
  jinja_buf_put(&t, v->s, v->len);
  jinja_buf_put(&t, "\n", 1);
  for (size_t i = 0, line = 0; !t.oom && i < t.n; line++) {
    size_t end = i, brk;
    while (!(brk = line_break(t.p, t.n, end))) end++;
    int indent_it = line == 0 ? first && jv_truthy(first) : end > i || (blank && jv_truthy(blank));
    if (line) jinja_buf_put(&b, "\n", 1);
    if (indent_it && pad.n) jinja_buf_put(&b, pad.p, pad.n);
    jinja_buf_put(&b, t.p + i, end - i);
    i = end + brk;
  }
  if (t.oom) b.oom = 1;
  free(t.p);
  free(pad.p);
  return jv_from_buf(a, &b);
}

static jinja_value *f_map(jinja_arena *a, jinja_value *v, const jinja_args *args) {
  jinja_value *attr = jinja_arg(args, -1, "attribute"), *def = jinja_arg(args, -1, "default");
  jinja_value *fname = attr ? NULL : jinja_arg(args, 0, NULL);
  if (!attr && (!fname || fname->type != JV_STR || !jinja_filter_exists(fname->s)))
    return jinja_fail(args->line, "map needs attribute= or the name of a known filter");
  if (!jv_truthy(v)) return jv_new(a, JV_LIST); /* as select: Jinja maps a falsy value to nothing */
  jinja_value *l = as_list(a, v, args->line), *out = jv_new(a, JV_LIST);
  if (!l || !out) return NULL;
  jinja_args fargs = {.args = args->args + 1, .nargs = args->nargs - 1, .line = args->line};
  for (int k = 0; k < l->n; k++) {
    jinja_value *x;
    if (attr) {
      x = attr->type == JV_STR ? get_path(l->items[k], attr) : &jinja_undefined;
      if (x->type == JV_UNDEF && def) x = def;
    } else {
      x = jinja_filter(a, fname->s, l->items[k], &fargs);
    }
    if (!x || jv_push(a, out, x) < 0) return NULL;
  }
  return out;
}

/* Truncation toward zero, as Python's int(). (long long)f is undefined
 * outside [-2^63, 2^63), where Python would make a big int: refused. */
static jinja_value *int_of_double(jinja_arena *a, double f, int line) {
  if (!(f >= -0x1p63 && f < 0x1p63)) return jinja_fail(line, "filter 'int': %g does not fit in 64 bits", f);
  return jv_int(a, (long long)f);
}

static jinja_value *f_int(jinja_arena *a, jinja_value *v, const jinja_args *args) {
  jinja_value *def = jinja_arg(args, 0, "default");
  if (v->type == JV_INT || v->type == JV_BOOL) return jv_int(a, v->i);
  if (v->type == JV_FLOAT && isfinite(v->f)) return int_of_double(a, v->f, args->line);
  if (v->type == JV_STR) {
    char *end;
    long long i = strtoll(v->s, &end, 10);
    if (end != v->s && !*end) return jv_int(a, i);
    double f = strtod(v->s, &end);
    if (end != v->s && !*end && isfinite(f)) return int_of_double(a, f, args->line);
  }
  return def ? def : jv_int(a, 0);
}

static jinja_value *f_float(jinja_arena *a, jinja_value *v, const jinja_args *args) {
  jinja_value *def = jinja_arg(args, 0, "default");
  if (v->type == JV_INT || v->type == JV_BOOL) return jv_float(a, (double)v->i);
  if (v->type == JV_FLOAT) return v;
  if (v->type == JV_STR) {
    char *end;
    double f = strtod(v->s, &end);
    if (end != v->s && !*end) return jv_float(a, f);
  }
  return def ? def : jv_float(a, 0);
}

static jinja_value *f_length(jinja_arena *a, jinja_value *v, const jinja_args *args) {
  if (v->type == JV_STR) return jv_int(a, (long long)duet_utf8_count(v->s, v->len));
  if (v->type == JV_LIST || v->type == JV_DICT) return jv_int(a, v->n);
  if (v->type == JV_UNDEF) return jv_int(a, 0);
  return jinja_fail(args->line, "length of %s", jv_type_name(v));
}

static jinja_value *f_end(jinja_arena *a, jinja_value *v, const jinja_args *args, int last) {
  jinja_value *l = as_list(a, v, args->line);
  if (!l) return NULL;
  if (!l->n) return jv_undef(a, last ? "last item" : "first item");
  return l->items[last ? l->n - 1 : 0];
}

static jinja_value *f_reverse(jinja_arena *a, jinja_value *v, const jinja_args *args) {
  jinja_value *l = as_list(a, v, args->line), *out = jv_new(a, JV_LIST);
  if (!l || !out) return NULL;
  for (int k = l->n - 1; k >= 0; k--)
    if (jv_push(a, out, l->items[k]) < 0) return NULL;
  if (v->type != JV_STR) return out;
  jinja_buf b = {0};
  for (int k = 0; k < out->n; k++) jv_write_str(&b, out->items[k]);
  return jv_from_buf(a, &b);
}

/* transformers' tojson(x, ensure_ascii=False, indent=None, separators=None,
 * sort_keys=False): json.dumps with those arguments. */
static jinja_value *f_tojson(jinja_arena *a, jinja_value *v, const jinja_args *args) {
  static const char *const names[] = {"ensure_ascii", "indent", "separators", "sort_keys", NULL};
  for (int k = 0; k < args->nkw; k++)
    if (!jinja_name_in(names, args->kwnames[k]))
      return jinja_fail(args->line, "tojson() got an unexpected keyword argument '%s'", args->kwnames[k]);
  if (args->nargs > 4) return jinja_fail(args->line, "tojson() takes at most 4 arguments");
  jinja_value *asc = jinja_arg(args, 0, "ensure_ascii"), *ind = jinja_arg(args, 1, "indent");
  jinja_value *sep = jinja_arg(args, 2, "separators"), *sort = jinja_arg(args, 3, "sort_keys");
  char spaces[MAX_JSON_INDENT + 1];
  jv_json_opts o = {NULL, 0, ", ", ": ", 2, 2, sort && jv_truthy(sort), asc && jv_truthy(asc)};
  if (ind && ind->type == JV_INT) {
    /* bounded so that indent x depth cannot overflow an int or fill memory with spaces */
    if (ind->i > MAX_JSON_INDENT)
      return jinja_fail(args->line, "tojson indent %lld is over %d", ind->i, MAX_JSON_INDENT);
    o.indent_len = ind->i > 0 ? (size_t)ind->i : 0; /* Python: ' ' * indent */
    memset(spaces, ' ', o.indent_len);
    o.indent = spaces;
  } else if (ind && ind->type == JV_STR) {
    if (ind->len > MAX_JSON_INDENT)
      return jinja_fail(args->line, "tojson indent is over %d characters", MAX_JSON_INDENT);
    o.indent = ind->s;
    o.indent_len = ind->len;
  } else if (ind && ind->type != JV_NONE && ind->type != JV_UNDEF) {
    return jinja_fail(args->line, "tojson indent must be an integer, a string or none");
  }
  if (o.indent) {
    o.item_sep = ",";
    o.item_len = 1;
  }
  if (sep && sep->type != JV_NONE && sep->type != JV_UNDEF) {
    if (sep->type != JV_LIST || sep->n != 2 || sep->items[0]->type != JV_STR || sep->items[1]->type != JV_STR)
      return jinja_fail(args->line, "tojson separators must be two strings");
    o.item_sep = sep->items[0]->s;
    o.item_len = sep->items[0]->len;
    o.key_sep = sep->items[1]->s;
    o.key_len = sep->items[1]->len;
  }
  jinja_buf b = {0};
  jv_write_json_opts(&b, v, &o, 0);
  return jv_from_buf(a, &b);
}

static jinja_value *f_default(jinja_arena *a, jinja_value *v, const jinja_args *args) {
  jinja_value *def = jinja_arg(args, 0, "default_value"), *boolean = jinja_arg(args, 1, "boolean");
  int use_def = v->type == JV_UNDEF || (boolean && jv_truthy(boolean) && !jv_truthy(v));
  if (!use_def) return v;
  return def ? def : jv_str(a, "", 0); /* Jinja's default_value is '' */
}

static jinja_value *need_str(jinja_value *v, const char *name, int line) {
  if (v->type != JV_STR) return jinja_fail(line, "filter '%s' needs a string, got %s", name, jv_type_name(v));
  return v;
}

jinja_value *jinja_filter(jinja_arena *a, const char *name, jinja_value *v, const jinja_args *args) {
  int line = args->line;
  if (!strcmp(name, "default") || !strcmp(name, "d")) return f_default(a, v, args);
  if (!strcmp(name, "length") || !strcmp(name, "count")) return f_length(a, v, args);
  if (!strcmp(name, "tojson")) return f_tojson(a, v, args);
  if (!strcmp(name, "string")) return to_string(a, v);
  if (!strcmp(name, "safe")) return v;
  if (!strcmp(name, "join")) return f_join(a, v, args);
  if (!strcmp(name, "first") || !strcmp(name, "last")) return f_end(a, v, args, name[0] == 'l');
  if (!strcmp(name, "int")) return f_int(a, v, args);
  if (!strcmp(name, "float")) return f_float(a, v, args);
  if (!strcmp(name, "list")) return as_list(a, v, line);
  if (!strcmp(name, "items")) {
    if (v->type != JV_DICT) return jinja_fail(line, "filter 'items' needs a dict, got %s", jv_type_name(v));
    return jinja_method(a, v, "items", args);
  }
  if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr")) return f_select(a, v, args, name[0] == 'r', 1);
  if (!strcmp(name, "select") || !strcmp(name, "reject")) return f_select(a, v, args, name[2] == 'j', 0);
  if (!strcmp(name, "sort")) return f_sort(a, v, args);
  if (!strcmp(name, "unique")) return f_unique(a, v, args);
  if (!strcmp(name, "map")) return f_map(a, v, args);
  if (!strcmp(name, "reverse")) return f_reverse(a, v, args);
  if (!strcmp(name, "abs")) {
    if (v->type == JV_INT && v->i == LLONG_MIN) return jinja_fail(line, "integer overflow in abs");
    if (v->type == JV_INT) return jv_int(a, v->i < 0 ? -v->i : v->i);
    if (v->type == JV_FLOAT) return jv_float(a, fabs(v->f));
    return jinja_fail(line, "filter 'abs' needs a number");
  }
  /* The rest are string filters: trim, upper, lower, title, capitalize,
   * replace, indent. All but indent take str(value) as Jinja's soft_str
   * does: `content | trim` of a null content is "None", not an error. */
  if (v->type == JV_UNDEF) v = jv_str(a, "", 0);
  else v = strcmp(name, "indent") ? to_string(a, v) : need_str(v, name, line);
  if (!v) return NULL;
  if (!strcmp(name, "trim")) return jinja_str_strip(a, v, jinja_arg(args, 0, "chars"), 1, 1);
  if (!strcmp(name, "upper")) return jinja_str_case(a, v, JCASE_UPPER);
  if (!strcmp(name, "lower")) return jinja_str_case(a, v, JCASE_LOWER);
  if (!strcmp(name, "title")) return jinja_str_case(a, v, JCASE_TITLE_FILTER);
  if (!strcmp(name, "capitalize")) return jinja_str_case(a, v, JCASE_CAPITALIZE);
  if (!strcmp(name, "replace")) return jinja_method(a, v, "replace", args);
  if (!strcmp(name, "indent")) return f_indent(a, v, args);
  return jinja_fail(line, "unknown filter '%s'", name);
}
