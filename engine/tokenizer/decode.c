/* Decoding ids to text as the reference does: ids -> token strings
 * (skipping special ones on request) -> decoder chain -> joined ->
 * end-of-word suffix -> clean-up of tokenization spaces (when the config
 * asks). Ids without a token (holes in a padded vocabulary) are skipped. */
#include "engine/error.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

static int is_added(const void *ctx, const char *s, size_t len) {
  return duet_added_find(&((const duet_tokenizer *)ctx)->added, s, len) >= 0;
}

/* The reference replaces the model's end_of_word_suffix by a space. */
static int replace_suffix(const duet_tokenizer *t, duet_tbuf *out, size_t from) {
  const char *suf = t->bpe.suffix;
  size_t sl = t->bpe.suffix_len;
  if (!sl || !t->dec) return 0;
  duet_tbuf tmp = {0};
  int rc = 0;
  for (size_t i = from; i < out->n && !rc;) {
    if (i + sl <= out->n && memcmp(out->p + i, suf, sl) == 0) {
      rc = duet_tbuf_put(&tmp, " ", 1);
      i += sl;
    } else {
      rc = duet_tbuf_put(&tmp, out->p + i++, 1);
    }
  }
  out->n = from;
  if (!rc && tmp.n) rc = duet_tbuf_put(out, tmp.p, tmp.n);
  duet_tbuf_free(&tmp);
  return rc;
}

int duet_tokenizer_decode_raw(const duet_tokenizer *t, const int *ids, int n, int skip_special,
                              duet_tbuf *out) {
  duet_strlist in = {0}, scratch = {0};
  size_t from = out->n;
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    int id = ids[i];
    if (id < 0 || id >= t->vocab.size)
      rc = duet_error(DUET_ERANGE, "tokenizer: token id %d out of range [0, %d)", id, t->vocab.size);
    else if (t->vocab.tok[id] && !(skip_special && t->special[id]))
      rc = duet_strlist_push(&in, t->vocab.tok[id], (size_t)t->vocab.len[id]);
  }
  if (!rc && t->dec) {
    duet_regex_scratch *rs = duet_regex_scratch_new();
    rc = rs ? duet_decoder_run(t->dec, is_added, t, rs, &in, &scratch, out)
            : duet_error(DUET_ENOMEM, "tokenizer: out of memory");
    duet_regex_scratch_free(rs);
  } else if (!rc) { /* no decoder: tokens joined by spaces */
    for (size_t i = 0; i < in.parts.n && !rc; i++) {
      if (i) rc = duet_tbuf_put(out, " ", 1);
      if (!rc) rc = duet_tbuf_put(out, in.text.p + in.parts.v[i].off, in.parts.v[i].len);
    }
  }
  if (!rc) rc = replace_suffix(t, out, from);
  duet_strlist_free(&in);
  duet_strlist_free(&scratch);
  return rc;
}

int duet_tokenizer_decode(const duet_tokenizer *t, const int *ids, int n_ids, int skip_special,
                          char **text, size_t *len) {
  *text = NULL;
  *len = 0;
  if (!t || n_ids < 0 || (!ids && n_ids)) return duet_error(DUET_EINVAL, "tokenizer: bad decode arguments");
  duet_tbuf out = {0};
  int rc = duet_tokenizer_decode_raw(t, ids, n_ids, skip_special, &out);
  if (!rc) rc = duet_tbuf_reserve(&out, 0);
  if (rc) {
    duet_tbuf_free(&out);
    return rc;
  }
  if (t->cleanup) out.n = duet_cleanup_spaces(out.p, out.n);
  out.p[out.n] = 0;
  *text = out.p;
  *len = out.n;
  return 0;
}

long duet_token_raw_bytes(const duet_tokenizer *t, int id, char *raw) {
  const char *s = t->vocab.tok[id];
  size_t len = (size_t)t->vocab.len[id];
  if (len == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>') {
    raw[0] = (char)strtol(s + 3, NULL, 16);
    return 1;
  }
  if (!duet_pretok_byte_level(t->pretok) || duet_added_find(&t->added, s, len) >= 0) return -1;
  return duet_byte_level_unmap(s, len, raw);
}

/* A text token's text inside a sequence: decode([id, id]) past
 * decode([id]); the lone decode when that is not a prefix. */
static int text_in_sequence(const duet_tokenizer *t, int id, duet_tbuf *out) {
  int two[2] = {id, id};
  duet_tbuf one = {0};
  int rc = duet_tokenizer_decode_raw(t, two, 2, 0, out);
  if (!rc) rc = duet_tokenizer_decode_raw(t, two, 1, 0, &one);
  if (!rc && one.n <= out->n && (!one.n || memcmp(out->p, one.p, one.n) == 0)) {
    memmove(out->p, out->p + one.n, out->n - one.n);
    out->n -= one.n;
  } else if (!rc) {
    out->n = 0;
    rc = duet_tokenizer_decode_raw(t, two, 1, 0, out);
  }
  duet_tbuf_free(&one);
  return rc;
}

int duet_tokenizer_token_bytes(const duet_tokenizer *t, int id, char **bytes, size_t *len) {
  *bytes = NULL;
  *len = 0;
  if (!t || id < 0 || id >= t->vocab.size)
    return duet_error(DUET_ERANGE, "tokenizer: token id %d out of range [0, %d)", id, t ? t->vocab.size : 0);
  duet_tbuf out = {0};
  int rc = duet_tbuf_reserve(&out, t->vocab.tok[id] ? (size_t)t->vocab.len[id] : 0);
  long rn = rc || !t->vocab.tok[id] ? 0 : duet_token_raw_bytes(t, id, out.p);
  if (rn >= 0) out.n = (size_t)rn;
  else rc = text_in_sequence(t, id, &out);
  if (!rc) rc = duet_tbuf_reserve(&out, 0);
  if (rc) {
    duet_tbuf_free(&out);
    return rc;
  }
  out.p[out.n] = 0;
  *bytes = out.p;
  *len = out.n;
  return 0;
}
