#define PCRE2_CODE_UNIT_WIDTH 8
#include "engine/tokenizer/regex.h"

#include "engine/error.h"
#include "engine/tokenizer/buf.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

struct duet_regex {
  pcre2_code *code;
  int jit;
};
struct duet_regex_scratch {
  pcre2_match_data *md;
};

/* Translation output: a byte buffer that remembers a failed growth. */
typedef struct {
  duet_tbuf t;
  int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
  if (!b->oom && duet_tbuf_put(&b->t, s, n)) b->oom = 1;
}
static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

static int is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* \w as the reference spells it (before its newer code points). */
#define WORD_CHARS "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{B2}\\x{B3}\\x{B9}\\x{BC}-\\x{BE}"

static size_t translate_escape(const char *p, int in_class, sbuf *b);

/* The code points of \p{name} that PCRE2's older Unicode lacks, or NULL. */
static const char *prop_delta(const char *name, size_t n) {
  for (int i = 0; i < duet_n_regex_props; i++) {
    const duet_regex_prop *q = &duet_regex_props[i];
    if (strlen(q->name) == n && memcmp(q->name, name, n) == 0) return q->ranges[0] ? q->ranges : NULL;
  }
  return NULL;
}

/* \p{X} -> [\p{X}<newer ranges>] (no brackets inside a class), \P{X} ->
 * [^\p{X}<newer ranges>]. \P{X} inside a class would need a union with a
 * negation, which PCRE2's syntax lacks: it stays as is (only characters
 * newer than PCRE2's Unicode differ). Returns bytes used, or 0 to copy
 * the escape through. */
static size_t translate_prop(const char *p, int in_class, sbuf *b) {
  const char *end = p[2] == '{' ? strchr(p + 3, '}') : NULL;
  if (!end || (p[1] == 'P' && in_class)) return 0;
  const char *delta = prop_delta(p + 3, (size_t)(end - (p + 3)));
  if (!delta) return 0;
  size_t used = (size_t)(end - p) + 1;
  if (!in_class) puts_(b, p[1] == 'P' ? "[^" : "[");
  puts_(b, "\\p");
  put(b, p + 2, used - 2);
  puts_(b, delta);
  if (!in_class) puts_(b, "]");
  return used;
}

/* WORD_CHARS inside a class, each \p{..} with its newer code points. */
static void put_word_chars(sbuf *b) {
  for (const char *w = WORD_CHARS; *w;) {
    if (*w == '\\') w += translate_escape(w, 1, b);
    else put(b, w++, 1);
  }
}

/* Rewrites one backslash escape at p (p[0] == '\\'); returns bytes used. */
static size_t translate_escape(const char *p, int in_class, sbuf *b) {
  char c = p[1];
  if (c == 0) {
    puts_(b, "\\\\");
    return 1;
  }
  switch (c) {
  case 's': puts_(b, "\\p{White_Space}"); return 2;
  case 'S': puts_(b, "\\P{White_Space}"); return 2;
  case 'w':
  case 'W':
    if (c == 'W' && in_class) break; /* PCRE2's own \W inside a class */
    if (!in_class) puts_(b, c == 'W' ? "[^" : "[");
    put_word_chars(b);
    if (!in_class) puts_(b, "]");
    return 2;
  case 'p':
  case 'P': {
    size_t used = translate_prop(p, in_class, b);
    if (used) return used;
    break;
  }
  case 'h': puts_(b, in_class ? "0-9A-Fa-f" : "[0-9A-Fa-f]"); return 2;
  case 'u': {
    size_t k = 2;
    while (k < 6 && strchr("0123456789abcdefABCDEF", p[k]) && p[k]) k++;
    if (k == 6) {
      puts_(b, "\\x{");
      put(b, p + 2, 4);
      puts_(b, "}");
      return 6;
    }
    break;
  }
  default: break;
  }
  put(b, p, 2);
  return 2;
}

/* Copies a character class [..] starting at p, folding single ASCII
 * letters to both cases when fold is set. Returns bytes consumed. */
static size_t translate_class(const char *p, int fold, sbuf *b) {
  size_t i = 1;
  put(b, "[", 1);
  if (p[i] == '^') put(b, p + i++, 1);
  if (p[i] == ']') put(b, p + i++, 1); /* a leading ']' is literal */
  int depth = 1;
  while (p[i] && depth > 0) {
    if (p[i] == '\\') {
      i += translate_escape(p + i, 1, b);
      continue;
    }
    if (p[i] == '[' && p[i + 1] == ':') { /* POSIX class: copy through */
      const char *e = strstr(p + i, ":]");
      size_t n = e ? (size_t)(e - (p + i)) + 2 : 1;
      put(b, p + i, n);
      i += n;
      continue;
    }
    if (p[i] == '[') depth++;
    if (p[i] == ']') depth--;
    int ranged = p[i + 1] == '-' || (i > 0 && p[i - 1] == '-');
    if (fold && is_letter(p[i]) && !ranged) {
      char pair[2] = {p[i], (char)(p[i] ^ 0x20)};
      put(b, pair, 2);
    } else {
      put(b, p + i, 1);
    }
    i++;
  }
  return i;
}

/* Oniguruma -> PCRE2 (see regex.h). Tracks (?i: groups on a stack so the
 * ASCII folding ends with its group. */
static char *translate(const char *pat) {
  sbuf b = {0};
  unsigned long long fold_stack = 0; /* bit per nesting level, up to 64 */
  int depth = 0, fold = 0;
  puts_(&b, "");
  for (size_t i = 0; pat[i];) {
    char c = pat[i];
    if (c == '\\') {
      i += translate_escape(pat + i, 0, &b);
    } else if (c == '[') {
      i += translate_class(pat + i, fold, &b);
    } else if (c == '(') {
      if (depth < 64) fold_stack = (fold_stack & ~(1ULL << depth)) | ((unsigned long long)fold << depth);
      depth++;
      if (strncmp(pat + i, "(?i:", 4) == 0) {
        fold = 1;
        puts_(&b, "(?:");
        i += 4;
      } else {
        put(&b, "(", 1);
        i++;
      }
    } else if (c == ')') {
      if (depth > 0) depth--;
      fold = depth < 64 ? (int)((fold_stack >> depth) & 1) : fold;
      put(&b, ")", 1);
      i++;
    } else if (c == '.') {
      puts_(&b, "[^\\n]");
      i++;
    } else if (fold && is_letter(c)) {
      char cls[4] = {'[', c, (char)(c ^ 0x20), ']'};
      put(&b, cls, 4);
      i++;
    } else {
      put(&b, pat + i, 1);
      i++;
    }
  }
  if (b.oom) {
    duet_tbuf_free(&b.t);
    return NULL;
  }
  return b.t.p;
}

int duet_regex_compile_pcre2(const char *pattern, const char *what, duet_regex **out) {
  int err;
  PCRE2_SIZE off;
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &off, NULL);
  if (!code) {
    char msg[256];
    pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof msg);
    return duet_error(DUET_EFORMAT, "tokenizer: %s: regex does not compile at offset %zu: %s", what,
                      (size_t)off, msg);
  }
  duet_regex *re = calloc(1, sizeof *re);
  if (!re) {
    pcre2_code_free(code);
    return duet_error(DUET_ENOMEM, "tokenizer: out of memory for regex of %s", what);
  }
  re->code = code;
  re->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  *out = re;
  return 0;
}

int duet_regex_compile(const char *pattern, const char *what, duet_regex **out) {
  char *t = translate(pattern);
  if (!t) return duet_error(DUET_ENOMEM, "tokenizer: out of memory translating regex of %s", what);
  int rc = duet_regex_compile_pcre2(t, what, out);
  free(t);
  return rc;
}

void duet_regex_free(duet_regex *re) {
  if (!re) return;
  pcre2_code_free(re->code);
  free(re);
}

duet_regex_scratch *duet_regex_scratch_new(void) {
  duet_regex_scratch *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->md = pcre2_match_data_create(1, NULL);
  if (!s->md) {
    free(s);
    return NULL;
  }
  return s;
}

void duet_regex_scratch_free(duet_regex_scratch *s) {
  if (!s) return;
  pcre2_match_data_free(s->md);
  free(s);
}

int duet_regex_find(const duet_regex *re, duet_regex_scratch *s, const char *text, size_t len,
                    size_t start, size_t *ms, size_t *me) {
  if (start > len) return 0;
  duet_regex_scratch tmp = {NULL};
  if (!s) { /* one-off use (at load time) */
    tmp.md = pcre2_match_data_create(1, NULL);
    if (!tmp.md) return duet_error(DUET_ENOMEM, "tokenizer: out of memory for regex match");
    s = &tmp;
  }
  int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)text, len, start, 0, s->md, NULL)
                   : pcre2_match(re->code, (PCRE2_SPTR)text, len, start, PCRE2_NO_UTF_CHECK, s->md,
                                 NULL);
  if (rc >= 0) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
    *ms = ov[0];
    *me = ov[1];
  }
  pcre2_match_data_free(tmp.md);
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc < 0) {
    char msg[256];
    pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof msg);
    return duet_error(DUET_EINVAL, "tokenizer: regex match failed: %s", msg);
  }
  return 1;
}
