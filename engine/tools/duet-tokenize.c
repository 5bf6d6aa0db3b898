/* duet-tokenize --model DIR [--decode] [--no-special]
 * Reads UTF-8 text on stdin and prints its token ids as a JSON array, or
 * with --decode reads a JSON array of ids and prints the text. */
#include "engine/error.h"
#include "engine/read_file.h"
#include "engine/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
  fprintf(stderr, "usage: duet-tokenize --model DIR [--decode] [--no-special]\n"
                  "  encode: UTF-8 text on stdin -> JSON array of ids on stdout\n"
                  "  --decode: JSON array of ids on stdin -> text on stdout\n"
                  "  --no-special: encode without BOS/EOS; decode skipping special tokens\n");
  return 2;
}

static int encode(duet_tokenizer *t, const char *in, size_t len, int special) {
  int *ids, n;
  int rc = duet_tokenizer_encode(t, in, len, special, &ids, &n);
  if (rc) return rc;
  putchar('[');
  for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
  printf("]\n");
  free(ids);
  return 0;
}

static int decode(duet_tokenizer *t, const char *in, size_t len, int skip_special) {
  json_error_t err;
  json_t *arr = json_loadb(in, len, 0, &err);
  if (!json_is_array(arr)) {
    json_decref(arr);
    return duet_error(DUET_EINVAL, "--decode: stdin is not a JSON array of ids (%s)", arr ? "not an array" : err.text);
  }
  size_t n = json_array_size(arr);
  int *ids = malloc((n ? n : 1) * sizeof *ids), rc = ids ? 0 : DUET_ENOMEM;
  for (size_t i = 0; i < n && !rc; i++) {
    json_t *v = json_array_get(arr, i);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 0x7fffffff)
      rc = duet_error(DUET_EINVAL, "--decode: element %zu is not a token id", i);
    else ids[i] = (int)json_integer_value(v);
  }
  json_decref(arr);
  char *text = NULL;
  size_t tl = 0;
  if (!rc) rc = duet_tokenizer_decode(t, ids, (int)n, skip_special, &text, &tl);
  if (!rc) fwrite(text, 1, tl, stdout);
  free(text);
  free(ids);
  return rc;
}

int main(int argc, char **argv) {
  const char *model = NULL;
  int dec = 0, special = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
    else if (strcmp(argv[i], "--decode") == 0) dec = 1;
    else if (strcmp(argv[i], "--no-special") == 0) special = 0;
    else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return usage(), 0;
    else {
      fprintf(stderr, "duet-tokenize: unknown option or missing value: '%s'\n", argv[i]);
      return usage();
    }
  }
  if (!model) return usage();
  duet_tokenizer *t;
  int rc = duet_tokenizer_load(model, &t);
  if (rc) {
    fprintf(stderr, "duet-tokenize: %s\n", duet_last_error());
    return 1;
  }
  size_t len;
  char *in;
  rc = duet_read_stream(stdin, "stdin", &in, &len);
  if (!rc) rc = dec ? decode(t, in, len, !special) : encode(t, in, len, special);
  free(in);
  duet_tokenizer_free(t);
  if (rc) {
    fprintf(stderr, "duet-tokenize: %s\n", duet_last_error());
    return 1;
  }
  return 0;
}
