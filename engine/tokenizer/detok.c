/* Streaming detokenizer. It keeps a small window of ids: the context (ids
 * whose text is already out) and the new ones. Each push decodes the
 * window with the full decoder chain and emits what the new ids added
 * beyond the context's text, so position-dependent steps (the leading
 * space that SentencePiece's Strip removes, ByteFallback groups) act as in
 * a decode of the whole sequence. While the window ends inside a UTF-8
 * character, nothing is emitted. With clean_up_tokenization_spaces the
 * text passes through a hold-back that only releases text no clean-up
 * rule can still change (see hold_cut). */
#include "engine/error.h"
#include "engine/tokenizer/tokenizer_impl.h"
#include "engine/tokenizer/utf8.h"

#include <stdlib.h>
#include <string.h>

struct duet_detok {
  const duet_tokenizer *t;
  int skip_special;
  duet_ids win;      /* context ids then new ids */
  size_t n_ctx;      /* how many of win are context */
  duet_tbuf ctx_text; /* decode(context) */
  duet_tbuf hold;    /* clean-up hold-back (raw text) */
  duet_tbuf outq;    /* final text not yet handed out (out_cap) */
  duet_tbuf tmp;
  duet_tbuf raw;      /* scratch for token bytes */
};

int duet_detok_new(const duet_tokenizer *t, int skip_special, duet_detok **out) {
  *out = NULL;
  if (!t) return duet_error(DUET_EINVAL, "detok: no tokenizer");
  duet_detok *d = calloc(1, sizeof *d);
  if (!d) return duet_error(DUET_ENOMEM, "detok: out of memory");
  d->t = t;
  d->skip_special = skip_special;
  *out = d;
  return 0;
}

void duet_detok_free(duet_detok *d) {
  if (!d) return;
  duet_ids_free(&d->win);
  duet_tbuf_free(&d->ctx_text);
  duet_tbuf_free(&d->hold);
  duet_tbuf_free(&d->outq);
  duet_tbuf_free(&d->tmp);
  duet_tbuf_free(&d->raw);
  free(d);
}

/* Whether the window stops inside a UTF-8 character: gathers the raw
 * bytes of the last tokens back to the start of the last character. */
static int ends_incomplete(duet_detok *d) {
  unsigned char tail[8];
  int n = 0;
  for (size_t k = d->win.n; k > d->n_ctx && n < 4; k--) {
    int id = d->win.v[k - 1];
    if (duet_tbuf_reserve(&d->raw, (size_t)d->t->vocab.len[id])) return 0;
    long rn = duet_token_raw_bytes(d->t, id, d->raw.p);
    if (rn <= 0) break;
    const unsigned char *r = (const unsigned char *)d->raw.p + (rn > 4 ? rn - 4 : 0);
    int m = rn > 4 ? 4 : (int)rn, take = m + n > 8 ? 8 - n : m;
    memmove(tail + take, tail, (size_t)n);
    memcpy(tail, r + (m - take), (size_t)take);
    n += take;
    int lead = 0; /* stop once the tail holds the start of its last character */
    for (int i = 0; i < take; i++) lead |= (r[m - take + i] & 0xC0) != 0x80;
    if (lead) break;
  }
  return n && duet_utf8_incomplete_tail(tail, (size_t)n) > 0;
}

/* Largest prefix of the hold-back that no clean-up rule can change: the
 * rules are ASCII, at most 4 bytes and start with a space, so a cut with
 * three non-space bytes before it cannot be straddled (deletions only
 * remove spaces, so this holds through the cascade of rules too). */
static size_t hold_cut(const duet_tbuf *h) {
  for (size_t i = h->n; i >= 3; i--) {
    if (i < h->n && ((unsigned char)h->p[i] & 0xC0) == 0x80) continue;
    if (h->p[i - 1] != ' ' && h->p[i - 2] != ' ' && h->p[i - 3] != ' ') return i;
  }
  return 0;
}

static int release(duet_detok *d, const char *s, size_t n, int final) {
  if (!d->t->cleanup) return duet_tbuf_put(&d->outq, s, n);
  int rc = duet_tbuf_put(&d->hold, s, n);
  if (rc) return rc;
  size_t cut = final ? d->hold.n : hold_cut(&d->hold);
  if (!cut) return 0;
  size_t m = duet_cleanup_spaces(d->hold.p, cut); /* cut > 0: hold.p is set */
  rc = duet_tbuf_put(&d->outq, d->hold.p, m);
  memmove(d->hold.p, d->hold.p + cut, d->hold.n - cut);
  d->hold.n -= cut;
  return rc;
}

/* Hands out up to cap bytes of the queue, whole characters only. */
static int hand_out(duet_detok *d, char *out, size_t cap) {
  size_t n = d->outq.n < cap ? d->outq.n : cap;
  while (n < d->outq.n && n > 0 && ((unsigned char)d->outq.p[n] & 0xC0) == 0x80) n--;
  if (n > 0x7fffffff) n = 0x7fffffff;
  if (!n) return 0;
  memcpy(out, d->outq.p, n);
  memmove(d->outq.p, d->outq.p + n, d->outq.n - n);
  d->outq.n -= n;
  return (int)n;
}

/* The whole window becomes the context, its text what later pushes extend. */
static int window_as_context(duet_detok *d) {
  d->n_ctx = d->win.n;
  d->ctx_text.n = 0;
  return duet_tokenizer_decode_raw(d->t, d->win.v, (int)d->win.n, 0, &d->ctx_text);
}

/* Decodes the window; emits the text beyond the context's when complete
 * (or always when final), then makes the new ids the next context. */
static int step(duet_detok *d, int final) {
  d->tmp.n = 0;
  int rc = duet_tokenizer_decode_raw(d->t, d->win.v, (int)d->win.n, 0, &d->tmp);
  if (rc) return rc;
  size_t pl = d->ctx_text.n;
  if (d->tmp.n <= pl || (!final && ends_incomplete(d))) return 0;
  if (memcmp(d->tmp.p, d->ctx_text.p ? d->ctx_text.p : "", pl) != 0)
    return duet_error(DUET_EINTERNAL, "detok: the decoder chain changed text already streamed");
  rc = release(d, d->tmp.p + pl, d->tmp.n - pl, 0);
  if (rc) return rc;
  memmove(d->win.v, d->win.v + d->n_ctx, (d->win.n - d->n_ctx) * sizeof(int));
  d->win.n -= d->n_ctx;
  return window_as_context(d);
}

/* Whether id has text in this stream: holes, skipped specials and ids past
 * the tokenizer's vocabulary (a model's padded rows) do not. */
static int in_text(const duet_detok *d, int id) {
  return id >= 0 && id < d->t->vocab.size && d->t->vocab.tok[id] && !(d->skip_special && d->t->special[id]);
}

/* The last few ids with text of what precedes the stream become the
 * window's context: a completion then reads as in a decode of prompt and
 * completion together, as vLLM and llama.cpp print it (SentencePiece's
 * Strip removes a leading space only at the very start, so unprimed
 * "Hello" + "\u2581world" streams "world"). A context ending inside a
 * UTF-8 character loses the ids of that character: their lossy text
 * changes once completed. */
#define PRIME_IDS 4
int duet_detok_prime(duet_detok *d, const int *ids, int n) {
  if (!d || n < 0 || (!ids && n) || d->win.n) return duet_error(DUET_EINVAL, "detok: bad prime arguments");
  int start = n, kept = 0;
  for (; start > 0 && kept < PRIME_IDS; start--) kept += in_text(d, ids[start - 1]);
  int rc = 0;
  for (int i = start; i < n && !rc; i++)
    if (in_text(d, ids[i])) rc = duet_ids_push(&d->win, ids[i]);
  if (rc) {
    d->win.n = 0;
    return rc;
  }
  /* Drop only the incomplete character's ids: the ones before it still
   * give the first pushed token its context (a SentencePiece space). */
  while (d->win.n && ends_incomplete(d)) d->win.n--;
  return window_as_context(d);
}

int duet_detok_push(duet_detok *d, int id, char *out, size_t out_cap) {
  if (!d || (!out && out_cap)) return duet_error(DUET_EINVAL, "detok: bad arguments");
  const duet_tokenizer *t = d->t;
  if (id < 0 || id >= t->vocab.size)
    return duet_error(DUET_ERANGE, "detok: token id %d out of range [0, %d)", id, t->vocab.size);
  if (in_text(d, id)) {
    int rc = duet_ids_push(&d->win, id);
    rc = rc ? rc : step(d, 0);
    if (rc) return rc;
  }
  return hand_out(d, out, out_cap);
}

int duet_detok_finish(duet_detok *d, char *out, size_t out_cap) {
  if (!d || (!out && out_cap)) return duet_error(DUET_EINVAL, "detok: bad arguments");
  int rc = 0;
  if (d->win.n > d->n_ctx) rc = step(d, 1);
  if (!rc) rc = release(d, "", 0, 1);
  return rc ? rc : hand_out(d, out, out_cap);
}
