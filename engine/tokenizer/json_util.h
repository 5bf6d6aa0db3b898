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

#endif
