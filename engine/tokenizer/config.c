/* tokenizer_config.json: bos/eos tokens, add_bos_token / add_eos_token,
 * clean_up_tokenization_spaces and additional_special_tokens. */
#include "engine/error.h"
#include "engine/tokenizer/json_util.h"
#include "engine/tokenizer/tokenizer_impl.h"

#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

/* A token field is "text" or {"content": "text", ...}. */
static const char *token_text(json_t *v) {
  if (json_is_string(v)) return json_string_value(v);
  if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
    return json_string_value(json_object_get(v, "content"));
  return NULL;
}

static int token_field(duet_tokenizer *t, json_t *cfg, const char *key, int *id) {
  json_t *v = json_object_get(cfg, key);
  if (!v || json_is_null(v)) return 0;
  const char *s = token_text(v);
  if (!s) return duet_error(DUET_EFORMAT, "tokenizer_config.json: %s must be a string or {content}", key);
  *id = duet_tokenizer_lookup(t, s, strlen(s));
  if (*id < 0) return duet_error(DUET_EFORMAT, "tokenizer_config.json: %s \"%.40s\" is not in the vocabulary", key, s);
  return 0;
}

/* Explicit add_bos_token / add_eos_token replace the post-processor by
 * [bos] $A [eos], as transformers' Llama tokenizers rebuild it. */
static int apply_add_flags(duet_tokenizer *t, json_t *cfg) {
  json_t *ab = json_object_get(cfg, "add_bos_token"), *ae = json_object_get(cfg, "add_eos_token");
  if (!json_is_boolean(ab) && !json_is_boolean(ae)) return 0;
  int add_bos = json_is_true(ab), add_eos = json_is_true(ae);
  if (!json_is_boolean(ab) && t->post.before.n) add_bos = -1; /* keep the template's */
  if (!json_is_boolean(ae) && t->post.after.n) add_eos = -1;
  int rc = 0;
  if (add_bos >= 0) {
    t->post.before.n = 0;
    if (add_bos && t->bos_id < 0) return duet_error(DUET_EFORMAT, "tokenizer_config.json: add_bos_token without bos_token");
    if (add_bos) rc = duet_ids_push(&t->post.before, t->bos_id);
  }
  if (!rc && add_eos >= 0) {
    t->post.after.n = 0;
    if (add_eos && t->eos_id < 0) return duet_error(DUET_EFORMAT, "tokenizer_config.json: add_eos_token without eos_token");
    if (add_eos) rc = duet_ids_push(&t->post.after, t->eos_id);
  }
  return rc;
}

static int mark_special(duet_tokenizer *t, json_t *cfg) {
  json_t *list = json_object_get(cfg, "additional_special_tokens");
  if (!list || json_is_null(list)) return 0;
  if (!json_is_array(list)) return duet_error(DUET_EFORMAT, "tokenizer_config.json: additional_special_tokens must be a list");
  for (size_t i = 0; i < json_array_size(list); i++) {
    const char *s = token_text(json_array_get(list, i));
    if (!s) return duet_error(DUET_EFORMAT, "tokenizer_config.json: additional_special_tokens[%zu] is not a token", i);
    /* The reference compares strings, so every id with this string is special. */
    int a = duet_added_find(&t->added, s, strlen(s)), m = duet_bpe_token_id(&t->bpe, s, strlen(s));
    if (a >= 0) t->special[t->added.tok[a].id] = 1;
    if (m >= 0) t->special[m] = 1;
  }
  return 0;
}

int duet_tokenizer_load_config(duet_tokenizer *t, const char *path) {
  struct stat st;
  t->cleanup = 1; /* the reference's default */
  if (stat(path, &st) != 0) return 0;
  json_error_t err;
  json_t *cfg = json_load_file(path, JSON_DECODE_INT_AS_REAL, &err); /* model_max_length can be 1e30 */
  if (!cfg) return duet_error(DUET_EFORMAT, "%s:%d: %s", path, err.line, err.text);
  int rc = 0;
  if (!json_is_object(cfg)) rc = duet_error(DUET_EFORMAT, "%s: not a JSON object", path);
  json_t *cu = json_object_get(cfg, "clean_up_tokenization_spaces");
  if (!rc && cu && !json_is_null(cu)) {
    if (!json_is_boolean(cu)) rc = duet_error(DUET_EFORMAT, "%s: clean_up_tokenization_spaces must be a boolean", path);
    t->cleanup = json_is_true(cu);
  }
  if (!rc) rc = token_field(t, cfg, "bos_token", &t->bos_id);
  if (!rc) rc = token_field(t, cfg, "eos_token", &t->eos_id);
  if (!rc) rc = apply_add_flags(t, cfg);
  if (!rc) rc = mark_special(t, cfg);
  json_decref(cfg);
  return rc;
}

/* One clean-up rule over the whole string: pattern -> replacement. */
static size_t replace_rule(char *s, size_t len, const char *pat, const char *rep) {
  size_t pl = strlen(pat), rl = strlen(rep), o = 0;
  for (size_t i = 0; i < len;) {
    if (i + pl <= len && memcmp(s + i, pat, pl) == 0) {
      memmove(s + o, rep, rl); /* rl < pl: never overtakes the input */
      o += rl;
      i += pl;
    } else {
      s[o++] = s[i++];
    }
  }
  return o;
}

size_t duet_cleanup_spaces(char *s, size_t len) {
  static const char *rules[][2] = {{" .", "."},     {" ?", "?"},     {" !", "!"},   {" ,", ","},
                                   {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"},
                                   {" 've", "'ve"}, {" 're", "'re"}};
  for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) len = replace_rule(s, len, rules[r][0], rules[r][1]);
  return len;
}
