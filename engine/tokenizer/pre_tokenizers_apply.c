/* The pre-tokenizer steps at encode time. Each step reads the pieces of
 * the previous one and writes a new list; only steps that change the text
 * (Metaspace, ByteLevel's prefix space) copy it into a buffer. */
#include "engine/tokenizer/pattern.h"
#include "engine/tokenizer/pre_tokenizers_impl.h"
#include "engine/tokenizer/utf8.h"

#include <string.h>


/* One span of a piece being split, in order: what the behavior makes of
 * it, as Hugging Face's Split does: a match is dropped (Removed), a piece
 * of its own (Isolated), glued to the gap before it (MergedWithPrevious)
 * or after it (MergedWithNext: held until that gap comes), or one piece
 * with the matches next to it (Contiguous). first: out's first piece of
 * this input, the only ones a merge may extend. */
typedef struct {
  int behavior, last_match; /* last_match: the previous span was a match */
  size_t first, held_off, held_len;
  int held; /* MergedWithNext: a match waiting for the gap after it */
} split_state;

static int split_span(split_state *st, duet_pieces *out, size_t off, size_t len, int match) {
  int rc = 0, extend = 0;
  duet_piece *last = out->n > st->first ? &out->v[out->n - 1] : NULL;
  switch (st->behavior) {
  case SPLIT_REMOVED: if (match) len = 0; break;
  case SPLIT_MERGED_PREVIOUS: extend = match && !st->last_match && last; break;
  case SPLIT_CONTIGUOUS: extend = match == st->last_match && last; break;
  case SPLIT_MERGED_NEXT:
    if (st->held && !match) off = st->held_off, len += st->held_len; /* the held match leads this gap */
    else if (st->held) rc = duet_pieces_push(out, st->held_off, st->held_len);
    st->held = match;
    if (match) st->held_off = off, st->held_len = len, len = 0;
    break;
  }
  st->last_match = match;
  if (extend) last->len = off + len - last->off;
  else if (len && !rc) rc = duet_pieces_push(out, off, len);
  return rc;
}

/* Splits one piece by a pattern into gaps and non-empty matches (swapped
 * when inverted), each through split_span. */
static int split_piece(const duet_pattern *pat, int behavior, int inv, duet_regex_scratch *rs, const char *base,
                       duet_piece in, duet_pieces *out) {
  const char *t = base + in.off;
  size_t pos = 0, prev = 0, ms, me;
  split_state st = {behavior, 0, out->n, 0, 0, 0};
  int rc = 0;
  for (;;) {
    int r = duet_pattern_find(pat, rs, t, in.len, pos, &ms, &me);
    if (r < 0) return r;
    if (r == 0) break;
    if (ms > prev) rc = split_span(&st, out, in.off + prev, ms - prev, inv);
    if (!rc && me > ms) rc = split_span(&st, out, in.off + ms, me - ms, !inv);
    if (rc) return rc;
    prev = pos = me;
    if (me == ms) {
      if (me >= in.len) break;
      pos = me + (size_t)duet_utf8_len((unsigned char)t[me]);
    }
  }
  if (prev < in.len) rc = split_span(&st, out, in.off + prev, in.len - prev, inv);
  if (!rc && st.held) rc = duet_pieces_push(out, st.held_off, st.held_len);
  return rc;
}

/* Runs of characters for which class() is constant; each kept run is a
 * piece (single characters when split_each says so for that class). */
static int runs_piece(const char *base, duet_piece in, int ws, int individual, duet_pieces *out) {
  const unsigned char *t = (const unsigned char *)base + in.off;
  size_t i = 0;
  int rc = 0;
  while (i < in.len && !rc) {
    uint32_t cp;
    size_t start = i;
    int n = duet_utf8_next(t + i, &cp);
    int cls = ws ? duet_js_is_space(cp) : (cp >= '0' && cp <= '9');
    i += (size_t)n;
    while (i < in.len && !(cls == 1 && individual && !ws)) {
      int m = duet_utf8_next(t + i, &cp);
      int c2 = ws ? duet_js_is_space(cp) : (cp >= '0' && cp <= '9');
      if (c2 != cls) break;
      i += (size_t)m;
    }
    if (!(ws && cls)) rc = duet_pieces_push(out, in.off + start, i - start);
  }
  return rc;
}

/* Metaspace: spaces -> replacement, plus the prefix when the scheme asks. */
static int metaspace_piece(const duet_pretok_step *st, const char *base, duet_piece in, int section_index,
                           duet_tbuf *buf, duet_pieces *out) {
  size_t start = buf->n, rl = strlen(st->repl);
  const char *t = base + in.off;
  int starts = in.len >= rl && memcmp(t, st->repl, rl) == 0;
  starts = starts || (in.len && t[0] == ' '); /* becomes the replacement */
  int rc = 0;
  if (!starts && (st->prepend == PREPEND_ALWAYS || (st->prepend == PREPEND_FIRST && section_index == 0)))
    rc = duet_tbuf_put(buf, st->repl, rl);
  for (size_t i = 0; i < in.len && !rc; i++)
    rc = t[i] == ' ' ? duet_tbuf_put(buf, st->repl, rl) : duet_tbuf_put(buf, t + i, 1);
  return rc ? rc : duet_pieces_push(out, start, buf->n - start);
}

static int byte_level_prefix(const char *base, duet_piece in, duet_tbuf *buf, duet_pieces *out) {
  size_t start = buf->n;
  int rc = (in.len && base[in.off] == ' ') ? 0 : duet_tbuf_put(buf, " ", 1);
  rc = rc ? rc : duet_tbuf_put(buf, base + in.off, in.len);
  return rc ? rc : duet_pieces_push(out, start, buf->n - start);
}

static int run_step(const duet_pretok_step *st, duet_regex_scratch *rs, int section_index, duet_pretok_scratch *s,
                    const duet_pieces *in, duet_pieces *out, int *which_buf) {
  const char *base = s->base;
  duet_tbuf *buf = NULL;
  int modifies = st->kind == P_METASPACE || (st->kind == P_BYTE_LEVEL && st->prefix_space);
  if (modifies) {
    *which_buf ^= 1;
    buf = &s->buf[*which_buf];
    buf->n = 0;
  }
  int rc = 0;
  for (size_t i = 0; i < in->n && !rc; i++) {
    duet_piece pc = in->v[i];
    switch (st->kind) {
    case P_SPLIT: rc = split_piece(&st->pat, st->behavior, st->invert, rs, base, pc, out); break;
    case P_METASPACE: rc = metaspace_piece(st, base, pc, section_index, buf, out); break;
    case P_DIGITS: rc = runs_piece(base, pc, 0, st->individual, out); break;
    case P_WS_SPLIT: rc = runs_piece(base, pc, 1, 0, out); break;
    default:
      rc = st->prefix_space ? byte_level_prefix(base, pc, buf, out) : duet_pieces_push(out, pc.off, pc.len);
      break;
    }
  }
  if (rc || !modifies) return rc;
  s->base = buf->p ? buf->p : "";
  return 0;
}

int duet_pretok_apply(const duet_pretok *p, duet_regex_scratch *rs, const char *text, size_t len,
                      int section_index, duet_pretok_scratch *s) {
  duet_pieces *in = &s->a, *out = &s->b;
  int which = 1, rc = 0;
  in->n = 0;
  s->base = text;
  rc = duet_pieces_push(in, 0, len);
  for (int k = 0; p && k < p->n && !rc; k++) {
    const duet_pretok_step *st = &p->steps[k];
    out->n = 0;
    rc = run_step(st, rs, section_index, s, in, out, &which);
    if (!rc && st->kind == P_BYTE_LEVEL && st->use_regex) {
      /* GPT-2 regex after the prefix: matches only, gaps dropped (the
       * gaps are the delimiters, removed). */
      duet_pieces *t = in;
      in = out;
      out = t;
      out->n = 0;
      for (size_t i = 0; i < in->n && !rc; i++)
        rc = split_piece(&st->pat, SPLIT_REMOVED, 1, rs, s->base, in->v[i], out);
    }
    duet_pieces *t = in;
    in = out;
    out = t;
  }
  s->out = in;
  return rc;
}
