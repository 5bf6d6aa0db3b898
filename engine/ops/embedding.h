#ifndef DUET_OPS_EMBEDDING_H
#define DUET_OPS_EMBEDDING_H

/* Token embedding: a gather of rows of the table.
 *   forward:  tokens (N) , table (V,C) [F32/BF16/F16] -> out (N,C)
 *   backward: dtable (V,C) += scatter-add of dout (N,C) at the tokens'
 *             rows (float32 table only; tokens repeated in the batch add up).
 * Forward returns DUET_OK, or DUET_ERANGE naming the first token outside
 * [0, V) (out is then unspecified), or DUET_EUNSUPPORTED for a bad dtype. */

#include "engine/model.h"

int duet_embedding_forward_ref(float *out, const int *tokens, const duet_matrix *table, int N);
int duet_embedding_forward(float *out, const int *tokens, const duet_matrix *table, int N);

/* Accumulates into dtable (+=). Tokens outside [0, V) are skipped (the
 * forward already refused them). */
void duet_embedding_backward(float *dtable, const float *dout, const int *tokens, int N, int V, int C);

#endif
