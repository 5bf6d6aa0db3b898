#ifndef DUET_JINJA_LEXER_H
#define DUET_JINJA_LEXER_H

/* Jinja lexer: template text -> tokens. Whitespace handling follows what
 * Hugging Face applies to chat templates (trim_blocks and lstrip_blocks on,
 * one trailing newline dropped, `-` markers strip the adjacent whitespace),
 * the same preprocessing @huggingface/jinja does. Comments are dropped. */

#include <stddef.h>

#include "engine/jinja/arena.h"

typedef enum {
  JT_TEXT,        /* raw text between tags */
  JT_STRING,      /* 'string' or "string", escapes resolved */
  JT_INT,         /* 123 */
  JT_FLOAT,       /* 1.5 */
  JT_NAME,        /* identifier or keyword */
  JT_OP,          /* punctuation or operator: ( ) [ ] { } , . : | + - ~ * / // % ** = == != < > <= >= */
  JT_STMT_OPEN,   /* {% */
  JT_STMT_CLOSE,  /* %} */
  JT_EXPR_OPEN,   /* {{ */
  JT_EXPR_CLOSE,  /* }} */
  JT_EOF,
} jinja_tok_kind;

typedef struct {
  jinja_tok_kind kind;
  const char *s; /* text, string value, name or operator (arena, NUL-terminated) */
  size_t len;
  long long ival;
  double fval;
  int line; /* 1-based line in the original template, for errors */
} jinja_token;

/* Tokens go to *toks (arena memory), ending with JT_EOF. Returns DUET_OK or
 * DUET_EFORMAT with a message naming the line. */
int jinja_lex(jinja_arena *a, const char *src, size_t len, jinja_token **toks, int *n);

#endif
