/* Malformed and hostile tokenizer.json / tokenizer_config.json files are
 * refused with a clear error (the right code and a message naming the
 * part), never a crash; bad encode / decode arguments likewise. Also the
 * single_word option of added tokens, which the reference ignores (so the
 * exactness test cannot cover it). */
#include "engine/error.h"
#include "engine/tokenizer.h"
#include "test_tokenizer_util.h"

#include <jansson.h>
#include <unistd.h>

static char dir[64];

static const char *base_json =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":3,\"content\":\"<s>\",\"special\":true}],"
    "\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"<s>\":3},\"merges\":[\"a b\"]}}";

static void write_text(const char *name, const char *text) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  fputs(text, f);
  fclose(f);
}

/* Loads dir with tokenizer.json = text; expects error code want whose
 * message contains needle. */
static void expect_error(const char *what, const char *text, int want, const char *needle) {
  write_text("tokenizer.json", text);
  duet_tokenizer *t = NULL;
  int rc = duet_tokenizer_load(dir, &t);
  const char *msg = duet_last_error();
  CHECK(rc == want && t == NULL && strstr(msg, needle), "%s: rc %d (want %d), message \"%s\" (want \"%s\")", what,
        rc, want, msg, needle);
  duet_tokenizer_free(t);
}

/* The base file with one field replaced (path like "model.vocab"). */
static void expect_patched(const char *what, const char *obj_path, const char *key, const char *value_json, int want,
                           const char *needle) {
  json_t *root = json_loads(base_json, 0, NULL), *obj = root;
  char buf[128];
  snprintf(buf, sizeof buf, "%s", obj_path);
  for (char *p = strtok(buf, "."); p && obj; p = strtok(NULL, ".")) obj = json_object_get(obj, p);
  json_t *v = json_loads(value_json, JSON_DECODE_ANY, NULL);
  CHECK(obj && v, "%s: bad test setup", what);
  if (obj && v) json_object_set_new(obj, key, v);
  char *text = json_dumps(root, 0);
  expect_error(what, text, want, needle);
  free(text);
  json_decref(root);
}

static void test_files(void) {
  expect_error("empty file", "", DUET_EFORMAT, "tokenizer.json");
  expect_error("truncated", "{\"model\": {\"type\": \"BPE\", \"vocab\": {", DUET_EFORMAT, "tokenizer.json");
  expect_error("array root", "[1, 2]", DUET_EFORMAT, "not a JSON object");
  expect_error("no model", "{\"normalizer\": null}", DUET_EFORMAT, "model");
  char deep[5000];
  memset(deep, '[', 4000);
  deep[4000] = 0;
  expect_error("deep nesting", deep, DUET_EFORMAT, "tokenizer.json");
  expect_error("bad UTF-8", "{\"model\": {\"vocab\": {\"\xff\": 0}}}", DUET_EFORMAT, "tokenizer.json");
}

static void test_model_fields(void) {
  expect_patched("model type", "model", "type", "\"WordPiece\"", DUET_EUNSUPPORTED, "WordPiece");
  expect_patched("vocab type", "model", "vocab", "[1,2]", DUET_EFORMAT, "vocab");
  expect_patched("negative id", "model", "vocab", "{\"a\": -1}", DUET_EFORMAT, "vocab");
  expect_patched("string id", "model", "vocab", "{\"a\": \"0\"}", DUET_EFORMAT, "vocab");
  expect_patched("huge id", "model", "vocab", "{\"a\": 4000000000}", DUET_EFORMAT, "vocab");
  expect_patched("merges type", "model", "merges", "{}", DUET_EFORMAT, "merges");
  expect_patched("merge item", "model", "merges", "[3]", DUET_EFORMAT, "merges[0]");
  expect_patched("merge no space", "model", "merges", "[\"ab\"]", DUET_EFORMAT, "merges[0]");
  expect_patched("merge unknown", "model", "merges", "[\"a c\"]", DUET_EFORMAT, "missing from the vocabulary");
  expect_patched("merge result", "model", "merges", "[\"b a\"]", DUET_EFORMAT, "not in the vocabulary");
  expect_patched("dropout", "model", "dropout", "0.1", DUET_EUNSUPPORTED, "dropout");
  expect_patched("byte_fallback type", "model", "byte_fallback", "\"yes\"", DUET_EFORMAT, "byte_fallback");
}

static void test_components(void) {
  expect_patched("normalizer", "", "normalizer", "{\"type\":\"Lowercase\"}", DUET_EUNSUPPORTED, "Lowercase");
  expect_patched("normalizer in sequence", "", "normalizer",
                 "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Precompiled\"}]}",
                 DUET_EUNSUPPORTED, "Precompiled");
  expect_patched("normalizer no type", "", "normalizer", "{\"prepend\":\"x\"}", DUET_EFORMAT, "type");
  expect_patched("pre_tokenizer", "", "pre_tokenizer", "{\"type\":\"BertPreTokenizer\"}", DUET_EUNSUPPORTED,
                 "BertPreTokenizer");
  expect_patched("bad regex", "", "pre_tokenizer",
                 "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\\\\p{L\"},\"behavior\":\"Isolated\"}",
                 DUET_EFORMAT, "regex");
  expect_patched("split behavior", "", "pre_tokenizer",
                 "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Sideways\"}",
                 DUET_EUNSUPPORTED, "Sideways");
  expect_patched("pattern shape", "", "pre_tokenizer", "{\"type\":\"Split\",\"pattern\":\" \"}", DUET_EFORMAT,
                 "pattern");
  expect_patched("after ByteLevel", "", "pre_tokenizer",
                 "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\"},{\"type\":\"Digits\"}]}",
                 DUET_EUNSUPPORTED, "after ByteLevel");
  expect_patched("metaspace", "", "pre_tokenizer", "{\"type\":\"Metaspace\",\"replacement\":\"ab\"}", DUET_EFORMAT,
                 "one character");
  expect_patched("decoder", "", "decoder", "{\"type\":\"CTC\"}", DUET_EUNSUPPORTED, "CTC");
  expect_patched("strip", "", "decoder", "{\"type\":\"Strip\",\"content\":\" \",\"start\":\"1\"}", DUET_EFORMAT,
                 "start");
  expect_patched("post_processor", "", "post_processor", "{\"type\":\"Foo\"}", DUET_EUNSUPPORTED, "Foo");
  expect_patched("template token", "", "post_processor",
                 "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<x>\"}}]}", DUET_EFORMAT,
                 "<x>");
  char nest[4096] = "", *p = nest;
  for (int i = 0; i < 40; i++) p += sprintf(p, "{\"type\":\"Sequence\",\"decoders\":[");
  p += sprintf(p, "{\"type\":\"Fuse\"}");
  for (int i = 0; i < 40; i++) p += sprintf(p, "]}");
  expect_patched("deep Sequences", "", "decoder", nest, DUET_EFORMAT, "too deep");
  expect_patched("added tokens", "", "added_tokens", "[{\"id\":\"x\",\"content\":\"<s>\"}]", DUET_EFORMAT,
                 "added_tokens[0]");
  expect_patched("added empty", "", "added_tokens", "[{\"id\":5,\"content\":\"\"}]", DUET_EFORMAT, "empty");
}

static void test_config(void) {
  write_text("tokenizer.json", base_json);
  write_text("tokenizer_config.json", "{\"bos_token\": ");
  duet_tokenizer *t = NULL;
  int rc = duet_tokenizer_load(dir, &t);
  CHECK(rc == DUET_EFORMAT && strstr(duet_last_error(), "tokenizer_config.json"), "config: %d %s", rc,
        duet_last_error());
  write_text("tokenizer_config.json", "{\"bos_token\": \"<nope>\"}");
  rc = duet_tokenizer_load(dir, &t);
  CHECK(rc == DUET_EFORMAT && strstr(duet_last_error(), "<nope>"), "config bos: %d %s", rc, duet_last_error());
  write_text("tokenizer_config.json", "{\"bos_token\": {\"content\": \"<s>\"}, \"add_bos_token\": true, "
                                      "\"model_max_length\": 1000000000000000019884624838656}");
  rc = duet_tokenizer_load(dir, &t);
  CHECK(rc == 0 && duet_tokenizer_bos_id(t) == 3, "config ok: %d %s", rc, duet_last_error());
  if (rc) return;
  int *ids = NULL, n = 0;
  rc = duet_tokenizer_encode(t, "aab\xff", 4, 1, &ids, &n);
  CHECK(rc == DUET_EINVAL && strstr(duet_last_error(), "UTF-8"), "invalid UTF-8 input: %d", rc);
  rc = duet_tokenizer_encode(t, "aab<s>b", 7, 1, &ids, &n);
  CHECK(rc == 0 && n == 5 && ids[0] == 3 && ids[1] == 0 && ids[2] == 2 && ids[3] == 3 && ids[4] == 1,
        "encode with added token: rc %d n %d", rc, n);
  free(ids);
  char *text;
  size_t len;
  int bad[] = {0, 99};
  rc = duet_tokenizer_decode(t, bad, 2, 0, &text, &len);
  CHECK(rc == DUET_ERANGE && text == NULL, "decode out of range: %d", rc);
  duet_detok *d;
  char out[8];
  duet_detok_new(t, 0, &d);
  CHECK(duet_detok_push(d, -5, out, sizeof out) == DUET_ERANGE, "detok bad id");
  duet_detok_free(d);
  int padded[] = {0, -1, 99, 1}; /* a prompt with ids past the tokenizer's vocabulary: no text, no error */
  duet_detok_new(t, 0, &d);
  CHECK(duet_detok_prime(d, padded, 4) == 0, "detok prime with ids past the vocabulary: %s", duet_last_error());
  CHECK(duet_detok_prime(d, padded, 4) == DUET_EINVAL, "detok primed twice");
  duet_detok_free(d);
  char *tb;
  size_t tbl;
  CHECK(duet_tokenizer_token_bytes(t, 99, &tb, &tbl) == DUET_ERANGE && tb == NULL, "token bytes out of range");
  CHECK(duet_tokenizer_token_id(t, "zzz") == DUET_ENOENT, "unknown token string");
  duet_tokenizer_free(t);
  unlink("tokenizer_config.json");
}

/* "ab" (id 4) as a single_word added token over the base model, whose
 * BPE alone makes "ab" id 2. */
static void test_single_word(void) {
  json_t *root = json_loads(base_json, 0, NULL);
  json_array_append_new(json_object_get(root, "added_tokens"),
                        json_pack("{s:i,s:s,s:b}", "id", 4, "content", "ab", "single_word", 1));
  char *text = json_dumps(root, 0);
  write_text("tokenizer.json", text);
  free(text);
  json_decref(root);
  duet_tokenizer *t = NULL;
  int rc = duet_tokenizer_load(dir, &t);
  CHECK(rc == 0, "single_word load: %s", duet_last_error());
  if (rc) return;
  static const struct {
    const char *in;
    int n, ids[4];
  } cases[] = {{"ab", 1, {4}}, {"aab", 2, {0, 2}}, {"ab\xc3\xa9", 1, {2}}, {"ab.a", 2, {4, 0}}, {"b ab", 2, {1, 4}}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int *ids = NULL, n = 0;
    rc = duet_tokenizer_encode(t, cases[c].in, strlen(cases[c].in), 0, &ids, &n);
    int ok = rc == 0 && n == cases[c].n;
    for (int i = 0; ok && i < n; i++) ok = ids[i] == cases[c].ids[i];
    CHECK(ok, "single_word \"%s\": rc %d, %d ids, first %d", cases[c].in, rc, n, n ? ids[0] : -1);
    free(ids);
  }
  duet_tokenizer_free(t);
}

/* A vocabulary key "\u0000" (InternLM2 has one; jansson cannot hold it):
 * loaded as the one-byte token NUL, beside a key that already holds the
 * first sentinel candidate U+FDD0 and a key "\\u0000" (a backslash, then
 * "u0000") that must stay as it is. A NUL in a value is still refused. */
static void test_nul_key(void) {
  char cfg[128];
  snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
  unlink(cfg); /* an earlier test's, naming tokens this vocabulary lacks */
  write_text("tokenizer.json",
             "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"\\u0000\":1,\"\\ufdd0\":2,"
             "\"\\\\u0000\":3},\"merges\":[]}}");
  duet_tokenizer *t = NULL;
  int rc = duet_tokenizer_load(dir, &t);
  CHECK(rc == 0, "NUL key: %s", duet_last_error());
  int *ids = NULL, n = 0;
  if (!rc) rc = duet_tokenizer_encode(t, "a\0a\xef\xb7\x90", 6, 0, &ids, &n);
  CHECK(rc == 0 && n == 4 && ids[0] == 0 && ids[1] == 1 && ids[2] == 0 && ids[3] == 2, "NUL key encode: rc %d n %d", rc,
        n);
  free(ids);
  char *b = NULL;
  size_t bl = 0;
  /* without a decoder, a token mid-text reads after a space */
  CHECK(t && duet_tokenizer_token_bytes(t, 1, &b, &bl) == 0 && bl == 2 && !memcmp(b, " \0", 2), "NUL key is one NUL byte");
  free(b);
  CHECK(t && duet_tokenizer_token_bytes(t, 3, &b, &bl) == 0 && bl == 7 && !memcmp(b, " \\u0000", 7),
        "an escaped backslash before u0000 is not a NUL");
  free(b);
  duet_tokenizer_free(t);
  expect_error("NUL in a value", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}},\"normalizer\":\"\\u0000\"}",
               DUET_EFORMAT, "NUL");
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/duet-tok-err-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  duet_tokenizer *t = NULL;
  CHECK(duet_tokenizer_load(dir, &t) == DUET_ENOENT, "no tokenizer.json: %s", duet_last_error());
  CHECK(duet_tokenizer_load("/nonexistent/dir", &t) == DUET_ENOENT, "no dir");
  test_files();
  test_model_fields();
  test_components();
  test_config();
  test_single_word();
  test_nul_key();
  char path[128];
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
  unlink(path);
  rmdir(dir);
  return finish();
}
