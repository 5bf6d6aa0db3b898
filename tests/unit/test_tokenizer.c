/* Exactness of the tokenizer against Hugging Face's reference
 * (@huggingface/tokenizers) for the real Llama 2, Llama 3 and Qwen3
 * tokenizer files on tests/fixtures/tokenizer/text.txt, and for two
 * synthetic ones (make_synthetic.mjs) on text_synthetic.txt: whole-text ids
 * (with and without special tokens), per-line ids, decode, and the
 * streaming detokenizer. Expected values come from gen_expected.mjs. */
#include "engine/error.h"
#include "engine/read_file.h"
#include "engine/tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "test_tokenizer_util.h"

#include <jansson.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void check_ids(const char *m, const int *got, int n, json_t *want) {
  int nw = (int)json_array_size(want), i = 0;
  while (i < n && i < nw && got[i] == (int)json_integer_value(json_array_get(want, i))) i++;
  CHECK(i == n && n == nw, "%s: ids differ at %d (got %d ids, want %d): got %d want %d", m, i, n, nw,
        i < n ? got[i] : -1, i < nw ? (int)json_integer_value(json_array_get(want, i)) : -1);
}

static void check_hash(const char *m, const char *what, size_t n, uint32_t h, json_t *want) {
  size_t wn = (size_t)json_integer_value(json_array_get(want, 0));
  uint32_t wh = (uint32_t)json_integer_value(json_array_get(want, 1));
  CHECK(n == wn && h == wh, "%s: %s: got length %zu hash %u, want %zu %u", m, what, n, h, wn, wh);
}

/* Every line alone (many more section and word boundaries). */
static void check_lines(const char *m, duet_tokenizer *t, const char *text, size_t len, json_t *lines) {
  size_t start = 0, line = 0;
  int bad = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && text[i] != '\n') continue;
    int *ids = NULL, n = 0;
    int rc = duet_tokenizer_encode(t, text + start, i - start, 0, &ids, &n);
    json_t *w = json_array_get(lines, line);
    if (rc || n != (int)json_integer_value(json_array_get(w, 0)) ||
        fnv_ids(ids, n) != (uint32_t)json_integer_value(json_array_get(w, 1))) {
      if (bad++ < 5) fprintf(stderr, "%s: line %zu differs: %.*s\n", m, line + 1, (int)(i - start), text + start);
    }
    free(ids);
    start = i + 1;
    line++;
  }
  CHECK(bad == 0 && line == json_array_size(lines), "%s: %d of %zu lines differ", m, bad, line);
}

/* Pushes ids through d with a 16-byte output buffer, then finishes and
 * drains; the text goes to acc (cap bytes; *got counts all). Returns the
 * number of errors; *bad_utf8 counts chunks that are not whole UTF-8. */
static int stream_ids(const char *m, duet_detok *d, const int *ids, int n, char *acc, size_t cap, size_t *got,
                      int *bad_utf8) {
  char out[16];
  int err = 0;
  *got = 0;
  for (int i = 0; i <= n; i++) {
    for (;;) {
      int r = i < n ? duet_detok_push(d, ids[i], out, sizeof out) : duet_detok_finish(d, out, sizeof out);
      if (r < 0) {
        if (err < 2) fprintf(stderr, "%s: stream error at id %d: %s\n", m, i, duet_last_error());
        err++;
        break;
      }
      *bad_utf8 += duet_utf8_invalid_at(out, (size_t)r) >= 0;
      if (*got + (size_t)r <= cap) memcpy(acc + *got, out, (size_t)r);
      *got += (size_t)r;
      if (i < n || r == 0) break; /* finish: drain until empty */
    }
  }
  return err;
}

/* Streams ids through the detokenizer with a small output buffer: every
 * chunk is whole UTF-8 characters and together they are the full decode. */
static void check_stream(const char *m, duet_tokenizer *t, const int *ids, int n, int skip) {
  char *full;
  size_t full_len;
  duet_tokenizer_decode(t, ids, n, skip, &full, &full_len);
  duet_detok *d;
  duet_detok_new(t, skip, &d);
  size_t cap = 1 << 20, got = 0;
  char *acc = malloc(cap);
  int bad_utf8 = 0, err = stream_ids(m, d, ids, n, acc, cap, &got, &bad_utf8);
  CHECK(!err && !bad_utf8, "%s: stream (skip=%d): %d errors, %d chunks not whole UTF-8", m, skip, err, bad_utf8);
  size_t k = 0;
  while (k < got && k < full_len && acc[k] == full[k]) k++;
  CHECK(got == full_len && k == got, "%s: stream (skip=%d) differs from decode at byte %zu of %zu/%zu", m, skip,
        k, got, full_len);
  duet_detok_free(d);
  free(acc);
  free(full);
}

/* A stream primed with the ids before a split point continues the decode
 * of the whole: decode(prefix) + stream == decode(all), wherever
 * decode(prefix) is a prefix of decode(all) (a split inside a character
 * or a clean-up rule is not). SentencePiece's first-token space survives. */
static void check_prime(const char *m, duet_tokenizer *t, const int *ids, int n) {
  char *full, *pre, *acc = malloc(1 << 20);
  size_t full_len, pre_len, got = 0;
  int tried = 0, bad = 0, bad_utf8 = 0, err = 0;
  duet_tokenizer_decode(t, ids, n, 1, &full, &full_len);
  for (int s = 1; s < 24; s++) {
    int k = (int)((long)n * s / 24);
    if (duet_tokenizer_decode(t, ids, k, 1, &pre, &pre_len) == 0 && pre_len <= full_len &&
        memcmp(pre, full, pre_len) == 0) {
      duet_detok *d;
      duet_detok_new(t, 1, &d);
      err += duet_detok_prime(d, ids, k) != 0;
      err += stream_ids(m, d, ids + k, n - k, acc, 1 << 20, &got, &bad_utf8);
      bad += got != full_len - pre_len || memcmp(acc, full + pre_len, got) != 0;
      tried++;
      duet_detok_free(d);
    }
    free(pre);
  }
  CHECK(tried >= 12 && !bad && !err && !bad_utf8, "%s: primed streams: %d of %d differ, %d errors, %d not UTF-8", m,
        bad, tried, err, bad_utf8);
  free(full);
  free(acc);
}

/* Logprobs' token bytes: joined over ids[1..n) they are what those ids add
 * to the decode of ids[0] (tokenizers without clean-up); byte tokens give
 * their raw bytes, pieces of characters included. */
static void check_token_bytes(const char *m, duet_tokenizer *t, const int *ids, int n) {
  char *full, *first, *b;
  size_t full_len, first_len, bl, got = 0, cap = 1 << 20;
  char *acc = malloc(cap);
  int err = 0;
  duet_tokenizer_decode(t, ids, n, 0, &full, &full_len);
  duet_tokenizer_decode(t, ids, 1, 0, &first, &first_len);
  for (int i = 1; i < n; i++) {
    if (duet_tokenizer_token_bytes(t, ids[i], &b, &bl) != 0) {
      err++;
      continue;
    }
    if (got + bl <= cap) memcpy(acc + got, b, bl);
    got += bl;
    free(b);
  }
  CHECK(!err && first_len + got == full_len && memcmp(full, first, first_len) == 0 &&
            memcmp(full + first_len, acc, got) == 0,
        "%s: token bytes joined differ from the decode (%d errors, %zu+%zu vs %zu bytes)", m, err, first_len, got,
        full_len);
  free(full);
  free(first);
  free(acc);
}

/* Text the detokenizer may still hold back with clean-up on: no three
 * non-space bytes in a row (past those it can always release). */
static int holdable(const char *s, size_t n) {
  int run = 0;
  for (size_t i = 0; i < n; i++) {
    run = s[i] == ' ' ? 0 : run + 1;
    if (run >= 4 && (s[i] & 0xC0) != 0x80) return 0;
  }
  return 1;
}

/* Latency: after each of the first ids, what was streamed is the decode
 * of the ids so far, less at most one pending (incomplete) character, or
 * with clean-up of tokenization spaces, less a short holdable tail. */
static void check_stream_latency(const char *m, duet_tokenizer *t, const int *ids, int n, int cleanup) {
  duet_detok *d;
  duet_detok_new(t, 0, &d);
  char out[4096], *acc = malloc(1 << 16);
  size_t got = 0;
  int late = 0;
  for (int i = 0; i < n && i < 700; i++) {
    int r = duet_detok_push(d, ids[i], out, sizeof out);
    if (r > 0 && got + (size_t)r < (1 << 16)) memcpy(acc + got, out, (size_t)r);
    got += r > 0 ? (size_t)r : 0;
    char *dec;
    size_t dl;
    duet_tokenizer_decode(t, ids, i + 1, 0, &dec, &dl);
    int ok = dl >= got && memcmp(dec, acc, got) == 0 && (cleanup ? holdable(dec + got, dl - got) : dl - got <= 3);
    if (!ok && late++ < 3)
      fprintf(stderr, "%s: after id %d streamed %zu bytes of %zu\n", m, i, got, dl);
    free(dec);
  }
  CHECK(late == 0, "%s: streaming held back complete text %d times", m, late);
  duet_detok_free(d);
  free(acc);
}

/* m: one of the real tokenizers (in the npm cache) or a synthetic one
 * (fixtures/tokenizer/m); cleanup: its config asks for clean-up of
 * tokenization spaces. */
/* Random id sequences, biased to single-byte tokens so that broken and
 * incomplete UTF-8 is common: the stream still matches the full decode. */
static void check_stream_random(const char *m, duet_tokenizer *t) {
  int bytes[256], nb = 0, vocab = duet_tokenizer_vocab_size(t);
  for (int b = 0; b < 256 && nb < 256; b++) {
    char name[8];
    snprintf(name, sizeof name, "<0x%02X>", b);
    int id = duet_tokenizer_token_id(t, name);
    if (id >= 0) bytes[nb++] = id;
  }
  /* Byte-level: tokens that alone decode to U+FFFD are single high bytes. */
  int byte_level = nb == 0;
  for (int id = 0; byte_level && nb < 64 && id < vocab && id < 400; id++) {
    char *text = NULL;
    size_t tl;
    if (duet_tokenizer_decode(t, &id, 1, 0, &text, &tl) == 0 && tl == 3 && memcmp(text, "\xEF\xBF\xBD", 3) == 0)
      bytes[nb++] = id;
    free(text);
  }
  unsigned seed = 12345;
  for (int r = 0; r < 150; r++) {
    int ids[40];
    for (int i = 0; i < 40; i++) {
      seed = seed * 1103515245u + 12345u;
      unsigned x = seed >> 8;
      ids[i] = (x % 3 && nb) ? bytes[x / 3 % (unsigned)nb] : (int)(x / 3 % (unsigned)vocab);
    }
    check_stream(m, t, ids, 40, (int)(seed >> 30) & 1);
  }
}

static void test_model(const char *m, const char *text, size_t len, int cleanup) {
  char dir[4096], path[512];
  if (strncmp(m, "synthetic", 9) == 0) {
    snprintf(dir, sizeof dir, "fixtures/tokenizer/%s", m);
  } else if (model_dir(m, dir, sizeof dir)) {
    CHECK(0, "%s: reference tokenizer files missing", m);
    return;
  }
  snprintf(path, sizeof path, "fixtures/tokenizer/expected_%s.json", m);
  json_error_t jerr;
  json_t *want = json_load_file(path, 0, &jerr);
  CHECK(want != NULL, "%s: %s", path, jerr.text);
  duet_tokenizer *t = NULL;
  double t0 = now();
  int rc = duet_tokenizer_load(dir, &t);
  CHECK(rc == 0, "%s: load: %s", m, duet_last_error());
  if (!want || rc) {
    json_decref(want);
    return;
  }
  double t1 = now();
  int *ids = NULL, n = 0, *ids_sp = NULL, n_sp = 0;
  rc = duet_tokenizer_encode(t, text, len, 0, &ids, &n);
  CHECK(rc == 0, "%s: encode: %s", m, duet_last_error());
  check_ids(m, ids, n, json_object_get(want, "ids"));
  rc = duet_tokenizer_encode(t, text, len, 1, &ids_sp, &n_sp);
  CHECK(rc == 0, "%s: encode with special: %s", m, duet_last_error());
  check_hash(m, "ids with special tokens", (size_t)n_sp, fnv_ids(ids_sp, n_sp), json_object_get(want, "ids_special"));
  double t2 = now();
  check_lines(m, t, text, len, json_object_get(want, "lines"));

  char *dec = NULL;
  size_t dl = 0;
  rc = duet_tokenizer_decode(t, ids, n, 0, &dec, &dl);
  const char *wd = json_string_value(json_object_get(want, "decode"));
  size_t wl = json_string_length(json_object_get(want, "decode")), k = 0;
  while (rc == 0 && k < dl && k < wl && dec[k] == wd[k]) k++;
  CHECK(rc == 0 && dl == wl && k == dl, "%s: decode differs at byte %zu (%zu vs %zu): ...%.40s", m, k, dl, wl,
        rc ? "" : dec + (k > 20 ? k - 20 : 0));
  free(dec);
  for (int skip = 0; skip <= 1; skip++) {
    rc = duet_tokenizer_decode(t, ids_sp, n_sp, skip, &dec, &dl);
    check_hash(m, skip ? "decode skipping special" : "decode with special", rc ? 0 : dl, rc ? 0 : fnv_bytes(dec, dl),
               json_object_get(want, skip ? "decode_skip_special" : "decode_special"));
    free(dec);
    check_stream(m, t, ids_sp, n_sp, skip);
  }
  check_stream_latency(m, t, ids_sp, n_sp, cleanup);
  check_prime(m, t, ids_sp, n_sp);
  if (!cleanup) check_token_bytes(m, t, ids, n);
  check_stream_random(m, t);
  printf("%s: load %.2f s, encode %.1f MB/s, %d ids\n", m, t1 - t0, 2 * len / (t2 - t1) / 1e6, n);
  free(ids);
  free(ids_sp);
  duet_tokenizer_free(t);
  json_decref(want);
}

int main(void) {
  size_t len = 0, slen = 0;
  char *text, *stext;
  CHECK_OK(duet_read_file("fixtures/tokenizer/text.txt", &text, &len));
  CHECK_OK(duet_read_file("fixtures/tokenizer/text_synthetic.txt", &stext, &slen));
  if (text && stext) {
    test_model("llama2", text, len, 0);
    test_model("llama3", text, len, 1);
    test_model("qwen3", text, len, 0);
    test_model("gpt2", text, len, 1);
    test_model("gpt4o", text, len, 0);
    test_model("synthetic_bytelevel", stext, slen, 0);
    test_model("synthetic_sp", stext, slen, 1);
  }
  free(text);
  free(stext);
  return finish();
}
