/* Decoding ids to text as the reference does: ids -> token strings
 * (skipping special ones on request) -> decoder chain -> joined ->
 * end-of-word suffix -> clean-up of tokenization spaces (when the config
 * asks). Ids without a token (holes in a padded vocabulary) are skipped. */
#include "engine/error.h"
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
