#include "engine/jinja/lexer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/jinja/value.h"

typedef struct {
  jinja_arena *a;
  const char *s; /* preprocessed source */
  size_t n, i;
  int line;
  jinja_token *toks;
  int ntok, cap;
  int curly; /* depth of { } inside an expression, so "}}" in a dict literal is not a close */
} lexer;

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_word(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Jinja reads \r\n and \r as \n everywhere (newline_sequence), in text
 * and string literals alike, before the rewrites below see the lines. */
static char *normalize_newlines(const char *src, size_t len, size_t *out_len) {
  char *out = malloc(len + 1);
  if (!out) return NULL;
  size_t m = 0;
  for (size_t i = 0; i < len; i++) {
    out[m++] = src[i] == '\r' ? '\n' : src[i];
    if (src[i] == '\r' && i + 1 < len && src[i + 1] == '\n') i++;
  }
  *out_len = m;
  return out;
}

/* The three rewrites Hugging Face applies before lexing: drop one trailing
 * newline; lstrip_blocks (spaces/tabs from a line start up to a block or
 * comment tag); trim_blocks (the newline right after a block/comment tag). */
static char *preprocess(jinja_arena *a, const char *raw, size_t raw_len, size_t *out_len) {
  size_t len;
  char *src = normalize_newlines(raw, raw_len, &len);
  if (!src) return NULL;
  if (len && src[len - 1] == '\n') len--;
  char *tmp = malloc(len + 1);
  if (!tmp) {
    free(src);
    return NULL;
  }
  size_t m = 0;
  for (size_t i = 0; i < len;) {
    if (i == 0 || src[i - 1] == '\n') {
      size_t j = i;
      while (j < len && (src[j] == ' ' || src[j] == '\t')) j++;
      if (j + 1 < len && src[j] == '{' && (src[j + 1] == '#' || src[j + 1] == '%')) i = j; /* not "{{" nor text */
    }
    tmp[m++] = src[i++];
  }
  free(src);
  char *out = jinja_alloc(a, m + 1);
  if (!out) {
    free(tmp);
    return NULL;
  }
  size_t k = 0;
  for (size_t i = 0; i < m; i++) {
    out[k++] = tmp[i];
    if (tmp[i] == '}' && i > 0 && (tmp[i - 1] == '#' || tmp[i - 1] == '%') && /* "%}", "#}": "-}" is text */
        i + 1 < m && tmp[i + 1] == '\n')
      i++;
  }
  out[k] = 0;
  free(tmp);
  *out_len = k;
  return out;
}

static jinja_token *push(lexer *L, jinja_tok_kind kind, const char *s, size_t len) {
  if (L->ntok == L->cap) {
    int cap = L->cap ? L->cap * 2 : 256;
    jinja_token *t = jinja_alloc(L->a, (size_t)cap * sizeof *t);
    if (!t) return NULL;
    if (L->ntok) memcpy(t, L->toks, (size_t)L->ntok * sizeof *t);
    L->toks = t;
    L->cap = cap;
  }
  jinja_token *t = &L->toks[L->ntok++];
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->s = jinja_strndup(L->a, s, len);
  t->len = len;
  t->line = L->line;
  return t->s ? t : NULL;
}

static void advance(lexer *L, size_t k) {
  for (size_t j = 0; j < k && L->i < L->n; j++)
    if (L->s[L->i++] == '\n') L->line++;
}

/* `{%-` / `{{-` / `{#-`: strip the whitespace that ends the previous text. */
static void strip_prev_text(lexer *L) {
  if (!L->ntok || L->toks[L->ntok - 1].kind != JT_TEXT) return;
  jinja_token *t = &L->toks[L->ntok - 1];
  while (t->len) { /* Unicode whitespace too, as Python's and JavaScript's \s */
    size_t st = t->len - 1;
    while (st && ((unsigned char)t->s[st] & 0xC0) == 0x80) st--;
    unsigned cp;
    int ok;
    size_t l = jinja_utf8_next(t->s, t->len, st, &cp, &ok);
    if (!ok || st + l != t->len || !jinja_is_space(cp)) break;
    t->len = st;
  }
  if (!t->len) L->ntok--;
}

static void skip_ws(lexer *L) {
  while (L->i < L->n) {
    unsigned cp;
    int ok;
    size_t len = jinja_utf8_next(L->s, L->n, L->i, &cp, &ok);
    if (!ok || !jinja_is_space(cp)) break;
    advance(L, len);
  }
}

static int hexval(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int lex_string(lexer *L) {
  char q = L->s[L->i];
  int line = L->line;
  advance(L, 1);
  size_t start = L->i, end = start;
  while (end < L->n && L->s[end] != q) end += (L->s[end] == '\\') ? 2 : 1;
  if (end >= L->n) return duet_error(DUET_EFORMAT, "chat template line %d: unterminated string", line);
  jinja_buf b = {0};
  for (size_t i = start; i < end; i++) {
    char c = L->s[i];
    if (c != '\\') {
      jinja_buf_put(&b, &c, 1);
      continue;
    }
    char e = L->s[++i];
    const char *map = "n\nt\tr\rb\bf\fv\v''\"\"\\\\";
    const char *m = NULL;
    for (const char *p = map; *p; p += 2)
      if (*p == e) m = p;
    if (m) {
      jinja_buf_put(&b, m + 1, 1);
    } else if (e == '\n') {
      /* A backslash before a line break continues the line, as Python's
       * unicode-escape decodes Jinja literals (Mistral Small 3.1's template
       * splits its long system prompt so). */
    } else if (e == 'x' || e == 'u') {
      int digits = e == 'x' ? 2 : 4;
      unsigned cp = 0;
      for (int d = 0; d < digits; d++) {
        int h = i + 1 < end ? hexval(L->s[++i]) : -1;
        if (h < 0) {
          free(b.p);
          return duet_error(DUET_EFORMAT, "chat template line %d: bad \\%c escape", line, e);
        }
        cp = cp * 16 + (unsigned)h;
      }
      jinja_buf_put_cp(&b, cp);
    } else {
      free(b.p);
      return duet_error(DUET_EFORMAT, "chat template line %d: unknown escape \\%c", line, e);
    }
  }
  if (b.oom) {
    free(b.p);
    return duet_error(DUET_ENOMEM, "chat template: out of memory");
  }
  jinja_token *t = push(L, JT_STRING, b.p ? b.p : "", b.n);
  free(b.p);
  if (!t) return DUET_ENOMEM;
  t->line = line;
  advance(L, end - L->i + 1);
  return DUET_OK;
}

static int lex_number(lexer *L) {
  size_t j = L->i;
  while (j < L->n && is_digit(L->s[j])) j++;
  int is_float = 0;
  int after_dot = L->ntok && L->toks[L->ntok - 1].kind == JT_OP && !strcmp(L->toks[L->ntok - 1].s, ".");
  if (!after_dot && j + 1 < L->n && L->s[j] == '.' && is_digit(L->s[j + 1])) {
    is_float = 1;
    j++;
    while (j < L->n && is_digit(L->s[j])) j++;
  }
  jinja_token *t = push(L, is_float ? JT_FLOAT : JT_INT, L->s + L->i, j - L->i);
  if (!t) return DUET_ENOMEM;
  errno = 0;
  if (is_float) t->fval = strtod(t->s, NULL);
  else t->ival = strtoll(t->s, NULL, 10);
  if (!is_float && errno == ERANGE) /* strtoll would quietly make it 2**63 - 1 */
    return duet_error(DUET_EUNSUPPORTED, "chat template line %d: integer %.40s does not fit in 64 bits", L->line,
                      t->s);
  advance(L, j - L->i);
  return DUET_OK;
}

/* Longest operators first so "**" beats "*" and "//" beats "/". */
static const char *const OPS[] = {"**", "//", "==", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", ",", ".",
                                  ":",  "|",  "<",  ">",  "+",  "-",  "~", "*", "/", "%", "=", NULL};

static int lex_in_tag(lexer *L) {
  skip_ws(L);
  if (L->i >= L->n) return duet_error(DUET_EFORMAT, "chat template line %d: tag not closed", L->line);
  const char *p = L->s + L->i;
  size_t left = L->n - L->i;
  if (left >= 3 && (!strncmp(p, "-%}", 3) || (!strncmp(p, "-}}", 3) && !L->curly))) {
    if (!push(L, p[1] == '%' ? JT_STMT_CLOSE : JT_EXPR_CLOSE, p + 1, 2)) return DUET_ENOMEM;
    advance(L, 3);
    skip_ws(L);
    return DUET_OK;
  }
  if (left >= 2 && (!strncmp(p, "%}", 2) || (!strncmp(p, "}}", 2) && !L->curly))) {
    if (!push(L, p[0] == '%' ? JT_STMT_CLOSE : JT_EXPR_CLOSE, p, 2)) return DUET_ENOMEM;
    advance(L, 2);
    return DUET_OK;
  }
  if (*p == '\'' || *p == '"') return lex_string(L);
  if (is_digit(*p)) return lex_number(L);
  if (is_word(*p)) {
    size_t j = 0;
    while (j < left && is_word(p[j])) j++;
    if (!push(L, JT_NAME, p, j)) return DUET_ENOMEM;
    advance(L, j);
    return DUET_OK;
  }
  for (int k = 0; OPS[k]; k++) {
    size_t ol = strlen(OPS[k]);
    if (left >= ol && !strncmp(p, OPS[k], ol)) {
      if (*p == '{') L->curly++;
      if (*p == '}') L->curly--;
      if (!push(L, JT_OP, p, ol)) return DUET_ENOMEM;
      advance(L, ol);
      return DUET_OK;
    }
  }
  return duet_error(DUET_EFORMAT, "chat template line %d: unexpected character '%c'", L->line, *p);
}

static int lex_comment(lexer *L) {
  int line = L->line;
  advance(L, 2);
  if (L->i < L->n && L->s[L->i] == '-') strip_prev_text(L);
  const char *end = strstr(L->s + L->i, "#}");
  if (!end) return duet_error(DUET_EFORMAT, "chat template line %d: comment not closed", line);
  int strip_after = end > L->s + L->i && end[-1] == '-';
  advance(L, (size_t)(end - (L->s + L->i)) + 2);
  if (strip_after) skip_ws(L);
  return DUET_OK;
}

/* Text up to the next tag, then the tag's tokens up to its close. */
static int lex_step(lexer *L, int *in_tag) {
  const char *p = L->s + L->i;
  if (*in_tag) {
    int rc = lex_in_tag(L);
    jinja_tok_kind k = L->ntok ? L->toks[L->ntok - 1].kind : JT_EOF;
    if (rc == DUET_OK && (k == JT_STMT_CLOSE || k == JT_EXPR_CLOSE)) *in_tag = 0;
    return rc;
  }
  if (p[0] == '{' && p[1] == '#') return lex_comment(L);
  if (p[0] == '{' && (p[1] == '%' || p[1] == '{')) {
    if (p[2] == '-') strip_prev_text(L);
    if (!push(L, p[1] == '%' ? JT_STMT_OPEN : JT_EXPR_OPEN, p, 2)) return DUET_ENOMEM;
    advance(L, p[2] == '-' ? 3 : 2);
    L->curly = 0;
    *in_tag = 1;
    return DUET_OK;
  }
  size_t j = L->i;
  while (j < L->n && !(L->s[j] == '{' && (L->s[j + 1] == '%' || L->s[j + 1] == '{' || L->s[j + 1] == '#'))) j++;
  if (!push(L, JT_TEXT, p, j - L->i)) return DUET_ENOMEM;
  advance(L, j - L->i);
  return DUET_OK;
}

int jinja_lex(jinja_arena *a, const char *src, size_t len, jinja_token **toks, int *n) {
  lexer L = {.a = a, .line = 1};
  L.s = preprocess(a, src, len, &L.n);
  if (!L.s) return duet_error(DUET_ENOMEM, "chat template: out of memory");
  int in_tag = 0;
  while (L.i < L.n) {
    int rc = lex_step(&L, &in_tag);
    if (rc < 0) return rc;
  }
  if (in_tag) return duet_error(DUET_EFORMAT, "chat template line %d: tag not closed at end of template", L.line);
  if (!push(&L, JT_EOF, "", 0)) return duet_error(DUET_ENOMEM, "chat template: out of memory");
  *toks = L.toks;
  *n = L.ntok;
  return DUET_OK;
}
