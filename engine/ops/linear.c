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

static inline float weight_at_raw(const void *w, long at, duet_dtype t) {
  if (t == DUET_F32) return ((const float *)w)[at];
  uint16_t h = ((const uint16_t *)w)[at];
  return t == DUET_BF16 ? duet_bf16_to_f32(h) : duet_f16_to_f32(h);
}

static float weight_at(const duet_matrix *W, long at) { return weight_at_raw(W->data, at, W->dtype); }

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
/* Bytes ahead of the current W position to prefetch, for BF16/F16 rows.
 * Measured (110M layout, N = 1, A/B in one process): 512-1024 beat 2048
 * and none (none: -10%); F32 rows stream as fast or faster without. */
#define PREFETCH_AHEAD 1024

/* 16 weights of row `at` (W element index, a multiple of 16 from the row
 * start) as two vectors: F32 and F16 elements 0-7 and 8-15; BF16 the even
 * and odd elements (one 32-byte load, shift and mask), which is why BF16
 * multiplies against xs, x with each 16-block reordered evens-then-odds. */
static inline __attribute__((always_inline)) void load16(const void *w, long at, duet_dtype t, __m256 *lo,
                                                        __m256 *hi) {
  if (t == DUET_F32) {
    *lo = _mm256_loadu_ps((const float *)w + at), *hi = _mm256_loadu_ps((const float *)w + at + 8);
  } else if (t == DUET_F16) {
    *lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + at)));
    *hi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + at + 8)));
  } else {
    __m256i v = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + at));
    *lo = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    *hi = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xffff0000u)));
  }
}

/* out[n, o] = dot(W[o,:], x[n,:]) for the n < NX (1..4) rows of x, W's
 * row read once for all of them. Every (o, n) is summed in the same order
 * whatever NX, so a sequence decoded in a batch gets the bits it gets
 * alone: two accumulators (the two halves of each 16-block), then one
 * more 8-block for F32/F16, then the scalar tail. One W row at a time is
 * one sequential stream per thread, which the hardware prefetcher follows
 * best (4 rows side by side read BF16 at 2/3 of the speed). NX and t are
 * compile-time constants at every call site (always_inline). */
static inline __attribute__((always_inline)) void dot_row(float *out, const float *x, const float *xs,
                                                         const void *w, int O, int K, int o, int NX,
                                                         duet_dtype t) {
  __m256 acc[4][2];
#pragma GCC unroll 4
  for (int n = 0; n < NX; n++) acc[n][0] = acc[n][1] = _mm256_setzero_ps();
  long row = (long)o * K;
  const char *wb = (const char *)w + row * (t == DUET_F32 ? 4 : 2);
  int i = 0;
#pragma GCC unroll 4
  for (; i + 16 <= K; i += 16) {
    if (t != DUET_F32) _mm_prefetch(wb + (long)i * 2 + PREFETCH_AHEAD, _MM_HINT_T0);
    __m256 lo, hi;
    load16(w, row + i, t, &lo, &hi);
#pragma GCC unroll 4
    for (int n = 0; n < NX; n++) {
      acc[n][0] = _mm256_fmadd_ps(lo, _mm256_loadu_ps(xs + (long)n * K + i), acc[n][0]);
      acc[n][1] = _mm256_fmadd_ps(hi, _mm256_loadu_ps(xs + (long)n * K + i + 8), acc[n][1]);
    }
  }
  int tail8 = t != DUET_BF16 && i + 8 <= K;
  if (tail8) {
    __m256 lo = t == DUET_F32 ? _mm256_loadu_ps((const float *)w + row + i)
                              : _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + row + i)));
#pragma GCC unroll 4
    for (int n = 0; n < NX; n++) acc[n][0] = _mm256_fmadd_ps(lo, _mm256_loadu_ps(x + (long)n * K + i), acc[n][0]);
  }
  for (int n = 0; n < NX; n++) {
    float s = duet_hsum8(_mm256_add_ps(acc[n][0], acc[n][1]));
    for (int j = i + 8 * tail8; j < K; j++) s += weight_at_raw(w, row + j, t) * x[(long)n * K + j];
    out[(long)n * O + o] = s;
  }
}

#define BLOCK_R 3 /* rows of W per block */
#define BLOCK_X 4 /* rows of x per block */

/* The larger-batch kernel: out[n, o+r] = dot(wr[r,:], x[n,:]) for r < R
 * (1..3) float32 rows wr of W and n < NX (1..4) rows of x, R*NX
 * accumulators in registers: each W vector serves NX products and each x
 * vector R of them, 12 FMAs to 7 loads, so it is compute-bound with W
 * streamed from memory while it computes (sgemm first packs W: a read of
 * every weight that it does not overlap with its arithmetic). 12
 * accumulators, 3 W and 1 x vector fill the 16 registers. One accumulator
 * per output: its bits differ from dot_row's (a kernel keeping dot_row's
 * two-accumulator order fits only 2x3 blocks and ran 25% slower), so a
 * sequence decoded in a batch of more than DUET_LINEAR_ROW_MAX_N can
 * differ from alone in the last bits. */
static inline __attribute__((always_inline)) void block_steps(__m256 acc[BLOCK_R][BLOCK_X], const float *x,
                                                             const float *wr, int K, int i, int steps, int R,
                                                             int NX) {
  for (int s = 0; s < steps; s++, i += 8) {
    __m256 wv[BLOCK_R];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      wv[r] = _mm256_loadu_ps(wr + (long)r * K + i);
      __asm__("" : "+x"(wv[r])); /* loaded once, see xv below */
    }
#pragma GCC unroll 4
    for (int n = 0; n < NX; n++) {
      __m256 xv = _mm256_loadu_ps(x + (long)n * K + i);
      /* in a register: GCC folds a load into each FMA that uses it, up
       * to 2x the loads, and the loop then ran load-bound (45% of peak) */
      __asm__("" : "+x"(xv));
#pragma GCC unroll 4
      for (int r = 0; r < R; r++) acc[r][n] = _mm256_fmadd_ps(wv[r], xv, acc[r][n]);
    }
  }
}

static inline __attribute__((always_inline)) void dot_block(float *out, const float *x, const float *wr, int O, int K,
                                                           int o, int R, int NX, const char *pf, long pf_lines) {
  __m256 acc[BLOCK_R][BLOCK_X];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int n = 0; n < NX; n++) acc[r][n] = _mm256_setzero_ps();
  /* pf_lines cache lines from pf, one every `every` steps: spread through
   * the loop, a burst at the start overflowed the miss queue. In runs of
   * steps with no test inside: a per-step `step % every` test cost 13% */
  int left = K / 8, i = 0, every = pf_lines ? left / (int)pf_lines : 0;
  if (pf_lines && every < 1) every = 1;
  for (long pl = 0; pl < pf_lines; pl++) {
    _mm_prefetch(pf + 64 * pl, _MM_HINT_T0);
    int run = every < left ? every : left;
    block_steps(acc, x, wr, K, i, run, R, NX);
    i += 8 * run, left -= run;
  }
  block_steps(acc, x, wr, K, i, left, R, NX);
  i += 8 * left;
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int n = 0; n < NX; n++) out[(long)n * O + o + r] = duet_hsum8(acc[r][n]);
  /* the scalar tail apart: inside the loop above it kept the accumulators
   * spilled to the stack (5% at K = 768, which has no tail) */
  for (int r = 0; i < K && r < R; r++)
    for (int n = 0; n < NX; n++)
      for (int j = i; j < K; j++) out[(long)n * O + o + r] += wr[(long)r * K + j] * x[(long)n * K + j];
}

/* Rows [o, o+R) of out (R <= BLOCK_R, the rest of W after o) for N >
 * DUET_LINEAR_ROW_MAX_N rows of x: the block of W rows (held in L1 across
 * the x groups; BF16/F16 rows widened into wide, this thread's BLOCK_R*K
 * floats) against x rows in groups of BLOCK_X. */
static void block_rows(float *out, const float *x, const duet_matrix *W, int N, int o, float *wide) {
  int O = W->rows, K = W->cols, R = O - o < BLOCK_R ? O - o : BLOCK_R;
  long es = W->dtype == DUET_F32 ? 4 : 2;
  const float *wr = (const float *)W->data + (long)o * K;
  if (W->dtype != DUET_F32) duet_matrix_rows_f32(wide, W, o, R), wr = wide;
  /* the rows after this block (most likely this thread's next), a share
   * in each x group: the first group's W loads otherwise wait on memory
   * (the hottest loads in perf) */
  int next_rows = O - o - R < BLOCK_R ? O - o - R : BLOCK_R, groups = (N + BLOCK_X - 1) / BLOCK_X;
  const char *next = (const char *)W->data + (long)(o + R) * K * es;
  long pf_end = next_rows * (long)K * es;
#define DOT_BLOCK_CASE(r, nx) \
  case (r - 1) * BLOCK_X + nx - 1: dot_block(og, xg, wr, O, K, o, r, nx, next + b0, (b1 - b0 + 63) >> 6); break;
  for (int g = 0; g < N; g += BLOCK_X) {
    long b0 = (pf_end * (g / BLOCK_X) / groups) & ~63L, b1 = (pf_end * (g / BLOCK_X + 1) / groups) & ~63L;
    const float *xg = x + (long)g * K;
    float *og = out + (long)g * O;
    switch ((R - 1) * BLOCK_X + (N - g < BLOCK_X ? N - g : BLOCK_X) - 1) {
      DOT_BLOCK_CASE(1, 1) DOT_BLOCK_CASE(1, 2) DOT_BLOCK_CASE(1, 3) DOT_BLOCK_CASE(1, 4)
      DOT_BLOCK_CASE(2, 1) DOT_BLOCK_CASE(2, 2) DOT_BLOCK_CASE(2, 3) DOT_BLOCK_CASE(2, 4)
      DOT_BLOCK_CASE(3, 1) DOT_BLOCK_CASE(3, 2) DOT_BLOCK_CASE(3, 3) DOT_BLOCK_CASE(3, 4)
    }
  }
#undef DOT_BLOCK_CASE
}

static int blocked(float *out, const float *x, const duet_matrix *W, int N) {
  int O = W->rows, K = W->cols, nt = 1;
#ifdef _OPENMP
  nt = omp_get_max_threads();
#endif
  float *wide = NULL;
  if (W->dtype != DUET_F32 && !(wide = malloc((size_t)nt * BLOCK_R * (size_t)K * sizeof(float))))
    return duet_error(DUET_ENOMEM, "linear: no memory to widen %d rows of %d", BLOCK_R, K);
  /* guided, like the row kernel: long runs first, single blocks last, so
   * the threads reach the barrier together (fixed items of 1/8 of a share
   * left ~3% of a batch-32 step waiting there) */
  int blocks = (O + BLOCK_R - 1) / BLOCK_R;
#pragma omp parallel for schedule(guided, 1) if ((long)N * O * K > DUET_OMP_MIN_WORK)
  for (int c = 0; c < blocks; c++) {
    int id = 0;
#ifdef _OPENMP
    id = omp_get_thread_num();
#endif
    block_rows(out, x, W, N, c * BLOCK_R, wide ? wide + (size_t)id * BLOCK_R * (size_t)K : NULL);
  }
  free(wide);
  return DUET_OK;
}

/* Rows [o0, o1) of out for all N rows of x, x rows in groups of 4; the
 * group size is a constant in each row loop: a test per row cost 2-3% of
 * F32 batch-1 bandwidth. Groups after the first re-read the unit's rows
 * from L1/L2, not memory. */
static inline __attribute__((always_inline)) void matvec_rows(float *out, const float *x, const float *xs,
                                                             const void *w, int N, int O, int K, int o0, int o1,
                                                             duet_dtype t) {
  for (int g = 0; g < N; g += 4) {
    const float *xg = x + (long)g * K, *xsg = xs + (long)g * K;
    float *og = out + (long)g * O;
    switch (N - g < 4 ? N - g : 4) {
    case 1: for (int o = o0; o < o1; o++) dot_row(og, xg, xsg, w, O, K, o, 1, t); break;
    case 2: for (int o = o0; o < o1; o++) dot_row(og, xg, xsg, w, O, K, o, 2, t); break;
    case 3: for (int o = o0; o < o1; o++) dot_row(og, xg, xsg, w, O, K, o, 3, t); break;
    default: for (int o = o0; o < o1; o++) dot_row(og, xg, xsg, w, O, K, o, 4, t); break;
    }
  }
}

/* Decode-sized N: the row kernel (N <= DUET_LINEAR_ROW_MAX_N) or blocks. */
static int matvec(float *out, const float *x, const duet_matrix *W, int N) {
  if (N > DUET_LINEAR_ROW_MAX_N) return blocked(out, x, W, N);
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
  /* Units of 4 rows, taken by the threads in guided chunks: large at
   * first (a long sequential stream each) and small at the end (little
   * waiting at the barrier); if a thread loses its core on this shared
   * machine, the others take the rest. A/B against fixed items of 1/8 of
   * a thread's share: 1-5% more bandwidth at batch 1. */
  int units = (O + 3) / 4;
#pragma omp parallel for schedule(guided, 2) if ((long)O * K > DUET_OMP_MIN_WORK)
  for (int c = 0; c < units; c++) {
    int o0 = 4 * c, o1 = o0 + 4 < O ? o0 + 4 : O;
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
