#include "engine/ops/linear.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdint.h>
#include <stdlib.h>

#include "engine/error.h"
#include "engine/ops/dtype.h"
#include "engine/ops/simd.h"

/* Scratch for one widened panel of W in the BF16/F16 prefill path: about
 * 4 MiB of float32 (fits L3 beside x and out), at least 16 rows. */
#define PANEL_BYTES (4L << 20)

/* Shapes below: O = W->rows (out features), K = W->cols (in features; not
 * "I", which <complex.h> via cblas.h defines). */

static int check(const duet_matrix *W, int N) {
  if (N < 0) return duet_error(DUET_EINVAL, "linear: negative row count %d", N);
  if (!W || !W->data || W->rows <= 0 || W->cols <= 0)
    return duet_error(DUET_EINVAL, "linear: empty or NULL weight matrix");
  if (W->dtype != DUET_F32 && W->dtype != DUET_BF16 && W->dtype != DUET_F16)
    return duet_error(DUET_EUNSUPPORTED, "linear: weight dtype %d is not F32, BF16 or F16", (int)W->dtype);
  return DUET_OK;
}

static float weight_at(const duet_matrix *W, long at) {
  if (W->dtype == DUET_F32) return ((const float *)W->data)[at];
  uint16_t h = ((const uint16_t *)W->data)[at];
  return W->dtype == DUET_BF16 ? duet_bf16_to_f32(h) : duet_f16_to_f32(h);
}

int duet_linear_forward_ref(float *out, const float *x, const duet_matrix *W, const float *b, int N) {
  int rc = check(W, N);
  if (rc) return rc;
  int O = W->rows, K = W->cols;
  for (int n = 0; n < N; n++)
    for (int o = 0; o < O; o++) {
      double s = b ? b[o] : 0.0;
      for (int i = 0; i < K; i++) s += (double)x[(long)n * K + i] * weight_at(W, (long)o * K + i);
      out[(long)n * O + o] = (float)s;
    }
  return DUET_OK;
}

/* ---- matrix-vector kernel: W read once, widened on the fly ---- */

#if DUET_HAVE_AVX2
static inline __attribute__((always_inline)) __m256 load8(const void *w, long at, duet_dtype t) {
  if (t == DUET_F32) return _mm256_loadu_ps((const float *)w + at);
  __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + at));
  if (t == DUET_F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* out[n, o] = dot(W[o,:], x[n,:]) for n < N <= 4 and o in [o0, o1): each
 * 16-wide chunk of a W row is loaded once and used for every x row, with
 * two accumulators per x row to hide FMA latency. t is a compile-time
 * constant at each call site (one specialised copy per dtype). */
static inline __attribute__((always_inline)) void matvec_rows(float *out, const float *x, const void *w, int N,
                                                             int O, int K, int o0, int o1, duet_dtype t) {
  for (int o = o0; o < o1; o++) {
    long row = (long)o * K;
    __m256 acc[DUET_LINEAR_MATVEC_MAX_N][2];
    for (int n = 0; n < N; n++) acc[n][0] = acc[n][1] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= K; i += 16) {
      __m256 w0 = load8(w, row + i, t), w1 = load8(w, row + i + 8, t);
      for (int n = 0; n < N; n++) {
        acc[n][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (long)n * K + i), acc[n][0]);
        acc[n][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + (long)n * K + i + 8), acc[n][1]);
      }
    }
    for (int n = 0; n < N; n++) {
      float s = duet_hsum8(_mm256_add_ps(acc[n][0], acc[n][1]));
      for (int j = i; j < K; j++) {
        float wj = t == DUET_F32 ? ((const float *)w)[row + j]
                   : t == DUET_F16 ? duet_f16_to_f32(((const uint16_t *)w)[row + j])
                                   : duet_bf16_to_f32(((const uint16_t *)w)[row + j]);
        s += wj * x[(long)n * K + j];
      }
      out[(long)n * O + o] = s;
    }
  }
}

static void matvec(float *out, const float *x, const duet_matrix *W, int N) {
  int O = W->rows, K = W->cols;
  const void *w = W->data;
  duet_dtype t = W->dtype;
  /* Static chunks of whole rows per thread: each thread streams one
   * contiguous slab of W, which the hardware prefetcher follows. */
#pragma omp parallel if ((long)O * K > DUET_OMP_MIN_WORK)
  {
    int nt = 1, id = 0;
#ifdef _OPENMP
    nt = omp_get_num_threads(), id = omp_get_thread_num();
#endif
    int o0 = (int)((long)O * id / nt), o1 = (int)((long)O * (id + 1) / nt);
    if (t == DUET_BF16) matvec_rows(out, x, w, N, O, K, o0, o1, DUET_BF16);
    else if (t == DUET_F16) matvec_rows(out, x, w, N, O, K, o0, o1, DUET_F16);
    else matvec_rows(out, x, w, N, O, K, o0, o1, DUET_F32);
  }
}
#endif

static void add_bias(float *out, const float *b, int N, int O) {
  if (!b) return;
  for (int n = 0; n < N; n++)
#pragma omp simd
    for (int o = 0; o < O; o++) out[(long)n * O + o] += b[o];
}

/* BF16/F16 with many rows of x: widen a panel of P rows of W at a time and
 * let sgemm do the math on it: out[:, o0:o0+P] = x @ panel^T. */
static int panel_gemm(float *out, const float *x, const duet_matrix *W, int N) {
  int O = W->rows, K = W->cols;
  long P = PANEL_BYTES / ((long)K * (long)sizeof(float));
  P = P < 16 ? 16 : P / 16 * 16;
  if (P > O) P = O;
  float *panel = malloc((size_t)P * (size_t)K * sizeof(float));
  if (!panel) return duet_error(DUET_ENOMEM, "linear: no memory for a %ldx%d weight panel", P, K);
  for (int o0 = 0; o0 < O; o0 += (int)P) {
    int p = O - o0 < P ? O - o0 : (int)P;
#pragma omp parallel for schedule(static) if ((long)p * K > DUET_OMP_MIN_WORK)
    for (int r = 0; r < p; r++) duet_matrix_rows_f32(panel + (long)r * K, W, o0 + r, 1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, p, K, 1.0f, x, K, panel, K, 0.0f, out + o0, O);
  }
  free(panel);
  return DUET_OK;
}

int duet_linear_forward(float *out, const float *x, const duet_matrix *W, const float *b, int N) {
  int rc = check(W, N);
  if (rc) return rc;
  if (N == 0) return DUET_OK;
  int O = W->rows, K = W->cols;
#if DUET_HAVE_AVX2
  if (N <= DUET_LINEAR_MATVEC_MAX_N && (W->dtype != DUET_F32 || N == 1)) {
    matvec(out, x, W, N);
    add_bias(out, b, N, O);
    return DUET_OK;
  }
#endif
  if (W->dtype == DUET_F32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, K, 1.0f, x, K, W->data, K, 0.0f, out, O);
  } else {
    rc = panel_gemm(out, x, W, N);
    if (rc) return rc;
  }
  add_bias(out, b, N, O);
  return DUET_OK;
}

int duet_linear_backward(float *dx, float *dW, float *db, const float *dout, const float *x, const duet_matrix *W,
                         int N) {
  int rc = check(W, N);
  if (rc) return rc;
  int O = W->rows, K = W->cols;
  if (dx && W->dtype != DUET_F32)
    return duet_error(DUET_EUNSUPPORTED, "linear backward: dx needs float32 weights (got dtype %d)", (int)W->dtype);
  if (N == 0) return DUET_OK;
  /* dx (N,K) += dout (N,O) @ W (O,K) */
  if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, O, 1.0f, dout, O, W->data, K, 1.0f, dx, K);
  /* dW (O,K) += dout^T (O,N) @ x (N,K) */
  if (dW) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, K, N, 1.0f, dout, O, x, K, 1.0f, dW, K);
  if (db) {
#pragma omp parallel for schedule(static) if ((long)N * O > DUET_OMP_MIN_WORK)
    for (int o = 0; o < O; o++) {
      float s = 0;
      for (int n = 0; n < N; n++) s += dout[(long)n * O + o];
      db[o] += s;
    }
  }
  return DUET_OK;
}
