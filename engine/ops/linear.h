#ifndef DUET_OPS_LINEAR_H
#define DUET_OPS_LINEAR_H

/* Linear layer, Hugging Face / PyTorch layout:
 *   out (N,O) = x (N,I) @ W (O,I)^T (+ b (O))
 * with W a duet_matrix (rows = O = out_features, cols = I = in_features)
 * in F32, BF16 or F16; b is float32 or NULL.
 *
 * Fast path (duet_linear_forward):
 *  - F32: cblas_sgemm; for N == 1 a matrix-vector product (whichever of
 *    cblas_sgemv / our AVX2 kernel measured faster), memory-bandwidth bound.
 *  - BF16/F16, N <= DUET_LINEAR_MATVEC_MAX_N (decode): an AVX2/FMA kernel
 *    that widens W to f32 on the fly while reading it once for all N rows
 *    of x, parallel over output rows with OpenMP (reads half the bytes of
 *    F32, so decode runs ~2x faster).
 *  - BF16/F16, larger N (prefill): panels of rows of W are widened into a
 *    float32 scratch buffer and fed to cblas_sgemm.
 * The reference (duet_linear_forward_ref) is the plain triple loop in
 * double precision accumulation.
 * out must not alias x. Returns DUET_OK, DUET_EINVAL (N < 0 or bad matrix),
 * DUET_EUNSUPPORTED (dtype) or DUET_ENOMEM (panel scratch). */

#include "engine/model.h"

#define DUET_LINEAR_MATVEC_MAX_N 16

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
