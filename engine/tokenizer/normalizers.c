#include "engine/tokenizer/normalizers.h"

#include "engine/error.h"
#include "engine/tokenizer/json_util.h"
#include "engine/tokenizer/pattern.h"
#include "engine/tokenizer/unicode_norm.h"
#include "engine/tokenizer/utf8.h"

#include <stdlib.h>
#include <string.h>

enum { N_PREPEND, N_REPLACE, N_UNICODE, N_STRIP };

typedef struct {
  int kind;
  char *str; /* Prepend text, Replace content */
  size_t str_len;
  duet_pattern pat; /* Replace */
  int form;         /* N_UNICODE: DUET_NFC... */
  int left, right;  /* Strip */
} step;

struct duet_normalizer {
  step *steps;
  int n, cap;
};

static int dup_str(const char *s, step *st) {
  st->str_len = strlen(s);
  st->str = malloc(st->str_len + 1);
  if (!st->str) return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
  memcpy(st->str, s, st->str_len + 1);
  return 0;
}

static int load_step(json_t *j, void *vst) {
  step *st = vst;
  const char *type, *s;
  int rc = duet_json_type(j, "normalizer", &type);
  if (rc) return rc;
  static const char *forms[] = {"NFC", "NFD", "NFKC", "NFKD"};
  for (int f = 0; f < 4; f++) {
    if (strcmp(type, forms[f]) == 0) {
      st->kind = N_UNICODE;
      st->form = f; /* same order as DUET_NFC.. */
      return 0;
    }
  }
  if (strcmp(type, "Prepend") == 0) {
    st->kind = N_PREPEND;
    rc = duet_json_str(j, "prepend", "normalizer Prepend", "", &s);
    return rc ? rc : dup_str(s, st);
  }
  if (strcmp(type, "Replace") == 0) {
    st->kind = N_REPLACE;
    rc = duet_json_str(j, "content", "normalizer Replace", "", &s);
    rc = rc ? rc : dup_str(s, st);
    return rc ? rc : duet_pattern_load(json_object_get(j, "pattern"), "normalizer Replace", &st->pat);
  }
  if (strcmp(type, "Strip") == 0) {
    st->kind = N_STRIP;
    rc = duet_json_bool(j, "strip_left", "normalizer Strip", 0, &st->left);
    return rc ? rc : duet_json_bool(j, "strip_right", "normalizer Strip", 0, &st->right);
  }
  return duet_error(DUET_EUNSUPPORTED, "tokenizer.json: normalizer \"%s\" is not supported", type);
}


int duet_normalizer_load(json_t *j, duet_normalizer **out) {
  *out = NULL;
  if (!j || json_is_null(j)) return 0;
  duet_normalizer *n = calloc(1, sizeof *n);
  if (!n) return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
  duet_step_list l = {0};
  int rc = duet_json_steps(j, "normalizer", "normalizers", sizeof(step), load_step, &l);
  n->steps = l.v;
  n->n = l.n;
  n->cap = l.cap;
  if (rc) {
    duet_normalizer_free(n);
    return rc;
  }
  *out = n;
  return 0;
}

void duet_normalizer_free(duet_normalizer *n) {
  if (!n) return;
  for (int i = 0; i < n->n; i++) {
    free(n->steps[i].str);
    duet_pattern_free(&n->steps[i].pat);
  }
  free(n->steps);
  free(n);
}

/* JavaScript trim()/trimStart()/trimEnd() over UTF-8. */
static void js_trim(const char *t, size_t len, int left, int right, size_t *b, size_t *e) {
  const unsigned char *u = (const unsigned char *)t;
  size_t i = 0, j = len;
  uint32_t cp;
  while (left && i < len) {
    int n = duet_utf8_next(u + i, &cp);
    if (!duet_js_is_space(cp)) break;
    i += (size_t)n;
  }
  while (right && j > i) {
    size_t k = j - 1;
    while (k > i && (u[k] & 0xC0) == 0x80) k--;
    duet_utf8_next(u + k, &cp);
    if (!duet_js_is_space(cp)) break;
    j = k;
  }
  *b = i;
  *e = j;
}

/* NFC leaves text below U+0300 alone (no such character decomposes or
 * composes in NFC); every form leaves ASCII alone. */
static int unicode_is_noop(int form, const char *t, size_t len) {
  unsigned char lim = form == DUET_NFC ? 0xCC : 0x80;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)t[i] >= lim) return 0;
  return 1;
}

static int apply_step(const step *st, duet_regex_scratch *s, const char *t, size_t len, duet_tbuf *o) {
  switch (st->kind) {
  case N_PREPEND: {
    int rc = duet_tbuf_put(o, st->str, st->str_len);
    return rc ? rc : duet_tbuf_put(o, t, len);
  }
  case N_REPLACE: return duet_pattern_replace_all(&st->pat, s, t, len, st->str, st->str_len, o);
  case N_UNICODE: {
    if (unicode_is_noop(st->form, t, len)) return duet_tbuf_put(o, t, len);
    char *r;
    size_t rl;
    int rc = duet_unicode_normalize(st->form, t, len, &r, &rl);
    if (rc) return rc;
    rc = duet_tbuf_put(o, r, rl);
    free(r);
    return rc;
  }
  default: {
    size_t b, e;
    js_trim(t, len, st->left, st->right, &b, &e);
    return duet_tbuf_put(o, t + b, e - b);
  }
  }
}

int duet_normalizer_apply(const duet_normalizer *n, duet_regex_scratch *s, const char *text,
                          size_t len, duet_tbuf *out) {
  duet_tbuf tmp = {0};
  out->n = 0;
  int rc = duet_tbuf_put(out, text, len);
  for (int i = 0; i < n->n && !rc; i++) {
    tmp.n = 0;
    rc = apply_step(&n->steps[i], s, out->p, out->n, &tmp);
    duet_tbuf swap = *out;
    *out = tmp;
    tmp = swap;
  }
  duet_tbuf_free(&tmp);
  return rc;
}
