/* Loading a Hugging Face tokenizer.json (+ tokenizer_config.json) into the
 * pipeline of engine/tokenizer/: normalizer -> added-token split ->
 * pre-tokenizer -> BPE -> post-processor, and the decoder chain back. */
#include "engine/tokenizer.h"

#include "engine/error.h"
#include "engine/read_file.h"
#include "engine/tokenizer/json_util.h"
#include "engine/tokenizer/tokenizer_impl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int duet_tokenizer_lookup(const void *ctx, const char *s, size_t len) {
  const duet_tokenizer *t = ctx;
  int a = duet_added_find(&t->added, s, len);
  return a >= 0 ? t->added.tok[a].id : duet_bpe_token_id(&t->bpe, s, len);
}

static int load_added_one(duet_tokenizer *t, json_t *j, size_t i) {
  json_t *c = json_object_get(j, "content"), *id = json_object_get(j, "id");
  if (!json_is_string(c) || !json_is_integer(id) || json_integer_value(id) < 0 ||
      json_integer_value(id) >= (1 << 24))
    return duet_error(DUET_EFORMAT, "tokenizer.json: added_tokens[%zu] needs a string content and an id", i);
  duet_added a = {.content = (char *)json_string_value(c), .len = json_string_length(c),
                  .id = (int)json_integer_value(id)};
  int rc = duet_json_bool(j, "special", "added_tokens[]", 0, &a.special);
  rc = rc ? rc : duet_json_bool(j, "lstrip", "added_tokens[]", 0, &a.lstrip);
  rc = rc ? rc : duet_json_bool(j, "rstrip", "added_tokens[]", 0, &a.rstrip);
  rc = rc ? rc : duet_json_bool(j, "single_word", "added_tokens[]", 0, &a.single_word);
  rc = rc ? rc : duet_json_bool(j, "normalized", "added_tokens[]", !a.special, &a.normalized);
  if (rc) return rc;
  if (strlen(a.content) != a.len)
    return duet_error(DUET_EFORMAT, "tokenizer.json: added_tokens[%zu] content has a NUL byte", i);
  duet_tbuf norm = {0};
  if (a.normalized && t->norm) rc = duet_normalizer_apply(t->norm, NULL, a.content, a.len, &norm);
  if (!rc) rc = duet_added_add(&t->added, &a, (a.normalized && t->norm) ? norm.p : NULL, norm.n);
  duet_tbuf_free(&norm);
  return rc ? rc : duet_vocab_set(&t->vocab, a.id, a.content, a.len);
}

static int load_added(duet_tokenizer *t, json_t *root) {
  json_t *list = json_object_get(root, "added_tokens");
  int rc = duet_added_set_init(&t->added);
  if (rc || !list || json_is_null(list)) return rc;
  if (!json_is_array(list)) return duet_error(DUET_EFORMAT, "tokenizer.json: added_tokens must be a list");
  for (size_t i = 0; i < json_array_size(list) && !rc; i++) rc = load_added_one(t, json_array_get(list, i), i);
  return rc;
}

static int mark_added_special(duet_tokenizer *t) {
  t->special = calloc((size_t)t->vocab.size + 1, 1);
  if (!t->special) return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
  for (int i = 0; i < t->added.n; i++) {
    const duet_added *a = &t->added.tok[i];
    if (!a->special) continue;
    /* The reference drops tokens by string: every id spelled the same. */
    t->special[a->id] = 1;
    int model_id = duet_bpe_token_id(&t->bpe, a->content, a->len);
    if (model_id >= 0) t->special[model_id] = 1;
  }
  return 0;
}

static int load_json(duet_tokenizer *t, json_t *root, const char *file, const duet_nul_sentinel *nul) {
  if (!json_is_object(root)) return duet_error(DUET_EFORMAT, "%s: not a JSON object", file);
  json_t *model = json_object_get(root, "model");
  if (!json_is_object(model)) return duet_error(DUET_EFORMAT, "%s: no \"model\" object", file);
  int rc = duet_normalizer_load(json_object_get(root, "normalizer"), &t->norm);
  rc = rc ? rc : duet_pretok_load(json_object_get(root, "pre_tokenizer"), &t->pretok);
  rc = rc ? rc : duet_bpe_load(model, duet_pretok_byte_level(t->pretok), nul, &t->bpe, &t->vocab);
  rc = rc ? rc : load_added(t, root);
  rc = rc ? rc : duet_post_load(json_object_get(root, "post_processor"), duet_tokenizer_lookup, t, &t->post);
  rc = rc ? rc : duet_decoder_load(json_object_get(root, "decoder"), &t->dec);
  rc = rc ? rc : mark_added_special(t);
  return rc;
}

/* dir/tokenizer.json or the file itself; the config sits beside it. */
static int resolve_paths(const char *path, char *json_path, char *cfg_path, size_t cap) {
  struct stat st;
  if (stat(path, &st) != 0) return duet_error(DUET_ENOENT, "tokenizer: %s: no such file or directory", path);
  int n;
  if (S_ISDIR(st.st_mode)) {
    n = snprintf(json_path, cap, "%s/tokenizer.json", path);
    snprintf(cfg_path, cap, "%s/tokenizer_config.json", path);
  } else {
    n = snprintf(json_path, cap, "%s", path);
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path) : 1;
    snprintf(cfg_path, cap, "%.*s/tokenizer_config.json", dl, slash ? path : ".");
  }
  if (n < 0 || (size_t)n >= cap) return duet_error(DUET_EINVAL, "tokenizer: path too long: %s", path);
  return 0;
}

/* Reads the whole file and parses it from memory: jansson's file reader
 * goes a character at a time, several times slower on a 10 MB file. */
static int parse_file(const char *path, json_t **out, duet_nul_sentinel *nul) {
  char *buf;
  size_t n;
  int rc = duet_read_file(path, &buf, &n);
  if (rc < 0) return rc;
  duet_nul_keys_escape(buf, n, nul);
  json_error_t err;
  *out = json_loadb(buf, n, 0, &err);
  free(buf);
  if (!*out) return duet_error(DUET_EFORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
  return 0;
}

int duet_tokenizer_load(const char *path, duet_tokenizer **out) {
  char json_path[4096], cfg_path[4096];
  *out = NULL;
  if (!path) return duet_error(DUET_EINVAL, "tokenizer: no path");
  int rc = resolve_paths(path, json_path, cfg_path, sizeof json_path);
  if (rc) return rc;
  json_t *root;
  duet_nul_sentinel nul;
  rc = parse_file(json_path, &root, &nul);
  if (rc) return rc;
  duet_tokenizer *t = calloc(1, sizeof *t);
  if (!t) {
    json_decref(root);
    return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
  }
  t->bos_id = t->eos_id = -1;
  rc = load_json(t, root, json_path, &nul);
  json_decref(root);
  if (!rc && t->post.before.n) t->bos_id = t->post.before.v[0];
  if (!rc) rc = duet_tokenizer_load_config(t, cfg_path);
  if (rc) {
    duet_tokenizer_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void duet_tokenizer_free(duet_tokenizer *t) {
  if (!t) return;
  duet_normalizer_free(t->norm);
  duet_pretok_free(t->pretok);
  duet_bpe_free(&t->bpe);
  duet_post_free(&t->post);
  duet_decoder_free(t->dec);
  duet_added_set_free(&t->added);
  duet_vocab_free(&t->vocab);
  free(t->special);
  free(t);
}

int duet_tokenizer_vocab_size(const duet_tokenizer *t) { return t->vocab.size; }

int duet_tokenizer_token_id(const duet_tokenizer *t, const char *token) {
  int id = duet_tokenizer_lookup(t, token, strlen(token));
  return id >= 0 ? id : duet_error(DUET_ENOENT, "tokenizer: no token \"%.60s\"", token);
}

int duet_tokenizer_bos_id(const duet_tokenizer *t) { return t->bos_id; }
int duet_tokenizer_eos_id(const duet_tokenizer *t) { return t->eos_id; }

int duet_tokenizer_is_special(const duet_tokenizer *t, int id) {
  return id >= 0 && id < t->vocab.size && t->special[id];
}
