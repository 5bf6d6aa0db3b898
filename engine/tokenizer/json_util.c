#include "engine/tokenizer/json_util.h"

#include "engine/error.h"

int duet_json_type(json_t *obj, const char *where, const char **type) {
  if (!json_is_object(obj)) return duet_error(DUET_EFORMAT, "tokenizer.json: %s must be an object", where);
  json_t *t = json_object_get(obj, "type");
  if (!json_is_string(t)) return duet_error(DUET_EFORMAT, "tokenizer.json: %s has no \"type\" string", where);
  *type = json_string_value(t);
  return 0;
}

int duet_json_str(json_t *obj, const char *key, const char *where, const char *dflt,
                  const char **out) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) {
    *out = dflt;
    return 0;
  }
  if (!json_is_string(v)) return duet_error(DUET_EFORMAT, "tokenizer.json: %s.%s must be a string", where, key);
  *out = json_string_value(v);
  return 0;
}

int duet_json_bool(json_t *obj, const char *key, const char *where, int dflt, int *out) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) {
    *out = dflt;
    return 0;
  }
  if (!json_is_boolean(v)) return duet_error(DUET_EFORMAT, "tokenizer.json: %s.%s must be a boolean", where, key);
  *out = json_is_true(v);
  return 0;
}

int duet_json_uint(json_t *obj, const char *key, const char *where, int dflt, int *out) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) {
    *out = dflt;
    return 0;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
    return duet_error(DUET_EFORMAT, "tokenizer.json: %s.%s must be a small non-negative integer", where, key);
  *out = (int)json_integer_value(v);
  return 0;
}

int duet_json_array(json_t *obj, const char *key, const char *where, json_t **out) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_array(v)) return duet_error(DUET_EFORMAT, "tokenizer.json: %s.%s must be an array", where, key);
  *out = v;
  return 0;
}
