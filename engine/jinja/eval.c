#include "engine/jinja/interp.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/error.h"
#include "engine/jinja/filters.h"
#include "engine/jinja/methods.h"
#include "engine/jinja/tests.h"
#include "engine/tokenizer/utf8.h"

const char *const jinja_function_names[JFN_COUNT] = {"raise_exception", "range", "namespace", "strftime_now",
                                                     "dict"};

enum { MAX_RANGE = 1 << 20, MAX_REPEAT = 1 << 24 };

jinja_scope *jinja_scope_new(jinja_arena *a, jinja_scope *parent) {
  jinja_scope *s = jinja_alloc(a, sizeof *s);
  if (s) s->parent = parent;
  return s;
}

jinja_value *jinja_scope_get(const jinja_scope *s, const char *name) {
  for (; s; s = s->parent)
    for (int k = s->n - 1; k >= 0; k--)
      if (!strcmp(s->names[k], name)) return s->vals[k];
  return NULL;
}

int jinja_scope_set(jinja_arena *a, jinja_scope *s, const char *name, jinja_value *v) {
  for (int k = 0; k < s->n; k++)
    if (!strcmp(s->names[k], name)) return s->vals[k] = v, DUET_OK;
  if (s->n == s->cap) {
    int cap = s->cap ? s->cap * 2 : 8;
    const char **names = jinja_alloc(a, (size_t)cap * sizeof *names);
    jinja_value **vals = jinja_alloc(a, (size_t)cap * sizeof *vals);
    if (!names || !vals) return duet_error(DUET_ENOMEM, "chat template: out of memory");
    if (s->n) memcpy(names, s->names, (size_t)s->n * sizeof *names), memcpy(vals, s->vals, (size_t)s->n * sizeof *vals);
    s->names = names, s->vals = vals, s->cap = cap;
  }
  s->names[s->n] = name;
  s->vals[s->n++] = v;
  return DUET_OK;
}

static int is_num(const jinja_value *v) { return v->type == JV_INT || v->type == JV_FLOAT || v->type == JV_BOOL; }
static double num(const jinja_value *v) { return v->type == JV_FLOAT ? v->f : (double)v->i; }

static jinja_value *concat(jinja_arena *a, const jinja_value *l, const jinja_value *r) {
  jinja_buf b = {0};
  jv_write_str(&b, l);
  jv_write_str(&b, r);
  return jv_from_buf(a, &b);
}

static jinja_value *repeat(jinja_arena *a, const jinja_value *s, long long times, int line) {
  if (times <= 0 || s->len == 0) return jv_str(a, "", 0); /* "" * 2**62 would loop for ages */
  size_t total; /* checked: 'abcd' * 2**62 wraps to 0 bytes */
  if (__builtin_mul_overflow((size_t)times, s->len, &total) || total > MAX_REPEAT)
    return jinja_fail(line, "string repetition too large");
  char *p = jinja_alloc(a, total + 1);
  if (!p) return NULL;
  for (long long k = 0; k < times; k++) memcpy(p + (size_t)k * s->len, s->s, s->len);
  jinja_value *v = jv_new(a, JV_STR);
  if (v) v->s = p, v->len = total;
  return v;
}

static jinja_value *int_arith(jinja_arena *a, const char *op, long long x, long long y, int line) {
  long long r;
  int ovf = 0;
  switch (op[0]) {
    case '+': ovf = __builtin_add_overflow(x, y, &r); break;
    case '-': ovf = __builtin_sub_overflow(x, y, &r); break;
    case '*':
      if (op[1] == '*') {
        if (y < 0) return jv_float(a, pow((double)x, (double)y));
        r = 1; /* square-and-multiply: y may be huge when x is 0 or +-1 */
        for (long long base = x; y > 0 && !ovf; y >>= 1) {
          if (y & 1) ovf = __builtin_mul_overflow(r, base, &r);
          if (y > 1 && !ovf) ovf = __builtin_mul_overflow(base, base, &base);
        }
      } else {
        ovf = __builtin_mul_overflow(x, y, &r);
      }
      break;
    default: /* // and %, Python's floor semantics */
      if (y == 0) return jinja_fail(line, "integer division or modulo by zero");
      if (x == LLONG_MIN && y == -1) return jinja_fail(line, "integer overflow");
      r = op[0] == '%' ? x % y : x / y;
      if (op[0] == '%' && r != 0 && ((r < 0) != (y < 0))) r += y;
      if (op[0] == '/' && (x % y != 0) && ((x < 0) != (y < 0))) r -= 1;
  }
  return ovf ? jinja_fail(line, "integer overflow") : jv_int(a, r);
}

static jinja_value *arith(jinja_arena *a, const char *op, const jinja_value *l, const jinja_value *r, int line) {
  if (op[0] == '~') return concat(a, l, r);
  if (!strcmp(op, "+") && l->type == JV_STR && r->type == JV_STR) return concat(a, l, r);
  if (!strcmp(op, "+") && l->type == JV_LIST && r->type == JV_LIST) {
    jinja_value *out = jv_new(a, JV_LIST);
    for (int k = 0; out && k < l->n + r->n; k++)
      if (jv_push(a, out, k < l->n ? l->items[k] : r->items[k - l->n]) < 0) return NULL;
    return out;
  }
  if (!strcmp(op, "*") && l->type == JV_STR && r->type == JV_INT) return repeat(a, l, r->i, line);
  if (!strcmp(op, "*") && r->type == JV_STR && l->type == JV_INT) return repeat(a, r, l->i, line);
  if (!is_num(l) || !is_num(r))
    return jinja_fail(line, "unsupported operand types for %s: %s and %s", op, jv_type_name(l), jv_type_name(r));
  if (l->type != JV_FLOAT && r->type != JV_FLOAT && strcmp(op, "/")) return int_arith(a, op, l->i, r->i, line);
  double x = num(l), y = num(r);
  if ((op[0] == '/' || op[0] == '%') && y == 0) return jinja_fail(line, "float division by zero");
  switch (op[0]) {
    case '+': return jv_float(a, x + y);
    case '-': return jv_float(a, x - y);
    case '*': return jv_float(a, op[1] == '*' ? pow(x, y) : x * y);
    case '%': return jv_float(a, x - y * floor(x / y));
    default: return jv_float(a, op[1] == '/' ? floor(x / y) : x / y);
  }
}

static jinja_value *compare(const char *op, const jinja_value *l, const jinja_value *r, int line) {
  int c;
  if (is_num(l) && is_num(r)) {
    double x = num(l), y = num(r);
    c = x < y ? -1 : x > y;
  } else if (l->type == JV_STR && r->type == JV_STR) {
    size_t m = l->len < r->len ? l->len : r->len;
    c = memcmp(l->s, r->s, m);
    if (!c) c = l->len < r->len ? -1 : l->len > r->len;
  } else {
    return jinja_fail(line, "cannot compare %s %s %s", jv_type_name(l), op, jv_type_name(r));
  }
  if (!strcmp(op, "<")) return jv_bool(c < 0);
  if (!strcmp(op, ">")) return jv_bool(c > 0);
  if (!strcmp(op, "<=")) return jv_bool(c <= 0);
  return jv_bool(c >= 0);
}

static jinja_value *eval_binop(jinja_ctx *c, jinja_scope *s, const jinja_node *n) {
  jinja_value *l = jinja_eval(c, s, n->a);
  if (!l) return NULL;
  const char *op = n->str;
  if (!strcmp(op, "and")) return jv_truthy(l) ? jinja_eval(c, s, n->b) : l;
  if (!strcmp(op, "or")) return jv_truthy(l) ? l : jinja_eval(c, s, n->b);
  jinja_value *r = jinja_eval(c, s, n->b);
  if (!r) return NULL;
  if (!strcmp(op, "==")) return jv_bool(jv_equal(l, r));
  if (!strcmp(op, "!=")) return jv_bool(!jv_equal(l, r));
  if (!strcmp(op, "in") || !strcmp(op, "not in")) {
    if (r->type != JV_STR && r->type != JV_LIST && r->type != JV_DICT && r->type != JV_UNDEF)
      return jinja_fail(n->line, "'in' needs a string, list or dict on the right, got %s", jv_type_name(r));
    if (r->type == JV_STR && l->type != JV_STR)
      return jinja_fail(n->line, "'in <string>' needs a string on the left, got %s", jv_type_name(l));
    int found = jinja_test("in", l, &(jinja_args){.args = &r, .nargs = 1, .line = n->line});
    return jv_bool(op[0] == 'i' ? found : !found);
  }
  if (op[0] == '<' || op[0] == '>') return compare(op, l, r, n->line);
  if (l->type == JV_UNDEF && op[0] != '~') return jinja_fail(n->line, "'%s' is undefined", l->s ? l->s : "value");
  if (r->type == JV_UNDEF && op[0] != '~') return jinja_fail(n->line, "'%s' is undefined", r->s ? r->s : "value");
  return arith(c->a, op, l, r, n->line);
}

static jinja_value *eval_unary(jinja_ctx *c, jinja_scope *s, const jinja_node *n) {
  jinja_value *v = jinja_eval(c, s, n->a);
  if (!v) return NULL;
  if (n->str[0] == 'n') return jv_bool(!jv_truthy(v));
  if (!is_num(v)) return jinja_fail(n->line, "bad operand type for unary %s: %s", n->str, jv_type_name(v));
  if (n->str[0] == '+') return v;
  return v->type == JV_FLOAT ? jv_float(c->a, -v->f) : int_arith(c->a, "-", 0, v->i, n->line);
}

/* Python indexing: negative counts from the end; out of range -> undefined. */
static jinja_value *index_value(jinja_arena *a, jinja_value *obj, jinja_value *key, int line) {
  if (obj->type == JV_DICT || obj->type == JV_NS) {
    jinja_value *v = key->type == JV_STR ? jv_dict_get(obj, key->s, key->len) : NULL;
    return v ? v : jv_undef(a, key->type == JV_STR ? key->s : "key");
  }
  if (obj->type == JV_UNDEF) return jinja_fail(line, "'%s' is undefined", obj->s ? obj->s : "value");
  if (key->type != JV_INT && key->type != JV_BOOL)
    return obj->type == JV_NONE ? jinja_fail(line, "None has no item %s", jv_type_name(key)) : jv_undef(a, "item");
  if (obj->type == JV_LIST) {
    long long i = key->i < 0 ? key->i + obj->n : key->i;
    return i >= 0 && i < obj->n ? obj->items[i] : jv_undef(a, "list item");
  }
  if (obj->type == JV_STR) {
    long long cps = (long long)duet_utf8_count(obj->s, obj->len), i = key->i < 0 ? key->i + cps : key->i, at = -1;
    if (i < 0 || i >= cps) return jv_undef(a, "string index");
    size_t p = 0, q;
    for (; p < obj->len; p++)
      if (((unsigned char)obj->s[p] & 0xC0) != 0x80 && ++at == i) break;
    for (q = p + 1; q < obj->len && ((unsigned char)obj->s[q] & 0xC0) == 0x80; q++) {
    }
    return jv_str(a, obj->s + p, q - p);
  }
  return jinja_fail(line, "%s is not subscriptable", jv_type_name(obj));
}

static int slice_bound(const jinja_value *v, long long len, long long def, long long step, long long *out, int line) {
  if (!v || v->type == JV_NONE) return *out = def, DUET_OK;
  if (v->type != JV_INT) return jinja_fail(line, "slice indices must be integers"), DUET_EINVAL;
  long long i = v->i < 0 ? v->i + len : v->i;
  long long lo = step < 0 ? -1 : 0, hi = step < 0 ? len - 1 : len;
  *out = i < lo ? lo : i > hi ? hi : i;
  return DUET_OK;
}

static jinja_value *eval_slice(jinja_ctx *c, jinja_scope *s, const jinja_node *n) {
  jinja_value *obj = jinja_eval(c, s, n->a), *parts[3] = {0};
  if (!obj) return NULL;
  const jinja_node *pn[3] = {n->b, n->c, n->d};
  for (int k = 0; k < 3; k++)
    if (pn[k] && !(parts[k] = jinja_eval(c, s, pn[k]))) return NULL;
  long long step = parts[2] && parts[2]->type == JV_INT ? parts[2]->i : 1, start, stop;
  if (step == 0) return jinja_fail(n->line, "slice step cannot be zero");
  jinja_value *list = obj;
  if (obj->type == JV_STR) list = jinja_filter(c->a, "list", obj, &(jinja_args){.line = n->line});
  else if (obj->type != JV_LIST) return jinja_fail(n->line, "cannot slice %s", jv_type_name(obj));
  if (!list) return NULL;
  long long len = list->n;
  if (slice_bound(parts[0], len, step < 0 ? len - 1 : 0, step, &start, n->line) < 0 ||
      slice_bound(parts[1], len, step < 0 ? -1 : len, step, &stop, n->line) < 0)
    return NULL;
  jinja_value *out = jv_new(c->a, JV_LIST);
  for (long long i = start; out && (step > 0 ? i < stop : i > stop);) {
    if (jv_push(c->a, out, list->items[i]) < 0) return NULL;
    if (__builtin_add_overflow(i, step, &i)) break; /* x[1::2**63-1]: past the end, not wrapped to items[-2**63] */
  }
  if (!out || obj->type != JV_STR) return out;
  return jinja_filter(c->a, "join", out, &(jinja_args){.line = n->line});
}

static jinja_value *eval_attr(jinja_ctx *c, jinja_scope *s, const jinja_node *n) {
  jinja_value *obj = jinja_eval(c, s, n->a);
  if (!obj) return NULL;
  if (obj->type == JV_UNDEF)
    return jinja_fail(n->line, "'%s' is undefined (reading .%s)", obj->s ? obj->s : "value", n->str);
  if (obj->type == JV_DICT || obj->type == JV_NS) {
    jinja_value *v = jv_dict_get(obj, n->str, strlen(n->str));
    if (v) return v;
  }
  return jv_undef(c->a, n->str);
}

/* Positional and keyword arguments of a call, filter or test node. */
static int eval_args(jinja_ctx *c, jinja_scope *s, const jinja_node *n, jinja_args *out) {
  memset(out, 0, sizeof *out);
  out->line = n->line;
  out->nargs = n->nargs;
  out->nkw = n->nkwargs;
  out->kwnames = n->names;
  out->args = jinja_alloc(c->a, (size_t)(n->nargs + n->nkwargs + 1) * sizeof(jinja_value *));
  if (!out->args) return DUET_ENOMEM;
  out->kwargs = out->args + n->nargs;
  for (int k = 0; k < n->nargs; k++)
    if (!(out->args[k] = jinja_eval(c, s, n->args[k]))) return DUET_EINVAL;
  for (int k = 0; k < n->nkwargs; k++)
    if (!(out->kwargs[k] = jinja_eval(c, s, n->kwargs[k]))) return DUET_EINVAL;
  return DUET_OK;
}

static jinja_value *fn_range(jinja_arena *a, const jinja_args *args) {
  long long v[3] = {0, 0, 1};
  if (args->nargs < 1 || args->nargs > 3) return jinja_fail(args->line, "range() takes 1 to 3 arguments");
  for (int k = 0; k < args->nargs; k++) {
    if (args->args[k]->type != JV_INT) return jinja_fail(args->line, "range() arguments must be integers");
    v[args->nargs == 1 ? 1 : k] = args->args[k]->i;
  }
  if (v[2] == 0) return jinja_fail(args->line, "range() step must not be zero");
  jinja_value *out = jv_new(a, JV_LIST);
  long long i = v[0];
  for (long long cnt = 0; out && (v[2] > 0 ? i < v[1] : i > v[1]); cnt++) {
    if (cnt >= MAX_RANGE) return jinja_fail(args->line, "range() too long");
    jinja_value *x = jv_int(a, i);
    if (!x || jv_push(a, out, x) < 0) return NULL;
    if (__builtin_add_overflow(i, v[2], &i)) break; /* past LLONG_MAX/MIN: past the stop too */
  }
  return out;
}

static jinja_value *fn_dict(jinja_arena *a, const jinja_args *args, jinja_value_type t) {
  jinja_value *d = jv_new(a, t);
  if (!d) return NULL;
  if (args->nargs > 1 || (args->nargs == 1 && args->args[0]->type != JV_DICT))
    return jinja_fail(args->line, "namespace()/dict() take keyword arguments or one dict");
  for (int k = 0; args->nargs && k < args->args[0]->n; k++)
    if (jv_dict_set(a, d, args->args[0]->keys[k], args->args[0]->items[k]) < 0) return NULL;
  for (int k = 0; k < args->nkw; k++) {
    jinja_value *key = jv_str(a, args->kwnames[k], strlen(args->kwnames[k]));
    if (!key || jv_dict_set(a, d, key, args->kwargs[k]) < 0) return NULL;
  }
  return d;
}

static jinja_value *call_function(jinja_arena *a, int fn, const jinja_args *args) {
  jinja_value *a0 = jinja_arg(args, 0, NULL);
  switch (fn) {
    case JFN_RAISE: {
      jinja_buf b = {0};
      if (a0) jv_write_str(&b, a0);
      duet_error(DUET_EINVAL, "chat template raised an exception: %s", b.p ? b.p : "");
      free(b.p);
      return NULL;
    }
    case JFN_RANGE: return fn_range(a, args);
    case JFN_NAMESPACE: return fn_dict(a, args, JV_NS);
    case JFN_DICT: return fn_dict(a, args, JV_DICT);
    default: { /* strftime_now(format): local time, as transformers does */
      if (!a0 || a0->type != JV_STR) return jinja_fail(args->line, "strftime_now() needs a format string");
      char buf[256];
      time_t now = time(NULL);
      struct tm tm;
      localtime_r(&now, &tm);
      size_t len = strftime(buf, sizeof buf, a0->s, &tm);
      return jv_str(a, buf, len);
    }
  }
}

static jinja_value *eval_call(jinja_ctx *c, jinja_scope *s, const jinja_node *n) {
  jinja_args args;
  jinja_value *obj = NULL;
  if (n->a->kind == JN_ATTR) { /* a method call: obj.name(...) */
    if (!(obj = jinja_eval(c, s, n->a->a))) return NULL;
  }
  if (eval_args(c, s, n, &args) < 0) return NULL;
  if (obj && (obj->type == JV_STR || obj->type == JV_DICT || obj->type == JV_UNDEF))
    return jinja_method(c->a, obj, n->a->str, &args);
  jinja_value *fn = jinja_eval(c, s, n->a);
  if (!fn) return NULL;
  if (fn->type == JV_FUNC) return call_function(c->a, fn->func, &args);
  if (fn->type == JV_MACRO) return jinja_call_macro(c, fn, &args);
  return jinja_fail(n->line, "%s is not callable", jv_type_name(fn));
}

static jinja_value *eval_seq(jinja_ctx *c, jinja_scope *s, const jinja_node *n) {
  jinja_value *out = jv_new(c->a, n->kind == JN_DICT ? JV_DICT : JV_LIST);
  for (int k = 0; out && k < n->nargs; k++) {
    jinja_value *v = jinja_eval(c, s, n->args[k]);
    if (!v) return NULL;
    if (n->kind != JN_DICT) {
      if (jv_push(c->a, out, v) < 0) return NULL;
      continue;
    }
    jinja_value *val = jinja_eval(c, s, n->args[++k]);
    if (!val) return NULL;
    if (v->type != JV_STR) return jinja_fail(n->line, "dict keys must be strings, got %s", jv_type_name(v));
    if (jv_dict_set(c->a, out, v, val) < 0) return NULL;
  }
  return out;
}

jinja_value *jinja_eval(jinja_ctx *c, jinja_scope *s, const jinja_node *n) {
  jinja_args args;
  switch (n->kind) {
    case JN_LITERAL: return n->lit;
    case JN_NAME: {
      jinja_value *v = jinja_scope_get(s, n->str);
      return v ? v : jv_undef(c->a, n->str);
    }
    case JN_LIST:
    case JN_TUPLE:
    case JN_DICT: return eval_seq(c, s, n);
    case JN_ATTR: return eval_attr(c, s, n);
    case JN_ITEM: {
      jinja_value *obj = jinja_eval(c, s, n->a), *key = obj ? jinja_eval(c, s, n->b) : NULL;
      return key ? index_value(c->a, obj, key, n->line) : NULL;
    }
    case JN_SLICE: return eval_slice(c, s, n);
    case JN_CALL: return eval_call(c, s, n);
    case JN_FILTER: {
      jinja_value *v = jinja_eval(c, s, n->a);
      if (!v || eval_args(c, s, n, &args) < 0) return NULL;
      return jinja_filter(c->a, n->str, v, &args);
    }
    case JN_TEST: {
      jinja_value *v = jinja_eval(c, s, n->a);
      if (!v || eval_args(c, s, n, &args) < 0) return NULL;
      int r = jinja_test(n->str, v, &args);
      return r < 0 ? NULL : jv_bool(n->op ? !r : r);
    }
    case JN_BINOP: return eval_binop(c, s, n);
    case JN_UNARY: return eval_unary(c, s, n);
    case JN_COND: {
      jinja_value *cond = jinja_eval(c, s, n->a);
      if (!cond) return NULL;
      if (jv_truthy(cond)) return jinja_eval(c, s, n->b);
      return n->c ? jinja_eval(c, s, n->c) : jv_undef(c->a, "conditional");
    }
    default: return jinja_fail(n->line, "statement used as an expression");
  }
}
