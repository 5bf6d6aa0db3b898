#include "engine/jinja/parser.h"

#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/jinja/value.h"

typedef struct {
  jinja_arena *a;
  const jinja_token *t;
  int n, i;
  int depth; /* nesting, bounded so a hostile template cannot overflow the stack */
  int unsupported; /* the error was a tag this engine does not implement */
  int nodes;       /* nodes in the current tag: bounds the tree height that evaluation recurses through */
} parser;

enum { MAX_DEPTH = 100, MAX_TAG_NODES = 4000 };

/* Grows an arena array by copying: the old block stays in the arena. */
static int vpush(parser *p, void ***v, int *n, void *x) {
  if ((*n & (*n - 1)) == 0) { /* n is 0 or a power of two: full */
    int cap = *n ? *n * 2 : 4;
    void **nv = jinja_alloc(p->a, (size_t)cap * sizeof *nv);
    if (!nv) return duet_error(DUET_ENOMEM, "chat template: out of memory");
    if (*n) memcpy(nv, *v, (size_t)*n * sizeof *nv);
    *v = nv;
  }
  (*v)[(*n)++] = x;
  return DUET_OK;
}
#define PUSH(p, arr, cnt, x) vpush((p), (void ***)&(arr), &(cnt), (void *)(x))

static const jinja_token *cur(parser *p) { return &p->t[p->i < p->n ? p->i : p->n - 1]; }
static const jinja_token *peek(parser *p, int k) { return &p->t[p->i + k < p->n ? p->i + k : p->n - 1]; }
static int is_op(parser *p, const char *op) { return cur(p)->kind == JT_OP && !strcmp(cur(p)->s, op); }
static int is_name(parser *p, const char *w) { return cur(p)->kind == JT_NAME && !strcmp(cur(p)->s, w); }

static const char *tok_desc(const jinja_token *t) {
  switch (t->kind) {
    case JT_EOF: return "end of template";
    case JT_STMT_CLOSE: return "%}";
    case JT_EXPR_CLOSE: return "}}";
    case JT_STMT_OPEN: return "{%";
    case JT_EXPR_OPEN: return "{{";
    case JT_TEXT: return "text";
    default: return t->s;
  }
}

static int syntax(parser *p, const char *expected) {
  return duet_error(DUET_EFORMAT, "chat template line %d: expected %s, found '%s'", cur(p)->line, expected,
                    tok_desc(cur(p)));
}

static int expect_op(parser *p, const char *op) {
  if (!is_op(p, op)) return syntax(p, op);
  p->i++;
  return DUET_OK;
}

static int expect_kind(parser *p, jinja_tok_kind k, const char *what) {
  if (cur(p)->kind != k) return syntax(p, what);
  p->i++;
  return DUET_OK;
}

static jinja_node *node(parser *p, jinja_node_kind k) {
  if (++p->nodes > MAX_TAG_NODES) {
    duet_error(DUET_EFORMAT, "chat template line %d: expression too large", cur(p)->line);
    return NULL;
  }
  jinja_node *n = jinja_alloc(p->a, sizeof *n);
  if (!n) {
    duet_error(DUET_ENOMEM, "chat template: out of memory");
    return NULL;
  }
  n->kind = k;
  n->line = cur(p)->line;
  return n;
}

static jinja_node *parse_expression(parser *p);
static jinja_node *parse_or(parser *p);
static jinja_node *parse_unary(parser *p, int with_filter);

static jinja_node *binop(parser *p, const char *op, jinja_node *l, jinja_node *r) {
  if (!l || !r) return NULL;
  jinja_node *n = node(p, JN_BINOP);
  if (n) n->str = op, n->a = l, n->b = r;
  return n;
}

/* Call arguments after '(': positional, then name=value keywords. */
static int parse_args(parser *p, jinja_node *n) {
  while (!is_op(p, ")")) {
    if (cur(p)->kind == JT_NAME && peek(p, 1)->kind == JT_OP && !strcmp(peek(p, 1)->s, "=")) {
      const char *name = cur(p)->s;
      p->i += 2;
      jinja_node *v = parse_expression(p);
      if (!v || PUSH(p, n->names, n->nnames, name) < 0) return DUET_EFORMAT;
      n->nkwargs = n->nnames - 1;
      if (PUSH(p, n->kwargs, n->nkwargs, v) < 0) return DUET_EFORMAT;
    } else {
      if (n->nkwargs) return syntax(p, "keyword argument (positional after keyword)");
      jinja_node *v = parse_expression(p);
      if (!v || PUSH(p, n->args, n->nargs, v) < 0) return DUET_EFORMAT;
    }
    if (!is_op(p, ")") && expect_op(p, ",") < 0) return DUET_EFORMAT;
  }
  p->i++;
  return DUET_OK;
}

static jinja_node *literal(parser *p, jinja_value *v) {
  jinja_node *n = node(p, JN_LITERAL);
  if (n) n->lit = v;
  return n;
}

/* [a, b], (a, b) and {k: v}: comma lists up to the closing bracket. */
static jinja_node *parse_seq(parser *p, jinja_node_kind kind, const char *close) {
  jinja_node *n = node(p, kind);
  if (!n) return NULL;
  while (!is_op(p, close)) {
    jinja_node *v = parse_expression(p);
    if (!v || PUSH(p, n->args, n->nargs, v) < 0) return NULL;
    if (kind == JN_DICT) {
      if (expect_op(p, ":") < 0) return NULL;
      jinja_node *val = parse_expression(p);
      if (!val || PUSH(p, n->args, n->nargs, val) < 0) return NULL;
    }
    if (!is_op(p, close) && expect_op(p, ",") < 0) return NULL;
  }
  p->i++;
  return n;
}

static jinja_node *parse_paren(parser *p) {
  if (is_op(p, ")")) {
    p->i++;
    return node(p, JN_TUPLE);
  }
  jinja_node *e = parse_expression(p);
  if (!e) return NULL;
  if (is_op(p, ")")) {
    p->i++;
    return e;
  }
  jinja_node *t = node(p, JN_TUPLE);
  if (!t || PUSH(p, t->args, t->nargs, e) < 0) return NULL;
  while (is_op(p, ",")) {
    p->i++;
    if (is_op(p, ")")) break;
    if (!(e = parse_expression(p)) || PUSH(p, t->args, t->nargs, e) < 0) return NULL;
  }
  return expect_op(p, ")") < 0 ? NULL : t;
}

static jinja_node *parse_primary(parser *p) {
  const jinja_token *t = cur(p);
  if (t->kind == JT_NAME) {
    p->i++;
    if (!strcmp(t->s, "true") || !strcmp(t->s, "True")) return literal(p, &jinja_true);
    if (!strcmp(t->s, "false") || !strcmp(t->s, "False")) return literal(p, &jinja_false);
    if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) return literal(p, &jinja_none);
    jinja_node *n = node(p, JN_NAME);
    if (n) n->str = t->s;
    return n;
  }
  if (t->kind == JT_STRING) {
    /* Adjacent literals concatenate, as in Python. */
    jinja_buf b = {0};
    while (cur(p)->kind == JT_STRING) jinja_buf_put(&b, cur(p)->s, cur(p)->len), p->i++;
    jinja_value *v = b.oom ? NULL : jv_str(p->a, b.p ? b.p : "", b.n);
    free(b.p);
    if (!v) return duet_error(DUET_ENOMEM, "chat template: out of memory"), NULL;
    return literal(p, v);
  }
  if (t->kind == JT_INT || t->kind == JT_FLOAT) {
    p->i++;
    jinja_value *v = t->kind == JT_INT ? jv_int(p->a, t->ival) : jv_float(p->a, t->fval);
    return v ? literal(p, v) : NULL;
  }
  if (is_op(p, "(")) return p->i++, parse_paren(p);
  if (is_op(p, "[")) return p->i++, parse_seq(p, JN_LIST, "]");
  if (is_op(p, "{")) return p->i++, parse_seq(p, JN_DICT, "}");
  syntax(p, "an expression");
  return NULL;
}

/* a[...]: an index or a slice start:stop:step with any part left out. */
static jinja_node *parse_subscript(parser *p, jinja_node *obj) {
  jinja_node *parts[3] = {0};
  int k = 0;
  int is_slice = 0;
  while (!is_op(p, "]")) {
    if (is_op(p, ":")) {
      if (++k > 2) return syntax(p, "]"), NULL;
      is_slice = 1;
      p->i++;
      continue;
    }
    if (parts[k]) return syntax(p, ": or ]"), NULL;
    if (!(parts[k] = parse_expression(p))) return NULL;
  }
  p->i++;
  jinja_node *n = node(p, is_slice ? JN_SLICE : JN_ITEM);
  if (!n) return NULL;
  if (!is_slice && !parts[0]) return syntax(p, "an index"), NULL;
  n->a = obj, n->b = parts[0], n->c = parts[1], n->d = parts[2];
  return n;
}

static jinja_node *parse_postfix(parser *p, jinja_node *n) {
  while (n) {
    if (is_op(p, ".")) {
      p->i++;
      const jinja_token *t = cur(p);
      if (t->kind == JT_INT) { /* a.0 is a[0] */
        jinja_node *idx = literal(p, jv_int(p->a, t->ival));
        p->i++;
        jinja_node *m = node(p, JN_ITEM);
        if (!m || !idx) return NULL;
        m->a = n, m->b = idx, n = m;
        continue;
      }
      if (t->kind != JT_NAME) return syntax(p, "an attribute name"), NULL;
      jinja_node *m = node(p, JN_ATTR);
      if (!m) return NULL;
      m->a = n, m->str = t->s, n = m;
      p->i++;
    } else if (is_op(p, "[")) {
      p->i++;
      n = parse_subscript(p, n);
    } else if (is_op(p, "(")) {
      p->i++;
      jinja_node *m = node(p, JN_CALL);
      if (!m || parse_args(p, m) < 0) return NULL;
      m->a = n, n = m;
    } else {
      break;
    }
  }
  return n;
}

static int starts_test_arg(parser *p) {
  const jinja_token *t = cur(p);
  if (t->kind == JT_STRING || t->kind == JT_INT || t->kind == JT_FLOAT) return 1;
  if (t->kind == JT_OP) return !strcmp(t->s, "[") || !strcmp(t->s, "{");
  if (t->kind != JT_NAME) return 0;
  static const char *const stop[] = {"else", "or", "and", "if", "not", "in", "is", NULL};
  for (int k = 0; stop[k]; k++)
    if (!strcmp(t->s, stop[k])) return 0;
  return 1;
}

/* `| filter(args)` and `is [not] test(args)` chains. */
static jinja_node *parse_filters(parser *p, jinja_node *n) {
  while (n) {
    int is_filter = is_op(p, "|");
    if (!is_filter && !is_name(p, "is")) break;
    p->i++;
    jinja_node *m = node(p, is_filter ? JN_FILTER : JN_TEST);
    if (!m) return NULL;
    if (!is_filter && is_name(p, "not")) m->op = 1, p->i++;
    if (cur(p)->kind != JT_NAME) return syntax(p, is_filter ? "a filter name" : "a test name"), NULL;
    m->str = cur(p)->s;
    m->a = n;
    p->i++;
    if (is_op(p, "(")) {
      p->i++;
      if (parse_args(p, m) < 0) return NULL;
    } else if (!is_filter && starts_test_arg(p)) {
      jinja_node *arg = parse_unary(p, 0);
      if (!arg || PUSH(p, m->args, m->nargs, arg) < 0) return NULL;
    }
    n = m;
  }
  return n;
}

static jinja_node *parse_unary(parser *p, int with_filter) {
  if (++p->depth > MAX_DEPTH) {
    duet_error(DUET_EFORMAT, "chat template line %d: expression nested too deeply", cur(p)->line);
    return NULL;
  }
  jinja_node *n;
  if (is_op(p, "-") || is_op(p, "+")) {
    n = node(p, JN_UNARY);
    if (!n) return NULL;
    n->str = cur(p)->s;
    p->i++;
    if (!(n->a = parse_unary(p, 0))) return NULL;
  } else {
    n = parse_postfix(p, parse_primary(p));
  }
  if (with_filter) n = parse_filters(p, n);
  p->depth--;
  return n;
}

/* One precedence level of left-associative binary operators. */
static jinja_node *parse_level(parser *p, int level);
static const char *const LEVEL_OPS[][5] = {
    {"+", "-", NULL}, {"~", NULL}, {"*", "/", "//", "%", NULL}, {"**", NULL}};

static jinja_node *parse_level(parser *p, int level) {
  if (level == 4) return parse_unary(p, 1);
  jinja_node *l = parse_level(p, level + 1);
  for (;;) {
    const char *op = NULL;
    for (int k = 0; LEVEL_OPS[level][k]; k++)
      if (is_op(p, LEVEL_OPS[level][k])) op = LEVEL_OPS[level][k];
    if (!op || !l) return l;
    p->i++;
    l = binop(p, op, l, parse_level(p, level + 1));
  }
}

static jinja_node *parse_compare(parser *p) {
  jinja_node *l = parse_level(p, 0);
  static const char *const cmp[] = {"==", "!=", "<", ">", "<=", ">=", NULL};
  while (l) {
    const char *op = NULL;
    for (int k = 0; cmp[k]; k++)
      if (is_op(p, cmp[k])) op = cmp[k];
    if (!op && is_name(p, "in")) op = "in";
    if (!op && is_name(p, "not") && peek(p, 1)->kind == JT_NAME && !strcmp(peek(p, 1)->s, "in")) {
      op = "not in";
      p->i++;
    }
    if (!op) break;
    p->i++;
    l = binop(p, op, l, parse_level(p, 0));
  }
  return l;
}

static jinja_node *parse_not(parser *p) {
  if (!is_name(p, "not")) return parse_compare(p);
  jinja_node *n = node(p, JN_UNARY);
  if (!n) return NULL;
  p->i++;
  n->str = "not";
  n->a = parse_not(p);
  return n->a ? n : NULL;
}

static jinja_node *parse_and(parser *p) {
  jinja_node *l = parse_not(p);
  while (l && is_name(p, "and")) p->i++, l = binop(p, "and", l, parse_not(p));
  return l;
}

static jinja_node *parse_or(parser *p) {
  jinja_node *l = parse_and(p);
  while (l && is_name(p, "or")) p->i++, l = binop(p, "or", l, parse_and(p));
  return l;
}

static jinja_node *parse_expression(parser *p) {
  jinja_node *e = parse_or(p);
  while (e && is_name(p, "if")) {
    p->i++;
    jinja_node *n = node(p, JN_COND);
    if (!n || !(n->a = parse_or(p))) return NULL;
    n->b = e;
    if (is_name(p, "else")) {
      p->i++;
      if (!(n->c = parse_expression(p))) return NULL;
    }
    e = n;
  }
  return e;
}


/* ---- statements ---- */

static int parse_block(parser *p, const char *const *stops, jinja_node ***body, int *nbody);

static int expect_close(parser *p) { return expect_kind(p, JT_STMT_CLOSE, "%}"); }

/* At "{% name": consumes "{% name %}" when name is the expected end tag. */
static int expect_end(parser *p, const char *name) {
  p->i++; /* {% */
  if (!is_name(p, name)) return syntax(p, name);
  p->i++;
  return expect_close(p);
}

static jinja_node *parse_if(parser *p) {
  static const char *const stops[] = {"elif", "else", "endif", NULL};
  jinja_node *n = node(p, JN_IF);
  p->i++; /* if / elif */
  if (!n || !(n->a = parse_expression(p)) || expect_close(p) < 0) return NULL;
  if (parse_block(p, stops, &n->body, &n->nbody) < 0) return NULL;
  const char *w = peek(p, 1)->s;
  if (!strcmp(w, "elif")) {
    p->i++;
    jinja_node *e = parse_if(p);
    if (!e || PUSH(p, n->body2, n->nbody2, e) < 0) return NULL;
    return n;
  }
  if (!strcmp(w, "else")) {
    static const char *const end[] = {"endif", NULL};
    p->i += 2;
    if (expect_close(p) < 0 || parse_block(p, end, &n->body2, &n->nbody2) < 0) return NULL;
  }
  return expect_end(p, "endif") < 0 ? NULL : n;
}

static jinja_node *parse_for(parser *p) {
  static const char *const stops[] = {"else", "endfor", NULL};
  static const char *const end[] = {"endfor", NULL};
  jinja_node *n = node(p, JN_FOR);
  if (!n) return NULL;
  p->i++;
  do {
    if (cur(p)->kind != JT_NAME) return syntax(p, "a loop variable"), NULL;
    if (PUSH(p, n->names, n->nnames, cur(p)->s) < 0) return NULL;
    p->i++;
  } while (is_op(p, ",") && ++p->i);
  if (!is_name(p, "in")) return syntax(p, "in"), NULL;
  p->i++;
  if (!(n->a = parse_or(p))) return NULL;
  if (is_name(p, "if")) {
    p->i++;
    if (!(n->b = parse_expression(p))) return NULL;
  }
  if (is_name(p, "recursive")) {
    p->unsupported = 1;
    duet_error(DUET_EUNSUPPORTED, "chat template line %d: recursive loops are not supported", cur(p)->line);
    return NULL;
  }
  if (expect_close(p) < 0 || parse_block(p, stops, &n->body, &n->nbody) < 0) return NULL;
  if (!strcmp(peek(p, 1)->s, "else")) {
    p->i += 2;
    if (expect_close(p) < 0 || parse_block(p, end, &n->body2, &n->nbody2) < 0) return NULL;
  }
  return expect_end(p, "endfor") < 0 ? NULL : n;
}

/* set x = e | set ns.attr = e | set a, b = e | set x %}...{% endset */
static jinja_node *parse_set(parser *p) {
  static const char *const end[] = {"endset", NULL};
  jinja_node *n = node(p, JN_SET);
  if (!n) return NULL;
  p->i++;
  do {
    if (cur(p)->kind != JT_NAME) return syntax(p, "a variable name"), NULL;
    if (PUSH(p, n->names, n->nnames, cur(p)->s) < 0) return NULL;
    p->i++;
  } while (is_op(p, ",") && ++p->i);
  if (n->nnames == 1 && is_op(p, ".")) {
    p->i++;
    if (cur(p)->kind != JT_NAME) return syntax(p, "an attribute name"), NULL;
    n->str = cur(p)->s;
    p->i++;
  }
  if (is_op(p, "=")) {
    p->i++;
    if (!(n->a = parse_expression(p))) return NULL;
    return expect_close(p) < 0 ? NULL : n;
  }
  if (n->nnames != 1 || n->str) return syntax(p, "="), NULL;
  if (expect_close(p) < 0 || parse_block(p, end, &n->body, &n->nbody) < 0) return NULL;
  return expect_end(p, "endset") < 0 ? NULL : n;
}

static jinja_node *parse_macro(parser *p) {
  static const char *const end[] = {"endmacro", NULL};
  jinja_node *n = node(p, JN_MACRO);
  if (!n) return NULL;
  p->i++;
  if (cur(p)->kind != JT_NAME) return syntax(p, "a macro name"), NULL;
  n->str = cur(p)->s;
  p->i++;
  if (expect_op(p, "(") < 0) return NULL;
  while (!is_op(p, ")")) {
    if (cur(p)->kind != JT_NAME) return syntax(p, "a parameter name"), NULL;
    if (PUSH(p, n->names, n->nnames, cur(p)->s) < 0) return NULL;
    p->i++;
    jinja_node *def = NULL;
    if (is_op(p, "=")) {
      p->i++;
      if (!(def = parse_expression(p))) return NULL;
    }
    if (PUSH(p, n->args, n->nargs, def) < 0) return NULL;
    if (!is_op(p, ")") && expect_op(p, ",") < 0) return NULL;
  }
  p->i++;
  if (expect_close(p) < 0 || parse_block(p, end, &n->body, &n->nbody) < 0) return NULL;
  return expect_end(p, "endmacro") < 0 ? NULL : n;
}

/* transformers' {% generation %}...{% endgeneration %} marks the assistant
 * text for training masks; rendering just renders its body (an if true). */
static jinja_node *parse_generation(parser *p) {
  static const char *const end[] = {"endgeneration", NULL};
  jinja_node *n = node(p, JN_IF);
  p->i++;
  if (!n || !(n->a = literal(p, &jinja_true)) || expect_close(p) < 0) return NULL;
  if (parse_block(p, end, &n->body, &n->nbody) < 0) return NULL;
  return expect_end(p, "endgeneration") < 0 ? NULL : n;
}

static jinja_node *parse_statement(parser *p) {
  p->i++; /* {% */
  if (cur(p)->kind != JT_NAME) return syntax(p, "a statement name"), NULL;
  const char *w = cur(p)->s;
  if (!strcmp(w, "if")) return parse_if(p);
  if (!strcmp(w, "for")) return parse_for(p);
  if (!strcmp(w, "set")) return parse_set(p);
  if (!strcmp(w, "macro")) return parse_macro(p);
  if (!strcmp(w, "generation")) return parse_generation(p);
  if (!strcmp(w, "break") || !strcmp(w, "continue")) {
    jinja_node *n = node(p, w[0] == 'b' ? JN_BREAK : JN_CONTINUE);
    p->i++;
    return !n || expect_close(p) < 0 ? NULL : n;
  }
  static const char *const closers[] = {"elif", "else", "endif", "endfor", "endset", "endmacro", "endgeneration", NULL};
  for (int k = 0; closers[k]; k++)
    if (!strcmp(w, closers[k])) {
      duet_error(DUET_EFORMAT, "chat template line %d: unexpected '{%% %s %%}'", cur(p)->line, w);
      return NULL;
    }
  p->unsupported = 1;
  duet_error(DUET_EUNSUPPORTED, "chat template line %d: unsupported tag '{%% %s %%}'", cur(p)->line, w);
  return NULL;
}

/* Statements up to a "{% stop %}" tag (left unconsumed) or the end. */
static int parse_block(parser *p, const char *const *stops, jinja_node ***body, int *nbody) {
  if (++p->depth > MAX_DEPTH)
    return duet_error(DUET_EFORMAT, "chat template line %d: blocks nested too deeply", cur(p)->line);
  for (;;) {
    const jinja_token *t = cur(p);
    jinja_node *n = NULL;
    if (t->kind == JT_EOF) {
      if (!stops) break;
      const char *last = stops[0];
      for (int k = 0; stops[k]; k++) last = stops[k];
      return duet_error(DUET_EFORMAT, "chat template: missing {%% %s %%} (template ended inside a block)", last);
    }
    if (t->kind == JT_STMT_OPEN && peek(p, 1)->kind == JT_NAME && stops) {
      int stop = 0;
      for (int k = 0; stops[k]; k++) stop |= !strcmp(peek(p, 1)->s, stops[k]);
      if (stop) break;
    }
    p->nodes = 0;
    if (t->kind == JT_TEXT) {
      if ((n = node(p, JN_TEXT))) n->str = t->s, n->len = t->len;
      p->i++;
    } else if (t->kind == JT_EXPR_OPEN) {
      p->i++;
      if ((n = node(p, JN_OUTPUT)) && (!(n->a = parse_expression(p)) || expect_kind(p, JT_EXPR_CLOSE, "}}") < 0))
        n = NULL;
    } else if (t->kind == JT_STMT_OPEN) {
      n = parse_statement(p);
    } else {
      return syntax(p, "text, {{ or {%");
    }
    if (!n || PUSH(p, *body, *nbody, n) < 0) return DUET_EFORMAT;
  }
  p->depth--;
  return DUET_OK;
}

int jinja_parse(jinja_arena *a, const jinja_token *toks, int ntoks, jinja_program *out) {
  parser p = {.a = a, .t = toks, .n = ntoks};
  memset(out, 0, sizeof *out);
  int rc = parse_block(&p, NULL, &out->body, &out->nbody);
  if (rc < 0) {
    /* keep the detailed message; normalise the code */
    return rc == DUET_ENOMEM ? rc : p.unsupported ? DUET_EUNSUPPORTED : DUET_EFORMAT;
  }
  return DUET_OK;
}
