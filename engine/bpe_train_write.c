/* Writing a trained byte-level BPE as Hugging Face files (see bpe_train.h):
 * tokenizer.json in the layout the tokenizers library itself saves (Llama 3's
 * components: Split regex + ByteLevel pre-tokenizer, ByteLevel decoder,
 * TemplateProcessing adding <|bos|>), and tokenizer_config.json with the
 * special tokens, a ChatML chat template and model_max_length. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/atomic_file.h"
#include "engine/bpe_train.h"
#include "engine/error.h"
#include "engine/tokenizer/byte_level.h"

static const char *const CHAT_TEMPLATE =
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/* Token bytes as byte-level text (each byte -> one printable code point);
 * special tokens are stored as themselves. */
static json_t *token_text(const duet_bpe_trainer *t, int id) {
  size_t n;
  const char *s = duet_bpe_trainer_token(t, id, &n);
  if (id < DUET_BPE_N_SPECIAL) return json_stringn(s, n);
  char *out = malloc(2 * n + 1), *o = out;
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    uint32_t cp = duet_byte_to_cp((unsigned char)s[i]);
    if (cp < 0x80) *o++ = (char)cp;
    else *o++ = (char)(0xC0 | (cp >> 6)), *o++ = (char)(0x80 | (cp & 0x3F));
  }
  json_t *j = json_stringn(out, (size_t)(o - out));
  free(out);
  return j;
}

static json_t *model_json(const duet_bpe_trainer *t) {
  json_t *vocab = json_object(), *merges = json_array();
  int rc = vocab && merges ? 0 : -1;
  for (int id = 0; !rc && id < duet_bpe_trainer_vocab_size(t); id++) {
    json_t *s = token_text(t, id);
    rc = s ? json_object_set_new(vocab, json_string_value(s), json_integer(id)) : -1;
    json_decref(s);
  }
  for (int i = 0; !rc && i < duet_bpe_trainer_n_merges(t); i++) {
    int a, b, r;
    duet_bpe_trainer_merge(t, i, &a, &b, &r);
    rc = json_array_append_new(merges, json_pack("[oo]", token_text(t, a), token_text(t, b)));
  }
  json_t *m = rc ? NULL
                 : json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout", "unk_token",
                             "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0,
                             "ignore_merges", 0, "vocab", vocab, "merges", merges);
  if (!m) json_decref(vocab), json_decref(merges);
  return m;
}

static json_t *added_token(const duet_bpe_trainer *t, int id, int with_id) {
  json_t *j = json_pack("{s:s, s:b, s:b, s:b, s:b, s:b}", "content", duet_bpe_trainer_token(t, id, NULL), "single_word",
                        0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1);
  if (j && with_id) json_object_set_new(j, "id", json_integer(id));
  return j;
}

static json_t *tokenizer_json(const duet_bpe_trainer *t) {
  json_t *added = json_array();
  for (int id = 0; added && id < DUET_BPE_N_SPECIAL; id++) json_array_append_new(added, added_token(t, id, 1));
  const char *bos = duet_bpe_special_tokens[1];
  json_t *post = json_pack(
      "{s:s, s:[{s:{s:s,s:i}}, {s:{s:s,s:i}}], s:[{s:{s:s,s:i}}, {s:{s:s,s:i}}, {s:{s:s,s:i}}, {s:{s:s,s:i}}],"
      " s:{s:{s:s, s:[i], s:[s]}}}",
      "type", "TemplateProcessing", "single", "SpecialToken", "id", bos, "type_id", 0, "Sequence", "id", "A", "type_id",
      0, "pair", "SpecialToken", "id", bos, "type_id", 0, "Sequence", "id", "A", "type_id", 0, "SpecialToken", "id",
      bos, "type_id", 1, "Sequence", "id", "B", "type_id", 1, "special_tokens", bos, "id", bos, "ids", 1, "tokens",
      bos);
  json_t *pre = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]}", "type", "Sequence",
                          "pretokenizers", "type", "Split", "pattern", "Regex", duet_bpe_split_regex, "behavior",
                          "Isolated", "invert", 0, "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                          "use_regex", 0);
  json_t *dec = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1,
                          "use_regex", 1);
  json_t *model = model_json(t);
  if (!added || !post || !pre || !dec || !model) {
    json_decref(added), json_decref(post), json_decref(pre), json_decref(dec), json_decref(model);
    return NULL;
  }
  return json_pack("{s:s, s:n, s:n, s:o, s:n, s:o, s:o, s:o, s:o}", "version", "1.0", "truncation", "padding",
                   "added_tokens", added, "normalizer", "pre_tokenizer", pre, "post_processor", post, "decoder", dec,
                   "model", model);
}

static json_t *config_json(const duet_bpe_trainer *t, int model_max_length) {
  json_t *dec = json_object();
  for (int id = 0; dec && id < DUET_BPE_N_SPECIAL; id++) {
    char key[16];
    snprintf(key, sizeof key, "%d", id);
    json_object_set_new(dec, key, added_token(t, id, 0));
  }
  if (!dec) return NULL;
  const char *const *sp = duet_bpe_special_tokens;
  return json_pack("{s:o, s:s, s:s, s:s, s:n, s:s, s:b, s:i, s:s}", "added_tokens_decoder", dec, "bos_token", sp[1],
                   "eos_token", sp[0], "pad_token", sp[0], "unk_token", "chat_template", CHAT_TEMPLATE,
                   "clean_up_tokenization_spaces", 0, "model_max_length", model_max_length, "tokenizer_class",
                   "PreTrainedTokenizerFast");
}

static int write_json(const char *dir, const char *name, json_t *j) {
  char path[4096];
  if (!j) return duet_error(DUET_ENOMEM, "%s/%s: out of memory building the JSON", dir, name);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(j);
  if (!text) return duet_error(DUET_ENOMEM, "%s: out of memory", path);
  size_t n = strlen(text);
  text[n] = '\n'; /* replaces the NUL: written with its length */
  int rc = duet_write_file_atomic(path, text, n + 1);
  free(text);
  return rc;
}

int duet_bpe_trainer_write(const duet_bpe_trainer *t, const char *dir, int model_max_length) {
  if (model_max_length <= 0) return duet_error(DUET_EINVAL, "model_max_length must be positive");
  int rc = write_json(dir, "tokenizer.json", tokenizer_json(t));
  return rc < 0 ? rc : write_json(dir, "tokenizer_config.json", config_json(t, model_max_length));
}
