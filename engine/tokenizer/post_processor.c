#include "engine/tokenizer/post_processor.h"

#include "engine/error.h"
#include "engine/tokenizer/json_util.h"

#include <string.h>

/* The ids of a template's SpecialToken: from "special_tokens" when listed
 * there, else the token string itself, as the reference resolves it. */
static int special_ids(json_t *j, const char *name, duet_token_lookup lookup, const void *ctx,
                       duet_ids *out) {
  json_t *st = json_object_get(json_object_get(j, "special_tokens"), name);
  json_t *ids = json_object_get(st, "ids");
  if (json_is_array(ids)) {
    for (size_t i = 0; i < json_array_size(ids); i++) {
      json_t *v = json_array_get(ids, i);
      if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 0x7fffffff)
        return duet_error(DUET_EFORMAT, "tokenizer.json: post_processor special token \"%.40s\" has a bad id",
                          name);
      int rc = duet_ids_push(out, (int)json_integer_value(v));
      if (rc) return rc;
    }
    return 0;
  }
  int id = lookup(ctx, name, strlen(name));
  if (id < 0)
    return duet_error(DUET_EFORMAT, "tokenizer.json: post_processor special token \"%.40s\" is unknown", name);
  return duet_ids_push(out, id);
}

static int load_template(json_t *j, duet_token_lookup lookup, const void *ctx, duet_post *p) {
  json_t *single;
  int rc = duet_json_array(j, "single", "post_processor TemplateProcessing", &single);
  int seen_a = 0;
  for (size_t i = 0; !rc && i < json_array_size(single); i++) {
    json_t *item = json_array_get(single, i);
    json_t *sp = json_object_get(item, "SpecialToken"), *seq = json_object_get(item, "Sequence");
    if (json_is_object(sp) && json_is_string(json_object_get(sp, "id"))) {
      rc = special_ids(j, json_string_value(json_object_get(sp, "id")), lookup, ctx,
                       seen_a ? &p->after : &p->before);
    } else if (json_is_object(seq)) {
      if (seen_a) return duet_error(DUET_EUNSUPPORTED, "tokenizer.json: template with two sequences for one input");
      seen_a = 1;
    } else {
      rc = duet_error(DUET_EFORMAT, "tokenizer.json: post_processor template item %zu is neither "
                      "SpecialToken nor Sequence", i);
    }
  }
  return rc;
}

/* BertProcessing / RobertaProcessing: "cls": [token, id], "sep": [token, id]. */
static int load_pair_token(json_t *j, const char *key, duet_ids *out) {
  json_t *v = json_object_get(j, key);
  json_t *id = json_array_get(v, 1);
  if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > 0x7fffffff)
    return duet_error(DUET_EFORMAT, "tokenizer.json: post_processor.%s must be [token, id]", key);
  return duet_ids_push(out, (int)json_integer_value(id));
}

static int load_one(json_t *j, duet_token_lookup lookup, const void *ctx, duet_post *p, int depth) {
  const char *type;
  int rc = duet_json_type(j, "post_processor", &type);
  if (rc) return rc;
  if (strcmp(type, "TemplateProcessing") == 0) return load_template(j, lookup, ctx, p);
  if (strcmp(type, "ByteLevel") == 0) return 0;
  if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
    rc = load_pair_token(j, "cls", &p->before);
    return rc ? rc : load_pair_token(j, "sep", &p->after);
  }
  if (strcmp(type, "Sequence") == 0) {
    json_t *list;
    if (depth > 8) return duet_error(DUET_EFORMAT, "tokenizer.json: post_processor Sequences nested too deep");
    rc = duet_json_array(j, "processors", "post_processor Sequence", &list);
    for (size_t i = 0; !rc && i < json_array_size(list); i++)
      rc = load_one(json_array_get(list, i), lookup, ctx, p, depth + 1);
    return rc;
  }
  return duet_error(DUET_EUNSUPPORTED, "tokenizer.json: post_processor \"%s\" is not supported", type);
}

int duet_post_load(json_t *j, duet_token_lookup lookup, const void *ctx, duet_post *out) {
  memset(out, 0, sizeof *out);
  if (!j || json_is_null(j)) return 0;
  int rc = load_one(j, lookup, ctx, out, 0);
  if (rc) duet_post_free(out);
  return rc;
}

void duet_post_free(duet_post *p) {
  duet_ids_free(&p->before);
  duet_ids_free(&p->after);
}
