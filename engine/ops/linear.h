#ifndef DUET_OPS_LINEAR_H
#define DUET_OPS_LINEAR_H

/* Linear layer, Hugging Face / PyTorch layout:
 *   out (N,O) = x (N,I) @ W (O,I)^T (+ b (O))
 * with W a duet_matrix (rows = O = out_features, cols = I = in_features)
 * in F32, BF16 or F16; b is float32 or NULL.
 *
 * Fast path (duet_linear_forward):
 *  - N <= DUET_LINEAR_ROW_MAX_N (decode, small batches), any dtype: an
 *    AVX2/FMA kernel that streams W one row at a time (one sequential
 *    stream per thread: what the hardware prefetcher follows best) for
 *    all N rows of x, widening BF16/F16 to f32 on the fly (BF16: 16
 *    weights per shift + mask, against an even/odd reordered copy of x),
 *    in guided chunks of rows over the OpenMP threads: bandwidth-bound, so
 *    BF16/F16 read half the bytes of F32. Every output is summed in the
 *    same order whatever N: a sequence gets the same bits in such a batch
 *    as alone.
 *  - N up to DUET_LINEAR_MATVEC_MAX_N (larger decode batches): blocks of 3
 *    W rows x 4 x rows in registers, W streamed (and the next block
 *    prefetched) while computing; BF16/F16 rows widened 3 at a time.
 *  - larger N (prefill, training): each OpenMP thread multiplies its own
 *    slab of W's rows with single-threaded cblas_sgemm; BF16/F16 slabs are
 *    widened panel by panel (1 MiB of f32 per thread) just before.
 * The reference (duet_linear_forward_ref) is the plain triple loop in
 * double precision accumulation.
 * out must not alias x. Returns DUET_OK, DUET_EINVAL (N < 0 or bad matrix),
 * DUET_EUNSUPPORTED (dtype) or DUET_ENOMEM (scratch). */

#include "engine/model.h"

#define DUET_LINEAR_MATVEC_MAX_N 64
#define DUET_LINEAR_ROW_MAX_N 8

int duet_linear_forward_ref(float *out, const float *x, const duet_matrix *W, const float *b, int N);
int duet_linear_forward(float *out, const float *x, const duet_matrix *W, const float *b, int N);

/* Backward, float32 W only (training keeps float32 master weights).
 * ACCUMULATES (+=) into every non-NULL gradient:
 *   dx (N,I) += dout (N,O) @ W (O,I)
 *   dW (O,I) += dout^T (O,N) @ x (N,I)
 *   db (O)   += sum over n of dout (n,:)
 * Any of dx, dW, db may be NULL (not needed). Returns DUET_OK or
 * DUET_EUNSUPPORTED when dx is wanted and W is not F32. */
int duet_linear_backward(float *dx, float *dW, float *db, const float *dout, const float *x,
                         const duet_matrix *W, int N);

#endif
