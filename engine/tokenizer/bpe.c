#include "engine/tokenizer/bpe.h"

#include "engine/error.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_ID = 1 << 24 };

static int load_vocab(json_t *jv, const duet_nul_sentinel *nul, duet_bpe *b, duet_vocab *vocab) {
  if (!json_is_object(jv))
    return duet_error(DUET_EFORMAT, "tokenizer.json: model.vocab must be an object");
  int rc = duet_strmap_init(&b->vocab, json_object_size(jv));
  if (rc) return rc;
  const char *key;
  json_t *val;
  json_object_foreach(jv, key, val) {
    if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= MAX_ID)
      return duet_error(DUET_EFORMAT, "tokenizer.json: model.vocab[\"%.40s\"] is not an id in [0, %d)",
                        key, MAX_ID);
    int id = (int)json_integer_value(val);
    size_t len = strlen(key);
    /* tok, not key: json_object_foreach finds the next entry from key */
    const char *tok = key;
    char *restored = NULL;
    if (nul && nul->len && memmem(key, len, nul->utf8, nul->len) && !(restored = malloc(len)))
      return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
    if (restored) len = duet_nul_keys_restore(nul, key, len, restored), tok = restored;
    rc = duet_utf8_invalid_at(tok, len) >= 0
             ? duet_error(DUET_EFORMAT, "tokenizer.json: model.vocab key of id %d is not UTF-8", id)
             : duet_strmap_put(&b->vocab, tok, len, id);
    rc = rc ? rc : duet_vocab_set(vocab, id, tok, len);
    free(restored);
    if (rc) return rc;
  }
  return 0;
}

/* Byte-level: index the vocabulary by the raw bytes each string stands
 * for, so encoding never builds the mapped text. */
static int load_raw(duet_bpe *b, const duet_vocab *vocab) {
  int rc = duet_strmap_init(&b->raw, b->vocab.n);
  if (rc) return rc;
  char *tmp = malloc(4096);
  if (!tmp) return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
  for (int id = 0; id < vocab->size && !rc; id++) {
    int val;
    if (!vocab->tok[id] || vocab->len[id] > 4096) continue;
    if (!duet_strmap_get(&b->vocab, vocab->tok[id], (size_t)vocab->len[id], &val) || val != id)
      continue;
    long n = duet_byte_level_unmap(vocab->tok[id], (size_t)vocab->len[id], tmp);
    if (n > 0) rc = duet_strmap_put(&b->raw, tmp, (size_t)n, id);
  }
  free(tmp);
  for (int c = 0; c < 256 && !rc; c++) {
    char ch = (char)c;
    if (!duet_strmap_get(&b->raw, &ch, 1, &b->byte_id[c])) b->byte_id[c] = -1;
  }
  return rc;
}

/* One merge: "a b" (the old format, split at the first space as the
 * reference does) or ["a", "b"]. */
static int merge_parts(json_t *m, size_t idx, const char **a, size_t *al, const char **bb,
                       size_t *bl) {
  if (json_is_string(m)) {
    const char *s = json_string_value(m);
    const char *sp = strchr(s, ' ');
    if (!sp) goto bad;
    *a = s;
    *al = (size_t)(sp - s);
    *bb = sp + 1;
    const char *sp2 = strchr(sp + 1, ' ');
    *bl = sp2 ? (size_t)(sp2 - (sp + 1)) : strlen(sp + 1);
    return 0;
  }
  if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
      json_is_string(json_array_get(m, 1))) {
    *a = json_string_value(json_array_get(m, 0));
    *al = json_string_length(json_array_get(m, 0));
    *bb = json_string_value(json_array_get(m, 1));
    *bl = json_string_length(json_array_get(m, 1));
    return 0;
  }
bad:
  return duet_error(DUET_EFORMAT, "tokenizer.json: model.merges[%zu] is not \"a b\" or [\"a\", \"b\"]",
                    idx);
}

static int load_merges(json_t *jm, duet_bpe *b) {
  if (!json_is_array(jm)) return duet_error(DUET_EFORMAT, "tokenizer.json: model.merges must be an array");
  int rc = duet_pairmap_init(&b->merges, json_array_size(jm));
  char *cat = NULL;
  size_t cat_cap = 0;
  for (size_t i = 0; i < json_array_size(jm) && !rc; i++) {
    const char *a = "", *c = "";
    size_t al = 0, cl = 0;
    int ia, ic, im;
    rc = merge_parts(json_array_get(jm, i), i, &a, &al, &c, &cl);
    if (rc) break;
    if (!duet_strmap_get(&b->vocab, a, al, &ia) || !duet_strmap_get(&b->vocab, c, cl, &ic)) {
      rc = duet_error(DUET_EFORMAT, "tokenizer.json: model.merges[%zu] (\"%.*s\" \"%.*s\") uses a token "
                      "missing from the vocabulary", i, (int)(al > 40 ? 40 : al), a,
                      (int)(cl > 40 ? 40 : cl), c);
      break;
    }
    if ((rc = duet_grow((void **)&cat, &cat_cap, al + cl + 1, 1))) break;
    memcpy(cat, a, al);
    memcpy(cat + al, c, cl);
    if (!duet_strmap_get(&b->vocab, cat, al + cl, &im)) {
      rc = duet_error(DUET_EFORMAT, "tokenizer.json: model.merges[%zu] makes \"%.*s\", which is not in "
                      "the vocabulary", i, (int)(al + cl > 80 ? 80 : al + cl), cat);
      break;
    }
    rc = duet_pairmap_put(&b->merges, ia, ic, (int)i, im);
  }
  free(cat);
  return rc;
}

static int opt_string(json_t *model, const char *key, char **out, size_t *len) {
  json_t *v = json_object_get(model, key);
  *out = NULL;
  *len = 0;
  if (v && !json_is_null(v) && !json_is_string(v))
    return duet_error(DUET_EFORMAT, "tokenizer.json: model.%s must be a string or null", key);
  *out = strdup(v && json_is_string(v) ? json_string_value(v) : "");
  if (!*out) return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
  *len = strlen(*out);
  return 0;
}

static int opt_bool(json_t *model, const char *key, int *out) {
  json_t *v = json_object_get(model, key);
  *out = 0;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) return duet_error(DUET_EFORMAT, "tokenizer.json: model.%s must be a boolean", key);
  *out = json_is_true(v);
  return 0;
}

static int load_options(json_t *model, duet_bpe *b) {
  json_t *drop = json_object_get(model, "dropout");
  if (drop && !json_is_null(drop) && json_number_value(drop) != 0.0)
    return duet_error(DUET_EUNSUPPORTED, "tokenizer.json: BPE dropout is not supported");
  int rc = opt_bool(model, "byte_fallback", &b->byte_fallback);
  rc = rc ? rc : opt_bool(model, "ignore_merges", &b->ignore_merges);
  rc = rc ? rc : opt_bool(model, "fuse_unk", &b->fuse_unk);
  rc = rc ? rc : opt_string(model, "continuing_subword_prefix", &b->prefix, &b->prefix_len);
  rc = rc ? rc : opt_string(model, "end_of_word_suffix", &b->suffix, &b->suffix_len);
  if (rc) return rc;
  json_t *unk = json_object_get(model, "unk_token");
  b->unk_id = -1;
  if (unk && !json_is_null(unk)) {
    if (!json_is_string(unk)) return duet_error(DUET_EFORMAT, "tokenizer.json: model.unk_token must be a string");
    if (!duet_strmap_get(&b->vocab, json_string_value(unk), json_string_length(unk), &b->unk_id))
      b->unk_id = -1;
  }
  for (int c = 0; c < 256; c++) {
    char name[8];
    snprintf(name, sizeof name, "<0x%02X>", c);
    if (!duet_strmap_get(&b->vocab, name, 6, &b->fallback_id[c])) b->fallback_id[c] = -1;
  }
  return 0;
}

/* SentencePiece-style models see a whole sentence as one word. If no
 * token has U+2581 right after another character, no merge can join the
 * symbols on the two sides of such a U+2581, so the word can be cut there
 * and each piece merged alone (exactly the same result, and short pieces
 * repeat, so the word cache works). ignore_merges looks at whole words,
 * so it rules this out. */
static const char META[] = "\xE2\x96\x81";

static void detect_split_meta(duet_bpe *b, const duet_vocab *vocab) {
  b->split_meta = !b->byte_level && !b->ignore_merges && !b->prefix_len && !b->suffix_len;
  for (int id = 0; id < vocab->size && b->split_meta; id++) {
    const char *s = vocab->tok[id];
    for (int i = 1; s && i + 3 <= vocab->len[id]; i++)
      if (memcmp(s + i, META, 3) == 0 && (i < 3 || memcmp(s + i - 3, META, 3) != 0)) b->split_meta = 0;
  }
}

int duet_bpe_encode_split(const duet_bpe *b, const char *w, size_t n, duet_word_fn encode, void *ctx,
                          duet_ids *out) {
  if (!b->split_meta) return encode(ctx, w, n, out);
  size_t start = 0;
  for (size_t i = 1; i + 3 <= n; i++) {
    if (memcmp(w + i, META, 3) != 0 || (i >= 3 && memcmp(w + i - 3, META, 3) == 0)) continue;
    int rc = encode(ctx, w + start, i - start, out);
    if (rc) return rc;
    start = i;
    i += 2;
  }
  return encode(ctx, w + start, n - start, out);
}

int duet_bpe_load(json_t *model, int byte_level, const duet_nul_sentinel *nul, duet_bpe *b, duet_vocab *vocab) {
  memset(b, 0, sizeof *b);
  b->byte_level = byte_level;
  json_t *type = json_object_get(model, "type");
  if (type && (!json_is_string(type) || strcmp(json_string_value(type), "BPE") != 0))
    return duet_error(DUET_EUNSUPPORTED, "tokenizer.json: model type \"%s\" is not supported (only BPE)",
                      json_is_string(type) ? json_string_value(type) : "?");
  int rc = load_vocab(json_object_get(model, "vocab"), nul, b, vocab);
  rc = rc ? rc : load_merges(json_object_get(model, "merges"), b);
  rc = rc ? rc : load_options(model, b);
  if (!rc && byte_level) rc = load_raw(b, vocab);
  if (!rc) detect_split_meta(b, vocab);
  return rc;
}

void duet_bpe_free(duet_bpe *b) {
  duet_strmap_free(&b->vocab);
  duet_strmap_free(&b->raw);
  duet_pairmap_free(&b->merges);
  free(b->prefix);
  free(b->suffix);
  memset(b, 0, sizeof *b);
}

int duet_bpe_token_id(const duet_bpe *b, const char *s, size_t len) {
  int id;
  return duet_strmap_get(&b->vocab, s, len, &id) ? id : -1;
}

void duet_bpe_scratch_free(duet_bpe_scratch *s) {
  free(s->id);
  free(s->prev);
  free(s->next);
  free(s->len);
  free(s->off);
  free(s->heap);
  duet_tbuf_free(&s->tmp);
  memset(s, 0, sizeof *s);
}
