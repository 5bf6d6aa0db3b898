#ifndef DUET_TRAIN_DATASET_H
#define DUET_TRAIN_DATASET_H

/* Training data: text files tokenized with the model's tokenizer, split
 * into a training part and a held-out validation part (the last val_frac
 * of the bytes, cut at a line boundary so no line is in both), then served
 * as random windows drawn with the trainer's seeded PRNG.
 *
 * The split is by bytes, before tokenizing, so the validation text is an
 * exact byte string (its size gives bits per byte, and `xz` can compress
 * the very same bytes for comparison). */

#include <stdint.h>

#include "engine/tokenizer.h"
#include "engine/train/rng.h"

typedef struct {
  int *train, *val;
  long n_train, n_val;         /* tokens */
  long train_bytes, val_bytes; /* bytes of text behind them */
  char *val_text;              /* the validation bytes (val_bytes, NUL-terminated) */
  uint64_t fingerprint;        /* hash of the token streams: a resumed run checks it */
} duet_dataset;

/* Read and tokenize files. Errors (before any training): a file missing or
 * unreadable, no text, a split that leaves either side too short for one
 * window of seq + 1 tokens. */
int duet_dataset_build(duet_dataset *d, const char *const *files, int n_files, const duet_tokenizer *tok,
                       double val_frac, int seq);
void duet_dataset_free(duet_dataset *d);

/* Draw B random training windows and keep windows first .. first+count-1
 * (a data-parallel rank's slice; 0, B for all): tokens (count, T) and
 * targets (count, T), the same window shifted by one. */
void duet_dataset_sample(const duet_dataset *d, duet_rng *r, int B, int first, int count, int T, int *tokens,
                         int *targets);

/* Validation windows: consecutive, non-overlapping, so each validation
 * token is predicted once. Count (at most max, all when max <= 0) and the
 * i-th one. */
long duet_dataset_val_windows(const duet_dataset *d, int T, long max);
void duet_dataset_val_window(const duet_dataset *d, long i, int T, int *tokens, int *targets);

#endif
