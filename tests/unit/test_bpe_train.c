// BPE training (engine/bpe_train.h): a hand-checked merge sequence,
// determinism (same corpus -> byte-identical files), every merge valid,
// pre-tokenizer and special-token boundaries never merged across, refusals,
// the written tokenizer.json / tokenizer_config.json, and a round trip
// through duet's tokenizer whose ids must equal a naive reference BPE
// (regex split + lowest-rank merge first) written here.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "engine/bpe_train.h"
#include "engine/chat_template.h"
#include "engine/error.h"
#include "engine/read_file.h"
#include "engine/tokenizer.h"

#include "unit_check.h"

/* A small corpus: prose, numbers, punctuation, contractions, UTF-8. */
static const char CORPUS[] =
    "In the beginning God created the heaven and the earth. And the earth was without form, and void; "
    "and darkness was upon the face of the deep. And God said, Let there be light: and there was light.\n"
    "It's 1234567 o'clock, isn't it? They'll say we've done 42 things 3 times.\n"
    "  Indented   text\twith\ttabs\r\nand CRLF lines.\n"
    "Caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80 "
    "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 the the the and and and light light.\n";

static duet_bpe_trainer *train(const char *text, size_t len, int vocab) {
  duet_bpe_trainer *t = NULL;
  int rc = duet_bpe_trainer_new(vocab, &t);
  if (rc == DUET_OK) rc = duet_bpe_trainer_feed(t, text, len, "corpus");
  if (rc == DUET_OK) rc = duet_bpe_trainer_run(t);
  CHECK(rc == DUET_OK, "training: %s", duet_last_error());
  if (rc != DUET_OK) duet_bpe_trainer_free(t);
  return rc == DUET_OK ? t : NULL;
}

static int token_is(const duet_bpe_trainer *t, int id, const char *s) {
  size_t n;
  const char *tok = duet_bpe_trainer_token(t, id, &n);
  return tok && n == strlen(s) && !memcmp(tok, s, n);
}

/* aaabdaaabac: a+a (4), then a+b (ties with aa+a at 2: smaller ids win), then aa+ab. */
static void test_hand_checked(void) {
  duet_bpe_trainer *t = train("aaabdaaabac", 11, 263);
  if (!t) return;
  CHECK(duet_bpe_trainer_n_merges(t) == 3 && duet_bpe_trainer_vocab_size(t) == 263, "merges %d vocab %d",
        duet_bpe_trainer_n_merges(t), duet_bpe_trainer_vocab_size(t));
  const char *want[3] = {"aa", "ab", "aaab"};
  for (int i = 0; i < 3; i++) {
    int a, b, r;
    int rc = duet_bpe_trainer_merge(t, i, &a, &b, &r);
    CHECK(rc == DUET_OK && r == 260 + i && token_is(t, r, want[i]), "merge %d makes id %d, want '%s' at %d", i, r,
          want[i], 260 + i);
  }
  CHECK(token_is(t, 0, "<|endoftext|>") && token_is(t, 1, "<|bos|>"), "special token ids");
  CHECK(token_is(t, 4, "!"), "first byte token is '!' (lowest byte-level code point)");
  duet_bpe_trainer_free(t);
  /* a corpus exhausted before the requested size stops cleanly */
  t = train("ab", 2, 4000);
  if (t) CHECK(duet_bpe_trainer_vocab_size(t) == 261, "exhausted corpus: vocab %d", duet_bpe_trainer_vocab_size(t));
  duet_bpe_trainer_free(t);
}

static void test_merges_valid(const duet_bpe_trainer *t) {
  int nm = duet_bpe_trainer_n_merges(t), ok = 1, max_id = 259;
  for (int i = 0; i < nm && ok; i++) {
    int a, b, r;
    size_t la, lb, lr;
    duet_bpe_trainer_merge(t, i, &a, &b, &r);
    const char *sa = duet_bpe_trainer_token(t, a, &la), *sb = duet_bpe_trainer_token(t, b, &lb);
    const char *sr = duet_bpe_trainer_token(t, r, &lr);
    ok = sa && sb && sr && a >= 4 && b >= 4 && a <= max_id && b <= max_id && lr == la + lb &&
         !memcmp(sr, sa, la) && !memcmp(sr + la, sb, lb);
    if (r > max_id) ok = ok && r == max_id + 1, max_id = r;
    CHECK(ok, "merge %d: %d + %d -> %d is not valid", i, a, b, r);
    /* no token spans a pre-tokenizer boundary: 4+ digits, or a special token */
    ok = ok && !memmem(sr, lr, "<|", 2);
    for (size_t k = 0; ok && k + 4 <= lr; k++)
      ok = !(sr[k] >= '0' && sr[k] <= '9' && sr[k + 1] >= '0' && sr[k + 1] <= '9' && sr[k + 2] >= '0' &&
             sr[k + 2] <= '9' && sr[k + 3] >= '0' && sr[k + 3] <= '9');
    CHECK(ok, "token %d spans a boundary", r);
  }
}

static void same_file(const char *d1, const char *d2, const char *name) {
  char p1[512], p2[512];
  size_t n1, n2;
  snprintf(p1, sizeof p1, "%s/%s", d1, name);
  snprintf(p2, sizeof p2, "%s/%s", d2, name);
  char *a, *b;
  CHECK_OK(duet_read_file(p1, &a, &n1));
  CHECK_OK(duet_read_file(p2, &b, &n2));
  CHECK(a && b && n1 == n2 && !memcmp(a, b, n1), "%s differs between two trainings", name);
  free(a);
  free(b);
}

/* Reference BPE: split with the regex (special tokens cut out first, as
 * their own ids), then within each piece merge the lowest-ranked adjacent
 * pair until none is left. Quadratic, fine for a test. */
static int ref_encode(const duet_bpe_trainer *t, const char *text, size_t len, int *ids) {
  int n = 0, errcode;
  PCRE2_SIZE erroff;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)duet_bpe_split_regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                                 &errcode, &erroff, NULL);
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  int byte_id[256];
  for (int id = 4; id < 260; id++) byte_id[(unsigned char)*duet_bpe_trainer_token(t, id, NULL)] = id;
  size_t off = 0;
  while (off < len) {
    size_t end = len;
    int special = -1;
    for (size_t k = off; k < len && special < 0; k++)
      for (int s = 0; s < DUET_BPE_N_SPECIAL; s++)
        if (!strncmp(text + k, duet_bpe_special_tokens[s], strlen(duet_bpe_special_tokens[s]))) special = s, end = k;
    size_t pos = off;
    while (pos < end && pcre2_match(re, (PCRE2_SPTR)text, end, pos, 0, md, NULL) > 0) {
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
      int start = n;
      for (size_t k = ov[0]; k < ov[1]; k++) ids[n++] = byte_id[(unsigned char)text[k]];
      for (;;) { /* merge the best-ranked pair */
        int best = -1, at = -1;
        for (int k = start; k + 1 < n; k++)
          for (int m = 0; m < duet_bpe_trainer_n_merges(t) && (best < 0 || m < best); m++) {
            int a, b, r;
            duet_bpe_trainer_merge(t, m, &a, &b, &r);
            if (a == ids[k] && b == ids[k + 1]) best = m, at = k;
          }
        if (best < 0) break;
        int a, b, r;
        duet_bpe_trainer_merge(t, best, &a, &b, &r);
        ids[at] = r;
        memmove(ids + at + 1, ids + at + 2, (size_t)(n - at - 2) * sizeof *ids);
        n--;
      }
      pos = ov[1];
    }
    if (special >= 0) ids[n++] = special, end += strlen(duet_bpe_special_tokens[special]);
    off = end;
  }
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return n;
}

static void test_files_and_round_trip(const duet_bpe_trainer *t, const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  json_t *j = json_load_file(path, 0, NULL);
  json_t *model = json_object_get(j, "model");
  CHECK(json_is_object(model) && !strcmp(json_string_value(json_object_get(model, "type")), "BPE") &&
            json_object_size(json_object_get(model, "vocab")) == (size_t)duet_bpe_trainer_vocab_size(t) &&
            json_array_size(json_object_get(model, "merges")) == (size_t)duet_bpe_trainer_n_merges(t) &&
            json_is_false(json_object_get(model, "byte_fallback")) &&
            json_is_false(json_object_get(model, "ignore_merges")) &&
            json_array_size(json_object_get(j, "added_tokens")) == DUET_BPE_N_SPECIAL,
        "tokenizer.json model section");
  json_decref(j);
  /* the chat template written beside it loads and renders ChatML */
  duet_chat_template *ct = NULL;
  char *out = NULL;
  json_t *msgs = json_loads("[{\"role\": \"user\", \"content\": \"hi\"}]", 0, NULL);
  int rc = duet_chat_template_load(dir, &ct);
  if (rc == DUET_OK) rc = duet_chat_template_render(ct, msgs, 1, &out);
  CHECK(rc == DUET_OK && !strcmp(out, "<|bos|><|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"),
        "chat template: %s", out ? out : duet_last_error());
  free(out);
  json_decref(msgs);
  duet_chat_template_free(ct);

  duet_tokenizer *tk = NULL;
  rc = duet_tokenizer_load(dir, &tk);
  CHECK(rc == DUET_OK, "duet tokenizer loads the trained files: %s", duet_last_error());
  if (rc != DUET_OK) return;
  static const char text[] = "And God said, It's 98765 o'clock!\n\n  Caf\xc3\xa9 \xf0\x9f\x98\x80 zzyzx<|im_start|>user\nhi<|im_end|>";
  int *ids = NULL, nids = 0, ref[sizeof text];
  rc = duet_tokenizer_encode(tk, text, sizeof text - 1, 0, &ids, &nids);
  int nref = ref_encode(t, text, sizeof text - 1, ref);
  int same = rc == DUET_OK && nids == nref && !memcmp(ids, ref, (size_t)nref * sizeof *ref);
  CHECK(same, "duet tokenizer ids (%d) differ from the reference BPE (%d)", nids, nref);
  char *dec = NULL;
  size_t dlen = 0;
  if (rc == DUET_OK) rc = duet_tokenizer_decode(tk, ids, nids, 0, &dec, &dlen);
  CHECK(rc == DUET_OK && dlen == sizeof text - 1 && !memcmp(dec, text, dlen), "decode(encode(text)) != text");
  free(dec);
  free(ids);
  rc = duet_tokenizer_encode(tk, "hi", 2, 1, &ids, &nids);
  CHECK(rc == DUET_OK && nids >= 2 && ids[0] == 1, "add_special puts <|bos|> (id 1) first");
  CHECK(duet_tokenizer_bos_id(tk) == 1 && duet_tokenizer_eos_id(tk) == 0, "bos/eos ids %d/%d",
        duet_tokenizer_bos_id(tk), duet_tokenizer_eos_id(tk));
  free(ids);
  duet_tokenizer_free(tk);
}

static void test_refusals(void) {
  duet_bpe_trainer *t = NULL;
  CHECK(duet_bpe_trainer_new(100, &t) == DUET_EINVAL && !t, "vocab 100 refused");
  CHECK(duet_bpe_trainer_new(300, &t) == DUET_OK, "vocab 300");
  int rc = duet_bpe_trainer_feed(t, "ok \xff\xfe bad", 9, "bad.txt");
  CHECK(rc == DUET_EFORMAT && strstr(duet_last_error(), "bad.txt: invalid UTF-8 at byte 3"), "invalid UTF-8: %s",
        duet_last_error());
  rc = duet_bpe_trainer_feed_file(t, "fixtures/bpe/no-such-file.txt");
  CHECK(rc == DUET_EIO && strstr(duet_last_error(), "no-such-file"), "missing file: %d", rc);
  CHECK(duet_bpe_trainer_run(t) == DUET_OK, "run");
  CHECK(duet_bpe_trainer_feed(t, "x", 1, "late") == DUET_EINVAL, "feed after run refused");
  int a, b, r;
  CHECK(duet_bpe_trainer_merge(t, 999, &a, &b, &r) == DUET_ERANGE, "merge index out of range");
  CHECK(duet_bpe_trainer_write(t, "/nonexistent-dir/x", 2048) < 0, "write into a missing directory fails");
  duet_bpe_trainer_free(t);
  char *argv[] = {"tokenizer", "--vocab-size", "12", "--out", "/tmp/x", NULL};
  CHECK(duet_bpe_train_cli(5, argv) == 2, "cli refuses a bad vocab size without --data");
}

int main(void) {
  test_hand_checked();
  test_refusals();
  /* the corpus, with special tokens between documents */
  size_t n = 0;
  char *corpus = malloc(40 * sizeof CORPUS);
  for (int k = 0; k < 20; k++) {
    memcpy(corpus + n, CORPUS, sizeof CORPUS - 1), n += sizeof CORPUS - 1;
    memcpy(corpus + n, "<|endoftext|>", 13), n += 13;
  }
  char d1[] = "/tmp/duet-bpe-XXXXXX", d2[] = "/tmp/duet-bpe-XXXXXX";
  duet_bpe_trainer *t1 = train(corpus, n, 400), *t2 = train(corpus, n, 400);
  if (t1 && t2 && mkdtemp(d1) && mkdtemp(d2)) {
    CHECK(duet_bpe_trainer_vocab_size(t1) == 400, "vocab %d", duet_bpe_trainer_vocab_size(t1));
    test_merges_valid(t1);
    CHECK(duet_bpe_trainer_write(t1, d1, 512) == DUET_OK && duet_bpe_trainer_write(t2, d2, 512) == DUET_OK,
          "write: %s", duet_last_error());
    same_file(d1, d2, "tokenizer.json");
    same_file(d1, d2, "tokenizer_config.json");
    test_files_and_round_trip(t1, d1);
    const char *names[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int k = 0; k < 2; k++) {
      char p[512];
      snprintf(p, sizeof p, "%s/%s", d1, names[k]), unlink(p);
      snprintf(p, sizeof p, "%s/%s", d2, names[k]), unlink(p);
    }
    rmdir(d1);
    rmdir(d2);
  }
  duet_bpe_trainer_free(t1);
  duet_bpe_trainer_free(t2);
  free(corpus);
  return finish();
}
