#ifndef DUET_JINJA_PARSER_H
#define DUET_JINJA_PARSER_H

/* Jinja parser: tokens -> syntax tree. Operator precedence is Jinja's
 * (lowest first): `x if c else y`, or, and, not, comparisons and `in`,
 * + -, ~, * / // %, **, unary - +, then postfix . [] () and filters/tests
 * (`|f`, `is t`), which bind tightest. The whole tree lives in the arena. */

#include "engine/jinja/lexer.h"

typedef enum {
  /* statements */
  JN_TEXT,     /* str */
  JN_OUTPUT,   /* {{ a }} */
  JN_IF,       /* if a: body, else: body2 (elif becomes a nested JN_IF in body2) */
  JN_FOR,      /* for names in a [if b]: body, else: body2 */
  JN_SET,      /* set target a = b, or block set when b is NULL (body) */
  JN_MACRO,    /* macro str(names = defaults in args) body */
  JN_BREAK,
  JN_CONTINUE,
  /* expressions */
  JN_LITERAL,  /* constant (value in lit) */
  JN_NAME,     /* variable str */
  JN_LIST,     /* [args] */
  JN_TUPLE,    /* (args) */
  JN_DICT,     /* {args[2i]: args[2i+1]} */
  JN_ATTR,     /* a.str */
  JN_ITEM,     /* a[b] */
  JN_SLICE,    /* a[b:c:d], missing parts NULL */
  JN_CALL,     /* a(args, kwnames=kwargs) */
  JN_FILTER,   /* a | str(args, kwnames=kwargs) */
  JN_TEST,     /* a is [not] str(args); op = 1 when negated */
  JN_BINOP,    /* a op b */
  JN_UNARY,    /* op a: "not", "-", "+" */
  JN_COND,     /* b if a else c */
} jinja_node_kind;

struct jinja_value;

typedef struct jinja_node jinja_node;
struct jinja_node {
  jinja_node_kind kind;
  int line;
  const char *str; /* name, text, operator, filter/test/macro name */
  size_t len;      /* length of str for JN_TEXT */
  int op;          /* JN_TEST: negated */
  struct jinja_value *lit;
  jinja_node *a, *b, *c, *d;
  jinja_node **args; /* arguments, list items, dict key/value pairs, macro defaults */
  int nargs;
  const char **names; /* for targets, set tuple targets, macro params, keyword names */
  int nnames;
  jinja_node **kwargs; /* keyword argument values (names[i]) */
  int nkwargs;
  jinja_node **body, **body2;
  int nbody, nbody2;
};

typedef struct {
  jinja_node **body;
  int nbody;
} jinja_program;

/* Parses the whole template. Syntax errors give DUET_EFORMAT naming the line
 * and what was expected; unknown statement tags are refused here. */
int jinja_parse(jinja_arena *a, const jinja_token *toks, int ntoks, jinja_program *out);

#endif
