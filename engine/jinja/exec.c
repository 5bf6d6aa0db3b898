#include "engine/jinja/interp.h"

#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/jinja/filters.h"

enum { MAX_CALL_DEPTH = 64, MAX_ARENA = 256 << 20 };

static int out_str(jinja_ctx *c, const jinja_value *v) {
  jv_write_str(c->out, v);
  if (c->out->oom) return duet_error(DUET_ENOMEM, "chat template: output too large or out of memory");
  return DUET_OK;
}

/* Runs body with c->out redirected, returning what it wrote as a string
 * (block set, macro calls). */
static jinja_value *capture(jinja_ctx *c, jinja_scope *s, jinja_node *const *body, int n) {
  jinja_buf b = {.limit = c->out->limit}, *saved = c->out;
  c->out = &b;
  int rc = jinja_exec(c, s, body, n);
  c->out = saved;
  if (rc < 0) {
    free(b.p);
    return NULL;
  }
  return jv_from_buf(c->a, &b);
}

/* Binds the loop targets: one name takes the item, several unpack it. */
static int bind(jinja_ctx *c, jinja_scope *s, const char *const *names, int n, jinja_value *item, int line) {
  if (n == 1) return jinja_scope_set(c->a, s, names[0], item);
  if (item->type != JV_LIST || item->n != n)
    return jinja_fail(line, "cannot unpack %s into %d names", jv_type_name(item), n), DUET_EINVAL;
  for (int k = 0; k < n; k++)
    if (jinja_scope_set(c->a, s, names[k], item->items[k]) < 0) return DUET_ENOMEM;
  return DUET_OK;
}

static int set_loop(jinja_ctx *c, jinja_scope *s, jinja_value *items, int i) {
  static const char *const keys[] = {"index", "index0", "revindex", "revindex0", "first", "last", "length",
                                     "previtem", "nextitem"};
  int n = items->n;
  jinja_value *vals[9] = {jv_int(c->a, i + 1), jv_int(c->a, i), jv_int(c->a, n - i), jv_int(c->a, n - i - 1),
                          jv_bool(i == 0), jv_bool(i == n - 1), jv_int(c->a, n),
                          i > 0 ? items->items[i - 1] : jv_undef(c->a, "previtem"),
                          i < n - 1 ? items->items[i + 1] : jv_undef(c->a, "nextitem")};
  jinja_value *loop = jv_new(c->a, JV_DICT);
  for (int k = 0; loop && k < 9; k++) {
    jinja_value *key = jv_str(c->a, keys[k], strlen(keys[k]));
    if (!key || !vals[k] || jv_dict_set(c->a, loop, key, vals[k]) < 0) loop = NULL;
  }
  if (!loop) return duet_error(DUET_ENOMEM, "chat template: out of memory");
  return jinja_scope_set(c->a, s, "loop", loop);
}

static int exec_for(jinja_ctx *c, jinja_scope *s, const jinja_node *n) {
  jinja_value *it = jinja_eval(c, s, n->a);
  if (!it) return DUET_EINVAL;
  if (it->type == JV_NONE || it->type == JV_INT || it->type == JV_FLOAT || it->type == JV_BOOL)
    return jinja_fail(n->line, "cannot loop over %s", jv_type_name(it)), DUET_EINVAL;
  jinja_value *all = it->type == JV_LIST ? it : jinja_filter(c->a, "list", it, &(jinja_args){.line = n->line});
  jinja_value *items = jv_new(c->a, JV_LIST);
  jinja_scope *ls = jinja_scope_new(c->a, s);
  if (!all || !items || !ls) return DUET_EINVAL;
  for (int k = 0; k < all->n; k++) { /* `for x in xs if cond`: filter first, so loop.length counts kept items */
    if (n->b) {
      if (bind(c, ls, n->names, n->nnames, all->items[k], n->line) < 0) return DUET_EINVAL;
      jinja_value *keep = jinja_eval(c, ls, n->b);
      if (!keep) return DUET_EINVAL;
      if (!jv_truthy(keep)) continue;
    }
    if (jv_push(c->a, items, all->items[k]) < 0) return DUET_ENOMEM;
  }
  for (int k = 0; k < items->n; k++) {
    if (c->a->total > MAX_ARENA) return duet_error(DUET_ENOMEM, "chat template: render used too much memory");
    if (set_loop(c, ls, items, k) < 0 || bind(c, ls, n->names, n->nnames, items->items[k], n->line) < 0)
      return DUET_EINVAL;
    int rc = jinja_exec(c, ls, n->body, n->nbody);
    if (rc < 0) return rc;
    int ctl = c->ctl;
    c->ctl = JCTL_NONE;
    if (ctl == JCTL_BREAK) break;
  }
  return items->n ? DUET_OK : jinja_exec(c, s, n->body2, n->nbody2);
}

static int exec_set(jinja_ctx *c, jinja_scope *s, const jinja_node *n) {
  jinja_value *v = n->a ? jinja_eval(c, s, n->a) : capture(c, s, n->body, n->nbody);
  if (!v) return DUET_EINVAL;
  if (n->str) { /* set ns.attr = v */
    jinja_value *ns = jinja_scope_get(s, n->names[0]);
    if (!ns || ns->type != JV_NS)
      return jinja_fail(n->line, "cannot set '%s.%s': '%s' is not a namespace", n->names[0], n->str, n->names[0]),
             DUET_EINVAL;
    jinja_value *key = jv_str(c->a, n->str, strlen(n->str));
    return key ? jv_dict_set(c->a, ns, key, v) : DUET_ENOMEM;
  }
  return bind(c, s, n->names, n->nnames, v, n->line);
}

jinja_value *jinja_call_macro(jinja_ctx *c, const jinja_value *m, const jinja_args *args) {
  const jinja_node *def = m->macro;
  if (c->depth >= MAX_CALL_DEPTH) return jinja_fail(args->line, "macro calls nested too deeply");
  /* every call allocates, so this also bounds the time of exponential recursion */
  if (c->a->total > MAX_ARENA) return jinja_fail(args->line, "render used too much memory (macro calls)");
  if (args->nargs > def->nnames) return jinja_fail(args->line, "macro '%s' takes %d arguments", def->str, def->nnames);
  jinja_scope *ms = jinja_scope_new(c->a, (jinja_scope *)m->closure);
  if (!ms) return NULL;
  for (int k = 0; k < def->nnames; k++) {
    jinja_value *v = jinja_arg(args, k < args->nargs ? k : -1, def->names[k]);
    if (!v) v = def->args[k] ? jinja_eval(c, ms, def->args[k]) : jv_undef(c->a, def->names[k]);
    if (!v || jinja_scope_set(c->a, ms, def->names[k], v) < 0) return NULL;
  }
  for (int k = 0; k < args->nkw; k++) {
    int known = 0;
    for (int j = 0; j < def->nnames; j++) known |= !strcmp(def->names[j], args->kwnames[k]);
    if (!known) return jinja_fail(args->line, "macro '%s' has no parameter '%s'", def->str, args->kwnames[k]);
  }
  c->depth++;
  int ctl = c->ctl;
  jinja_value *v = capture(c, ms, def->body, def->nbody);
  c->ctl = ctl;
  c->depth--;
  return v;
}

static int exec_one(jinja_ctx *c, jinja_scope *s, const jinja_node *n) {
  switch (n->kind) {
    case JN_TEXT:
      jinja_buf_put(c->out, n->str, n->len);
      return c->out->oom ? duet_error(DUET_ENOMEM, "chat template: output too large or out of memory") : DUET_OK;
    case JN_OUTPUT: {
      jinja_value *v = jinja_eval(c, s, n->a);
      return v ? out_str(c, v) : DUET_EINVAL;
    }
    case JN_IF: {
      jinja_value *v = jinja_eval(c, s, n->a);
      if (!v) return DUET_EINVAL;
      return jv_truthy(v) ? jinja_exec(c, s, n->body, n->nbody) : jinja_exec(c, s, n->body2, n->nbody2);
    }
    case JN_FOR: return exec_for(c, s, n);
    case JN_SET: return exec_set(c, s, n);
    case JN_MACRO: {
      jinja_value *m = jv_new(c->a, JV_MACRO);
      if (!m) return DUET_ENOMEM;
      m->macro = n;
      m->closure = s;
      return jinja_scope_set(c->a, s, n->str, m);
    }
    case JN_BREAK: c->ctl = JCTL_BREAK; return DUET_OK;
    case JN_CONTINUE: c->ctl = JCTL_CONTINUE; return DUET_OK;
    default: return jinja_fail(n->line, "expression used as a statement"), DUET_EINTERNAL;
  }
}

int jinja_exec(jinja_ctx *c, jinja_scope *s, jinja_node *const *body, int n) {
  for (int k = 0; k < n && c->ctl == JCTL_NONE; k++) {
    int rc = exec_one(c, s, body[k]);
    if (rc < 0) return rc;
  }
  return DUET_OK;
}
