#include "engine/tokenizer/json_util.h"

#include "engine/error.h"

#include <stdlib.h>
#include <string.h>

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

static int steps_rec(json_t *j, const char *where, const char *list_key, size_t size, duet_step_load_fn load,
                     duet_step_list *out, int depth) {
  const char *type;
  int rc = duet_json_type(j, where, &type);
  if (rc) return rc;
  if (strcmp(type, "Sequence") == 0) {
    json_t *list = NULL;
    if (depth > 8) return duet_error(DUET_EFORMAT, "tokenizer.json: %s Sequences nested too deep", where);
    rc = duet_json_array(j, list_key, where, &list);
    for (size_t i = 0; !rc && i < json_array_size(list); i++)
      rc = steps_rec(json_array_get(list, i), where, list_key, size, load, out, depth + 1);
    return rc;
  }
  if (out->n == out->cap) {
    int c = out->cap ? out->cap * 2 : 4;
    void *p = realloc(out->v, (size_t)c * size);
    if (!p) return duet_error(DUET_ENOMEM, "tokenizer: out of memory");
    out->v = p;
    out->cap = c;
  }
  void *step = (char *)out->v + (size_t)out->n * size;
  memset(step, 0, size);
  out->n++;
  return load(j, step);
}

int duet_json_steps(json_t *j, const char *where, const char *list_key, size_t size, duet_step_load_fn load,
                    duet_step_list *out) {
  return steps_rec(j, where, list_key, size, load, out, 0);
}
