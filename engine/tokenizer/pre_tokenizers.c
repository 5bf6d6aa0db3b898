#include "engine/tokenizer/pre_tokenizers_impl.h"

#include "engine/error.h"
#include "engine/tokenizer/json_util.h"
#include "engine/tokenizer/pattern.h"
#include "engine/tokenizer/utf8.h"

#include <stdlib.h>
#include <string.h>


/* GPT-2's pattern as the reference writes it for its ByteLevel step:
 * JavaScript's \s (which has U+FEFF and lacks U+0085). */
#define JS_S "\\t\\n\\x0B\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" JS_S "\\p{L}\\p{N}]+|[" JS_S "]+(?![^" JS_S
    "])|[" JS_S "]+";

static int load_split(json_t *j, duet_pretok_step *st) {
  static const char *const names[] = {"Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
  const char *beh;
  int rc = duet_json_str(j, "behavior", "pre_tokenizer Split", "Isolated", &beh);
  rc = rc ? rc : duet_json_bool(j, "invert", "pre_tokenizer Split", 0, &st->invert);
  if (rc) return rc;
  st->behavior = -1;
  for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
    if (strcmp(beh, names[i]) == 0) st->behavior = i; /* names[] follows the SPLIT_* order */
  if (st->behavior < 0) return duet_error(DUET_EUNSUPPORTED, "tokenizer.json: Split behavior \"%s\" is not supported", beh);
  return duet_pattern_load(json_object_get(j, "pattern"), "pre_tokenizer Split", &st->pat);
}

static int load_metaspace(json_t *j, duet_pretok_step *st) {
  const char *r, *scheme;
  int rc = duet_json_str(j, "replacement", "pre_tokenizer Metaspace", "\xE2\x96\x81", &r);
  rc = rc ? rc : duet_json_str(j, "prepend_scheme", "pre_tokenizer Metaspace", "always", &scheme);
  if (rc) return rc;
  if (strlen(r) == 0 || strlen(r) >= sizeof st->repl ||
      (size_t)duet_utf8_len((unsigned char)r[0]) != strlen(r))
    return duet_error(DUET_EFORMAT, "tokenizer.json: Metaspace replacement must be one character");
  strcpy(st->repl, r);
  if (strcmp(scheme, "always") == 0) st->prepend = PREPEND_ALWAYS;
  else if (strcmp(scheme, "never") == 0) st->prepend = PREPEND_NEVER;
  else if (strcmp(scheme, "first") == 0) st->prepend = PREPEND_FIRST;
  else return duet_error(DUET_EUNSUPPORTED, "tokenizer.json: Metaspace prepend_scheme \"%s\"", scheme);
  /* Older files say add_prefix_space instead of prepend_scheme. */
  json_t *aps = json_object_get(j, "add_prefix_space");
  if (json_is_false(aps) && !json_object_get(j, "prepend_scheme")) st->prepend = PREPEND_NEVER;
  return 0;
}

static int load_step(json_t *j, void *vst) {
  duet_pretok_step *st = vst;
  const char *type;
  int rc = duet_json_type(j, "pre_tokenizer", &type);
  if (rc) return rc;
  if (strcmp(type, "Split") == 0) {
    st->kind = P_SPLIT;
    return load_split(j, st);
  }
  if (strcmp(type, "ByteLevel") == 0) {
    st->kind = P_BYTE_LEVEL;
    rc = duet_json_bool(j, "add_prefix_space", "pre_tokenizer ByteLevel", 0, &st->prefix_space);
    rc = rc ? rc : duet_json_bool(j, "use_regex", "pre_tokenizer ByteLevel", 1, &st->use_regex);
    if (!rc && st->use_regex) rc = duet_regex_compile_pcre2(gpt2_pattern, "ByteLevel", &st->pat.re);
    return rc;
  }
  if (strcmp(type, "Metaspace") == 0) {
    st->kind = P_METASPACE;
    return load_metaspace(j, st);
  }
  if (strcmp(type, "Digits") == 0) {
    st->kind = P_DIGITS;
    return duet_json_bool(j, "individual_digits", "pre_tokenizer Digits", 0, &st->individual);
  }
  if (strcmp(type, "WhitespaceSplit") == 0) {
    st->kind = P_WS_SPLIT;
    return 0;
  }
  return duet_error(DUET_EUNSUPPORTED, "tokenizer.json: pre_tokenizer \"%s\" is not supported", type);
}


int duet_pretok_load(json_t *j, duet_pretok **out) {
  *out = NULL;
  if (!j || json_is_null(j)) return 0;
  duet_pretok *p = calloc(1, sizeof *p);
  if (!p) return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
  duet_step_list l = {0};
  int rc = duet_json_steps(j, "pre_tokenizer", "pretokenizers", sizeof(duet_pretok_step), load_step, &l);
  p->steps = l.v;
  p->n = l.n;
  p->cap = l.cap;
  for (int k = 0; !rc && k + 1 < p->n; k++)
    if (p->steps[k].kind == P_BYTE_LEVEL)
      rc = duet_error(DUET_EUNSUPPORTED, "tokenizer.json: a pre_tokenizer after ByteLevel is not supported");
  if (rc) {
    duet_pretok_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

void duet_pretok_free(duet_pretok *p) {
  if (!p) return;
  for (int i = 0; i < p->n; i++) duet_pattern_free(&p->steps[i].pat);
  free(p->steps);
  free(p);
}

int duet_pretok_byte_level(const duet_pretok *p) {
  return p && p->n && p->steps[p->n - 1].kind == P_BYTE_LEVEL;
}

void duet_pretok_scratch_free(duet_pretok_scratch *s) {
  duet_pieces_free(&s->a);
  duet_pieces_free(&s->b);
  duet_tbuf_free(&s->buf[0]);
  duet_tbuf_free(&s->buf[1]);
}
