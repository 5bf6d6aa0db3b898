/* Encoding, in the reference's order: split out added tokens in the raw
 * text -> normalize each remaining section -> split out normalized added
 * tokens -> pre-tokenize -> BPE each word -> fuse unk -> post-process.
 * All state lives in an enc_ctx on the caller's stack. */
#include "engine/error.h"
#include "engine/tokenizer/tokenizer_impl.h"
#include "engine/tokenizer/utf8.h"

#include <stdlib.h>
#include <string.h>

/* Long texts repeat words: a per-call cache from word bytes to ids skips
 * the merge loop for repeats (per call, so the tokenizer stays immutable). */
enum { CACHE_MIN_TEXT = 4096, CACHE_MAX_WORD = 256, CACHE_MAX_ENTRIES = 1 << 18 };

typedef struct {
  duet_regex_scratch *rs;
  duet_pretok_scratch pre;
  duet_bpe_scratch bpe;
  duet_tbuf norm;
  duet_sections sec, sub;
  int use_cache;
  duet_strmap cache; /* word -> offset in cache_ids: [count, ids...] */
  duet_ids cache_ids;
} enc_ctx;

static void ctx_free(enc_ctx *c) {
  duet_regex_scratch_free(c->rs);
  duet_pretok_scratch_free(&c->pre);
  duet_bpe_scratch_free(&c->bpe);
  duet_tbuf_free(&c->norm);
  free(c->sec.v);
  free(c->sub.v);
  if (c->use_cache) duet_strmap_free(&c->cache);
  duet_ids_free(&c->cache_ids);
}

typedef struct {
  const duet_tokenizer *t;
  enc_ctx *c;
} word_job;

static int encode_word(void *job, const char *w, size_t n, duet_ids *out) {
  const duet_tokenizer *t = ((word_job *)job)->t;
  enc_ctx *c = ((word_job *)job)->c;
  if (!c->use_cache || n > CACHE_MAX_WORD) return duet_bpe_encode_word(&t->bpe, w, n, &c->bpe, out);
  int off;
  if (duet_strmap_get(&c->cache, w, n, &off))
    return duet_ids_append(out, c->cache_ids.v + off + 1, (size_t)c->cache_ids.v[off]);
  size_t start = out->n;
  int rc = duet_bpe_encode_word(&t->bpe, w, n, &c->bpe, out);
  if (rc) return rc;
  if (c->cache.n >= CACHE_MAX_ENTRIES) { /* bounded memory: start over */
    duet_strmap_clear(&c->cache);
    c->cache_ids.n = 0;
  }
  size_t at = c->cache_ids.n;
  rc = duet_ids_push(&c->cache_ids, (int)(out->n - start));
  rc = rc ? rc : duet_ids_append(&c->cache_ids, out->v + start, out->n - start);
  return rc ? rc : duet_strmap_put(&c->cache, w, n, (int)at);
}

/* fuse_unk: a run of unknown tokens becomes one (across the words of a
 * section, as the reference's model call sees them together). */
static void fuse_unk(const duet_tokenizer *t, duet_ids *out, size_t from) {
  int unk = t->bpe.unk_id;
  if (!t->bpe.fuse_unk || unk < 0) return;
  size_t o = from;
  for (size_t i = from; i < out->n; i++)
    if (!(out->v[i] == unk && o > from && out->v[o - 1] == unk)) out->v[o++] = out->v[i];
  out->n = o;
}

static int encode_words(const duet_tokenizer *t, enc_ctx *c, const char *text, size_t len, int section,
                        duet_ids *out) {
  int rc = duet_pretok_apply(t->pretok, c->rs, text, len, section, &c->pre);
  size_t from = out->n;
  for (size_t i = 0; i < c->pre.out->n && !rc; i++) {
    duet_piece p = c->pre.out->v[i];
    word_job job = {t, c};
    rc = duet_bpe_encode_split(&t->bpe, c->pre.base + p.off, p.len, encode_word, &job, out);
  }
  fuse_unk(t, out, from);
  return rc;
}

/* A section that is exactly an added token's content is that token. */
static int whole_token(const duet_tokenizer *t, const char *s, size_t n, duet_ids *out, int *done) {
  int a = duet_added_find(&t->added, s, n);
  *done = a >= 0;
  return a >= 0 ? duet_ids_push(out, t->added.tok[a].id) : 0;
}

/* The sections of s that need no BPE: empty ones, added tokens split out
 * by the trie, and text that is exactly an added token. *done says q was
 * one of them. */
static int encode_added(const duet_tokenizer *t, const char *s, duet_section q, duet_ids *out, int *done) {
  *done = 1;
  if (q.len == 0) return 0;
  if (q.tok >= 0) return duet_ids_push(out, t->added.tok[q.tok].id);
  return whole_token(t, s + q.off, q.len, out, done);
}

static int encode_normalized(const duet_tokenizer *t, enc_ctx *c, int section, duet_ids *out) {
  const char *s = c->norm.p;
  int rc = duet_added_split(&t->added, 1, s, c->norm.n, &c->sub);
  for (size_t j = 0; j < c->sub.n && !rc; j++) {
    duet_section q = c->sub.v[j];
    int done;
    rc = encode_added(t, s, q, out, &done);
    if (!rc && !done) rc = encode_words(t, c, s + q.off, q.len, section, out);
  }
  return rc;
}

static int encode_text(const duet_tokenizer *t, enc_ctx *c, const char *text, size_t len, duet_ids *out) {
  int rc = duet_added_split(&t->added, 0, text, len, &c->sec);
  for (size_t i = 0; i < c->sec.n && !rc; i++) {
    duet_section q = c->sec.v[i];
    int done;
    rc = encode_added(t, text, q, out, &done);
    if (rc || done) continue;
    if (t->norm) {
      rc = duet_normalizer_apply(t->norm, c->rs, text + q.off, q.len, &c->norm);
    } else {
      c->norm.n = 0;
      rc = duet_tbuf_put(&c->norm, text + q.off, q.len);
    }
    if (!rc && c->norm.n) rc = encode_normalized(t, c, (int)i, out);
  }
  return rc;
}

int duet_tokenizer_encode(const duet_tokenizer *t, const char *text, size_t len, int add_special,
                          int **ids, int *n_ids) {
  *ids = NULL;
  *n_ids = 0;
  if (!t || (!text && len)) return duet_error(DUET_EINVAL, "tokenizer: encode without tokenizer or text");
  long bad = duet_utf8_invalid_at(text, len);
  if (bad >= 0) return duet_error(DUET_EINVAL, "tokenizer: input is not valid UTF-8 (byte %ld)", bad);
  enc_ctx c = {0};
  duet_ids out = {0};
  c.rs = duet_regex_scratch_new();
  int rc = c.rs ? 0 : duet_error(DUET_ENOMEM, "tokenizer: out of memory");
  if (!rc && len >= CACHE_MIN_TEXT) {
    rc = duet_strmap_init(&c.cache, 4096);
    c.use_cache = rc == 0;
  }
  if (!rc && add_special) rc = duet_ids_append(&out, t->post.before.v, t->post.before.n);
  if (!rc) rc = encode_text(t, &c, text ? text : "", len, &out);
  if (!rc && add_special) rc = duet_ids_append(&out, t->post.after.v, t->post.after.n);
  if (!rc && out.n > 0x7fffffff) rc = duet_error(DUET_ERANGE, "tokenizer: too many tokens");
  ctx_free(&c);
  if (rc) {
    duet_ids_free(&out);
    return rc;
  }
  if (!out.v) out.v = malloc(sizeof(int)); /* callers free a non-NULL pointer */
  if (!out.v) return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
  *ids = out.v;
  *n_ids = (int)out.n;
  return 0;
}
