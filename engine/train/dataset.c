#include "engine/train/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

/* Append a whole file to *buf. */
static int read_file(const char *path, char **buf, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return duet_error(DUET_ENOENT, "training data %s: %s", path, strerror(errno));
  int rc = DUET_OK;
  char chunk[1 << 16];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    char *nb = realloc(*buf, *len + n + 1);
    if (!nb) {
      rc = duet_error(DUET_ENOMEM, "training data %s: out of memory", path);
      break;
    }
    *buf = nb;
    memcpy(*buf + *len, chunk, n);
    *len += n;
  }
  if (rc == DUET_OK && ferror(f)) rc = duet_error(DUET_EIO, "training data %s: read error", path);
  fclose(f);
  return rc;
}

static uint64_t fnv1a(uint64_t h, const int *x, long n) {
  for (long i = 0; i < n; i++) {
    h ^= (uint32_t)x[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static int tokenize(const duet_tokenizer *tok, const char *text, size_t len, int **ids, long *n) {
  int count = 0;
  int rc = duet_tokenizer_encode(tok, text, len, 0, ids, &count);
  *n = count;
  return rc;
}

int duet_dataset_build(duet_dataset *d, const char *const *files, int n_files, const duet_tokenizer *tok,
                       double val_frac, int seq) {
  memset(d, 0, sizeof *d);
  if (n_files <= 0) return duet_error(DUET_EINVAL, "training data: no --data file given");
  if (!(val_frac > 0 && val_frac < 1)) return duet_error(DUET_EINVAL, "validation fraction %g is not in (0, 1)", val_frac);
  char *text = NULL;
  size_t len = 0;
  int rc = DUET_OK;
  for (int i = 0; i < n_files && rc == DUET_OK; i++) rc = read_file(files[i], &text, &len);
  if (rc == DUET_OK && len == 0) rc = duet_error(DUET_EINVAL, "training data: the files hold no text");
  if (rc < 0) {
    free(text);
    return rc;
  }
  text[len] = '\0';
  /* cut after the newline nearest below (1 - val_frac) of the bytes */
  size_t cut = (size_t)((1.0 - val_frac) * len);
  while (cut > 0 && text[cut - 1] != '\n') cut--;
  if (cut == 0) cut = (size_t)((1.0 - val_frac) * len); /* one long line: cut anywhere */
  d->train_bytes = (long)cut;
  d->val_bytes = (long)(len - cut);
  rc = tokenize(tok, text, cut, &d->train, &d->n_train);
  if (rc >= 0) rc = tokenize(tok, text + cut, len - cut, &d->val, &d->n_val);
  if (rc >= 0 && (d->val_text = malloc(len - cut + 1))) memcpy(d->val_text, text + cut, len - cut + 1);
  else if (rc >= 0) rc = duet_error(DUET_ENOMEM, "training data: out of memory");
  free(text);
  if (rc >= 0 && (d->n_train < seq + 1 || d->n_val < seq + 1))
    rc = duet_error(DUET_EINVAL,
                    "training data: %ld training and %ld validation tokens; each needs at least seq + 1 = %d "
                    "(more data, a shorter --seq or another --val-frac)",
                    d->n_train, d->n_val, seq + 1);
  if (rc < 0) {
    duet_dataset_free(d);
    return rc;
  }
  d->fingerprint = fnv1a(fnv1a(0xcbf29ce484222325ull, d->train, d->n_train), d->val, d->n_val);
  return DUET_OK;
}

void duet_dataset_free(duet_dataset *d) {
  free(d->train);
  free(d->val);
  free(d->val_text);
  memset(d, 0, sizeof *d);
}

void duet_dataset_sample(const duet_dataset *d, duet_rng *r, int B, int first, int count, int T, int *tokens,
                         int *targets) {
  for (int b = 0; b < B; b++) {
    long start = (long)duet_rng_below(r, (uint64_t)(d->n_train - T)); /* every rank draws all: same PRNG stream */
    if (b < first || b >= first + count) continue;
    memcpy(tokens + (long)(b - first) * T, d->train + start, (size_t)T * sizeof(int));
    memcpy(targets + (long)(b - first) * T, d->train + start + 1, (size_t)T * sizeof(int));
  }
}

long duet_dataset_val_windows(const duet_dataset *d, int T, long max) {
  long n = (d->n_val - 1) / T;
  return max > 0 && n > max ? max : n;
}

void duet_dataset_val_window(const duet_dataset *d, long i, int T, int *tokens, int *targets) {
  memcpy(tokens, d->val + i * T, (size_t)T * sizeof(int));
  memcpy(targets, d->val + i * T + 1, (size_t)T * sizeof(int));
}
