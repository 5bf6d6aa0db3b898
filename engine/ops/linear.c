#include "engine/ops/linear.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdint.h>
#include <stdlib.h>

#include "engine/error.h"
#include "engine/ops/blas_threads.h"
#include "engine/ops/dtype.h"
#include "engine/ops/simd.h"

/* Scratch for one widened panel of W per thread in the BF16/F16 prefill
 * path: 1 MiB of float32 (the panels of both cores fit L3 beside x and
 * out), at least 16 rows. */
#define PANEL_BYTES (1L << 20)

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

/* This OpenMP thread's share [*s0, *s1) of n items, boundaries rounded
 * down to a multiple of align (a power of two); the last thread takes the
 * rest. Outside a parallel region: everything. */
static void thread_slab(int n, int align, int *s0, int *s1) {
  int nt = 1, id = 0;
#ifdef _OPENMP
  nt = omp_get_num_threads(), id = omp_get_thread_num();
#endif
  *s0 = (int)((long)n * id / nt) & ~(align - 1);
  *s1 = id == nt - 1 ? n : (int)((long)n * (id + 1) / nt) & ~(align - 1);
}

/* Rows per work item when n rows are shared by the threads: about `per`
 * items per thread, a multiple of align (a power of two), at most cap
 * (>= align). */
static int chunk_rows(int n, int per, int align, int cap) {
  int nt = 1;
#ifdef _OPENMP
  nt = omp_get_max_threads();
#endif
  int c = (n + nt * per - 1) / (nt * per);
  c = (c + align - 1) & ~(align - 1);
  return c > cap ? cap : c;
}

/* ---- matrix-vector kernel: W read once, widened on the fly ---- */

#if DUET_HAVE_AVX2
static inline __attribute__((always_inline)) __m256 load8(const void *w, long at, duet_dtype t) {
  if (t == DUET_F32) return _mm256_loadu_ps((const float *)w + at);
  __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + at));
  if (t == DUET_F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* out[n, o+r] = dot(W[o+r,:], x[n,:]) for r < R (1 or 2 rows of W) and
 * n < NX (1..4 rows of x): each 8-wide chunk of x is loaded once for both
 * W rows and each chunk of W once for all NX x rows, R*NX independent
 * accumulators. R, NX and t are compile-time constants at every call site
 * (always_inline), so the arrays live in registers. */
static inline __attribute__((always_inline)) void dot_block(float *out, const float *x, const float *xs,
                                                           const void *w, int O, int K, int o, int R, int NX,
                                                           duet_dtype t) {
  __m256 acc[4][4];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int n = 0; n < NX; n++) acc[r][n] = _mm256_setzero_ps();
  int i = 0;
  if (t == DUET_BF16) /* 16 at a time, even/odd halves against xs */
    for (; i + 16 <= K; i += 16) {
#pragma GCC unroll 4
      for (int r = 0; r < R; r++) {
        const uint16_t *wr = (const uint16_t *)w + (long)(o + r) * K + i;
        _mm_prefetch((const char *)wr + 768, _MM_HINT_T0);
        __m256i v = _mm256_loadu_si256((const __m256i *)wr);
        __m256 we = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        __m256 wo = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xffff0000u)));
#pragma GCC unroll 4
        for (int n = 0; n < NX; n++) {
          acc[r][n] = _mm256_fmadd_ps(we, _mm256_loadu_ps(xs + (long)n * K + i), acc[r][n]);
          acc[r][n] = _mm256_fmadd_ps(wo, _mm256_loadu_ps(xs + (long)n * K + i + 8), acc[r][n]);
        }
      }
    }
  for (; t != DUET_BF16 && i + 8 <= K; i += 8) {
    __m256 xv[4];
#pragma GCC unroll 4
    for (int n = 0; n < NX; n++) xv[n] = _mm256_loadu_ps(x + (long)n * K + i);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      _mm_prefetch((const char *)w + ((long)(o + r) * K + i) * (t == DUET_F32 ? 4 : 2) + 768, _MM_HINT_T0);
      __m256 wv = load8(w, (long)(o + r) * K + i, t);
#pragma GCC unroll 4
      for (int n = 0; n < NX; n++) acc[r][n] = _mm256_fmadd_ps(wv, xv[n], acc[r][n]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int n = 0; n < NX; n++) {
      float s = duet_hsum8(acc[r][n]);
      for (int j = i; j < K; j++) {
        long at = (long)(o + r) * K + j;
        float wj = t == DUET_F32 ? ((const float *)w)[at]
                   : t == DUET_F16 ? duet_f16_to_f32(((const uint16_t *)w)[at])
                                   : duet_bf16_to_f32(((const uint16_t *)w)[at]);
        s += wj * x[(long)n * K + j];
      }
      out[(long)n * O + o + r] = s;
    }
}

/* Rows [o0, o1) of out for all N rows of x: W rows in pairs, x rows in
 * groups of 4 (the pair of W rows stays in L1 across the groups, so W is
 * read from memory once whatever N). */
static inline __attribute__((always_inline)) void matvec_rows(float *out, const float *x, const float *xs,
                                                             const void *w, int N, int O, int K, int o0, int o1,
                                                             duet_dtype t) {
  int o = o0;
  if (N == 1) /* one x row: 4 W rows at a time, 4 streams and accumulators */
    for (; o + 4 <= o1; o += 4) dot_block(out, x, xs, w, O, K, o, 4, 1, t);
  for (; o < o1; o += 2) {
    int two = o1 - o >= 2;
    for (int g = 0; g < N; g += 4) {
      const float *xg = x + (long)g * K, *xsg = xs + (long)g * K;
      float *og = out + (long)g * O;
      switch ((N - g < 4 ? N - g : 4) + 4 * two) {
      case 1: dot_block(og, xg, xsg, w, O, K, o, 1, 1, t); break;
      case 2: dot_block(og, xg, xsg, w, O, K, o, 1, 2, t); break;
      case 3: dot_block(og, xg, xsg, w, O, K, o, 1, 3, t); break;
      case 4: dot_block(og, xg, xsg, w, O, K, o, 1, 4, t); break;
      case 5: dot_block(og, xg, xsg, w, O, K, o, 2, 1, t); break;
      case 6: dot_block(og, xg, xsg, w, O, K, o, 2, 2, t); break;
      case 7: dot_block(og, xg, xsg, w, O, K, o, 2, 3, t); break;
      default: dot_block(og, xg, xsg, w, O, K, o, 2, 4, t); break;
      }
    }
  }
}

/* Work items of rows, taken dynamically by the OpenMP threads: on a shared
 * machine a thread that loses its core holds up one small item while the
 * others take the rest (static halves made a preempted thread stall the
 * whole call). */
static int matvec(float *out, const float *x, const duet_matrix *W, int N) {
  int O = W->rows, K = W->cols;
  const void *w = W->data;
  duet_dtype t = W->dtype;
  float *xs = NULL;
  if (t == DUET_BF16) { /* x with each 16-block as its 8 even then 8 odd elements */
    xs = malloc((size_t)N * (size_t)K * sizeof(float));
    if (!xs) return duet_error(DUET_ENOMEM, "linear: no memory for %dx%d activations", N, K);
    for (long r = 0; r < N; r++)
      for (int i = 0; i + 16 <= K; i += 16)
        for (int j = 0; j < 8; j++)
          xs[r * K + i + j] = x[r * K + i + 2 * j], xs[r * K + i + 8 + j] = x[r * K + i + 2 * j + 1];
  }
  int chunk = chunk_rows(O, 8, 4, O), items = (O + chunk - 1) / chunk;
#pragma omp parallel for schedule(dynamic, 1) if ((long)O * K > DUET_OMP_MIN_WORK)
  for (int c = 0; c < items; c++) {
    int o0 = c * chunk, o1 = o0 + chunk < O ? o0 + chunk : O;
    if (t == DUET_BF16) matvec_rows(out, x, xs, w, N, O, K, o0, o1, DUET_BF16);
    else if (t == DUET_F16) matvec_rows(out, x, x, w, N, O, K, o0, o1, DUET_F16);
    else matvec_rows(out, x, x, w, N, O, K, o0, o1, DUET_F32);
  }
  free(xs);
  return DUET_OK;
}
#endif

static void add_bias(float *out, const float *b, int N, int O) {
  if (!b) return;
  for (int n = 0; n < N; n++)
#pragma omp simd
    for (int o = 0; o < O; o++) out[(long)n * O + o] += b[o];
}

/* Rows [o0, o1) of out (N,O) = x @ W[o0:o1]^T with single-threaded sgemm:
 * F32 straight from W; BF16/F16 through panels of W widened into this
 * thread's scratch (panel (P,K) f32). */
static void gemm_rows(float *out, const float *x, const duet_matrix *W, int N, int o0, int o1, float *panel, long P) {
  int O = W->rows, K = W->cols;
  if (W->dtype == DUET_F32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, o1 - o0, K, 1.0f, x, K,
                (const float *)W->data + (long)o0 * K, K, 0.0f, out + o0, O);
    return;
  }
  for (int p0 = o0; p0 < o1; p0 += (int)P) {
    int p = o1 - p0 < P ? o1 - p0 : (int)P;
    duet_matrix_rows_f32(panel, W, p0, p);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, p, K, 1.0f, x, K, panel, K, 0.0f, out + p0, O);
  }
}

/* Larger N: OpenMP threads take items of W's rows (a multiple of 16 rows,
 * at most one panel) and multiply each with single-threaded OpenBLAS
 * (blas_threads.h). */
static int gemm_split(float *out, const float *x, const duet_matrix *W, int N) {
  int O = W->rows, K = W->cols, err = 0;
  long P = PANEL_BYTES / ((long)K * (long)sizeof(float));
  P = P < 16 ? 16 : P / 16 * 16;
  int chunk = chunk_rows(O, 4, 16, (int)(P < O ? P : O + 15) / 16 * 16), items = (O + chunk - 1) / chunk;
  int saved = duet_blas_serial_begin();
#pragma omp parallel
  {
    float *panel = W->dtype == DUET_F32 ? NULL : malloc((size_t)chunk * (size_t)K * sizeof(float));
    if (W->dtype != DUET_F32 && !panel) {
#pragma omp atomic write
      err = 1;
    }
#pragma omp for schedule(dynamic, 1)
    for (int c = 0; c < items; c++) {
      int o0 = c * chunk, o1 = o0 + chunk < O ? o0 + chunk : O;
      if (panel || W->dtype == DUET_F32) gemm_rows(out, x, W, N, o0, o1, panel, chunk);
    }
    free(panel);
  }
  duet_blas_serial_end(saved);
  if (err) return duet_error(DUET_ENOMEM, "linear: no memory for a %dx%d weight panel", chunk, K);
  return DUET_OK;
}

int duet_linear_forward(float *out, const float *x, const duet_matrix *W, const float *b, int N) {
  int rc = check(W, N);
  if (rc) return rc;
  if (N == 0) return DUET_OK;
#if DUET_HAVE_AVX2
  if (N <= DUET_LINEAR_MATVEC_MAX_N) rc = matvec(out, x, W, N);
  else
#endif
    rc = gemm_split(out, x, W, N);
  if (rc) return rc;
  add_bias(out, b, N, W->rows);
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
  const float *w = W->data;
  /* Each thread owns a slab of columns of dx and of rows of dW and db, so
   * the products run on single-threaded OpenBLAS side by side. */
  int saved = duet_blas_serial_begin();
#pragma omp parallel if ((long)N * O * K > DUET_OMP_MIN_WORK)
  {
    int k0, k1, o0, o1;
    thread_slab(K, 16, &k0, &k1);
    thread_slab(O, 16, &o0, &o1);
    /* dx[:, k0:k1] (N, k1-k0) += dout (N,O) @ W[:, k0:k1] (O, k1-k0) */
    if (dx && k1 > k0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, k1 - k0, O, 1.0f, dout, O, w + k0, K, 1.0f, dx + k0, K);
    /* dW[o0:o1] (o1-o0, K) += dout[:, o0:o1]^T (o1-o0, N) @ x (N,K) */
    if (dW && o1 > o0)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, K, N, 1.0f, dout + o0, O, x, K, 1.0f,
                  dW + (long)o0 * K, K);
    for (int o = o0; db && o < o1; o++) {
      float s = 0;
      for (int n = 0; n < N; n++) s += dout[(long)n * O + o];
      db[o] += s;
    }
  }
  duet_blas_serial_end(saved);
  return DUET_OK;
}
