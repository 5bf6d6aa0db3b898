#include "engine/ops/embedding.h"

#include <string.h>

#include "engine/error.h"
#include "engine/ops/dtype.h"
#include "engine/ops/simd.h"

static int check(const int *tokens, const duet_matrix *table, int N) {
  if (table->dtype != DUET_F32 && table->dtype != DUET_BF16 && table->dtype != DUET_F16)
    return duet_error(DUET_EUNSUPPORTED, "embedding table dtype %d is not F32, BF16 or F16", (int)table->dtype);
  for (int n = 0; n < N; n++)
    if (tokens[n] < 0 || tokens[n] >= table->rows)
      return duet_error(DUET_ERANGE, "embedding: token id %d at index %d is outside the vocabulary [0, %d)",
                        tokens[n], n, table->rows);
  return DUET_OK;
}

int duet_embedding_forward_ref(float *out, const int *tokens, const duet_matrix *table, int N) {
  int rc = check(tokens, table, N);
  if (rc) return rc;
  int C = table->cols;
  for (int n = 0; n < N; n++)
    for (int i = 0; i < C; i++) {
      long at = (long)tokens[n] * C + i;
      float v;
      if (table->dtype == DUET_F32) v = ((const float *)table->data)[at];
      else if (table->dtype == DUET_BF16) v = duet_bf16_to_f32(((const uint16_t *)table->data)[at]);
      else v = duet_f16_to_f32(((const uint16_t *)table->data)[at]);
      out[(long)n * C + i] = v;
    }
  return DUET_OK;
}

int duet_embedding_forward(float *out, const int *tokens, const duet_matrix *table, int N) {
  int rc = check(tokens, table, N);
  if (rc) return rc;
  int C = table->cols;
#pragma omp parallel for schedule(static) if ((long)N * C > DUET_OMP_MIN_WORK)
  for (int n = 0; n < N; n++) duet_matrix_rows_f32(out + (long)n * C, table, tokens[n], 1);
  return DUET_OK;
}

void duet_embedding_backward(float *dtable, const float *dout, const int *tokens, int N, int V, int C) {
  /* Serial over rows: two rows with the same token add into the same place. */
  for (int n = 0; n < N; n++) {
    if (tokens[n] < 0 || tokens[n] >= V) continue;
    float *d = dtable + (long)tokens[n] * C;
    const float *g = dout + (long)n * C;
#pragma omp simd
    for (int i = 0; i < C; i++) d[i] += g[i];
  }
}
