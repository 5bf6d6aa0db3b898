/* The decoder chain at decode time: each step maps the list of strings to
 * a new list (the reference's decode_chain), the last result is joined. */
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/decoders_impl.h"
#include "engine/tokenizer/utf8.h"

#include <stdlib.h>
#include <string.h>

#define PART(l, i) ((l)->text.p + (l)->parts.v[i].off)
#define PLEN(l, i) ((l)->parts.v[i].len)

/* Lossy-decodes bytes (U+FFFD for invalid UTF-8) as one new string. With
 * strip_bom a leading UTF-8 BOM is dropped, as a default TextDecoder
 * (the reference's ByteFallback) does; its ByteLevel keeps it. */
static int push_lossy(duet_strlist *out, const duet_tbuf *bytes, int strip_bom) {
  size_t off = out->text.n, skip = 0;
  if (strip_bom && bytes->n >= 3 && memcmp(bytes->p, "\xEF\xBB\xBF", 3) == 0) skip = 3;
  int rc = duet_tbuf_reserve(&out->text, bytes->n * 3);
  if (rc) return rc;
  size_t n = duet_utf8_lossy((const unsigned char *)bytes->p + skip, bytes->n - skip, out->text.p + off);
  out->text.n += n;
  out->text.p[out->text.n] = 0;
  return duet_pieces_push(&out->parts, off, n);
}

/* Runs of non-added tokens are mapped back to bytes and decoded together;
 * added tokens pass through. A character outside the byte table becomes
 * byte 0, as in the reference. */
static int run_byte_level(duet_is_added_fn is_added, const void *ctx, const duet_strlist *in,
                          duet_strlist *out, duet_tbuf *bytes) {
  int rc = 0;
  bytes->n = 0;
  for (size_t i = 0; i < in->parts.n && !rc; i++) {
    const char *s = PART(in, i);
    size_t n = PLEN(in, i);
    if (is_added && is_added(ctx, s, n)) {
      if (bytes->n) rc = push_lossy(out, bytes, 0);
      bytes->n = 0;
      if (!rc) rc = duet_strlist_push(out, s, n);
      continue;
    }
    rc = duet_tbuf_reserve(bytes, n);
    for (size_t k = 0; k < n && !rc;) {
      uint32_t cp;
      k += (size_t)duet_utf8_next((const unsigned char *)s + k, &cp);
      int b = duet_cp_to_byte(cp);
      bytes->p[bytes->n++] = (char)(b < 0 ? 0 : b);
    }
  }
  if (!rc && bytes->n) rc = push_lossy(out, bytes, 0);
  return rc;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* <0xNN> tokens in a row become the string their bytes decode to. */
static int run_byte_fallback(const duet_strlist *in, duet_strlist *out, duet_tbuf *bytes) {
  int rc = 0;
  bytes->n = 0;
  for (size_t i = 0; i < in->parts.n && !rc; i++) {
    const char *s = PART(in, i);
    size_t n = PLEN(in, i);
    if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
      char b = (char)(hexval(s[3]) * 16 + hexval(s[4]));
      rc = duet_tbuf_put(bytes, &b, 1);
      continue;
    }
    if (bytes->n) rc = push_lossy(out, bytes, 1);
    bytes->n = 0;
    if (!rc) rc = duet_strlist_push(out, s, n);
  }
  if (!rc && bytes->n) rc = push_lossy(out, bytes, 1);
  return rc;
}

static int run_strip(const duet_decoder_step *st, const duet_strlist *in, duet_strlist *out) {
  int rc = 0;
  size_t cl = st->str_len;
  for (size_t i = 0; i < in->parts.n && !rc; i++) {
    const char *s = PART(in, i);
    size_t b = 0, e = PLEN(in, i);
    for (int k = 0; cl && k < st->start && b + cl <= e && memcmp(s + b, st->str, cl) == 0; k++) b += cl;
    for (int k = 0; cl && k < st->stop && e >= b + cl && memcmp(s + e - cl, st->str, cl) == 0; k++) e -= cl;
    rc = duet_strlist_push(out, s + b, e - b);
  }
  return rc;
}

/* Metaspace: replacement -> space; the first string loses a leading space. */
static int run_metaspace(const duet_decoder_step *st, const duet_strlist *in, duet_strlist *out) {
  int rc = 0;
  for (size_t i = 0; i < in->parts.n && !rc; i++) {
    const char *s = PART(in, i);
    size_t n = PLEN(in, i), off = out->text.n;
    for (size_t k = 0; k < n && !rc;) {
      if (st->str_len && k + st->str_len <= n && memcmp(s + k, st->str, st->str_len) == 0) {
        rc = duet_tbuf_put(&out->text, " ", 1);
        k += st->str_len;
      } else {
        rc = duet_tbuf_put(&out->text, s + k, 1);
        k++;
      }
    }
    if (rc) break;
    if (i == 0 && out->text.n > off && out->text.p[off] == ' ') {
      memmove(out->text.p + off, out->text.p + off + 1, out->text.n - off - 1);
      out->text.n--;
    }
    rc = duet_pieces_push(&out->parts, off, out->text.n - off);
  }
  return rc;
}

static int run_step(const duet_decoder_step *st, duet_is_added_fn is_added, const void *ctx,
                    duet_regex_scratch *rs, const duet_strlist *in, duet_strlist *out, duet_tbuf *bytes) {
  int rc = 0;
  switch (st->kind) {
  case D_BYTE_LEVEL: return run_byte_level(is_added, ctx, in, out, bytes);
  case D_BYTE_FALLBACK: return run_byte_fallback(in, out, bytes);
  case D_STRIP: return run_strip(st, in, out);
  case D_METASPACE: return run_metaspace(st, in, out);
  case D_FUSE: {
    size_t off = out->text.n;
    for (size_t i = 0; i < in->parts.n && !rc; i++) rc = duet_tbuf_put(&out->text, PART(in, i), PLEN(in, i));
    return rc ? rc : duet_pieces_push(&out->parts, off, out->text.n - off);
  }
  default: /* D_REPLACE */
    for (size_t i = 0; i < in->parts.n && !rc; i++) {
      size_t off = out->text.n;
      rc = duet_pattern_replace_all(&st->pat, rs, PART(in, i), PLEN(in, i), st->str, st->str_len, &out->text);
      if (!rc) rc = duet_pieces_push(&out->parts, off, out->text.n - off);
    }
    return rc;
  }
}

int duet_decoder_run(const duet_decoder *d, duet_is_added_fn is_added, const void *ctx,
                     duet_regex_scratch *rs, duet_strlist *in, duet_strlist *scratch, duet_tbuf *out) {
  duet_tbuf bytes = {0};
  int rc = 0;
  for (int k = 0; d && k < d->n && !rc; k++) {
    duet_strlist_clear(scratch);
    rc = run_step(&d->steps[k], is_added, ctx, rs, in, scratch, &bytes);
    duet_strlist swap = *in;
    *in = *scratch;
    *scratch = swap;
  }
  duet_tbuf_free(&bytes);
  for (size_t i = 0; i < in->parts.n && !rc; i++) rc = duet_tbuf_put(out, PART(in, i), PLEN(in, i));
  return rc;
}
