#ifndef DUET_TOKENIZER_JSON_UTIL_H
#define DUET_TOKENIZER_JSON_UTIL_H

/* Small typed accessors over jansson for the tokenizer.json loaders: each
 * returns a negative DUET_E* with a message naming the field when the type
 * is wrong, so a malformed file never reaches the pipeline. */

#include <jansson.h>

/* The "type" string of a component object (where: "normalizer"...). */
int duet_json_type(json_t *obj, const char *where, const char **type);
/* Optional string field: *out = default when absent or null. */
int duet_json_str(json_t *obj, const char *key, const char *where, const char *dflt,
                  const char **out);
/* Optional boolean field. */
int duet_json_bool(json_t *obj, const char *key, const char *where, int dflt, int *out);
/* Optional non-negative integer field. */
int duet_json_uint(json_t *obj, const char *key, const char *where, int dflt, int *out);
/* Array field (required). */
int duet_json_array(json_t *obj, const char *key, const char *where, json_t **out);

/* Component lists (normalizers, pre-tokenizers, decoders): a "Sequence"
 * (its list under list_key) is flattened; any other component becomes a
 * zeroed element of *steps (size bytes each) filled by load(). Elements
 * are counted even when load fails, so the caller's free releases them. */
typedef int (*duet_step_load_fn)(json_t *j, void *step);
typedef struct {
  void *v;
  int n, cap;
} duet_step_list;
int duet_json_steps(json_t *j, const char *where, const char *list_key, size_t size, duet_step_load_fn load,
                    duet_step_list *out);

#endif
