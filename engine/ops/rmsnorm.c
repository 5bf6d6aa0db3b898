#include "engine/ops/rmsnorm.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/ops/simd.h"

void duet_rmsnorm_forward_ref(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps) {
  for (int n = 0; n < N; n++) {
    const float *xr = x + (long)n * C;
    float *o = out + (long)n * C;
    double ss = 0;
    for (int i = 0; i < C; i++) ss += (double)xr[i] * xr[i];
    float r = (float)(1.0 / sqrt(ss / C + eps));
    for (int i = 0; i < C; i++) o[i] = xr[i] * r * w[i]; /* (x * rstd) * w, as HF */
    if (rstd) rstd[n] = r;
  }
}

static float sum_squares(const float *x, int C) {
  int i = 0;
  float s = 0;
#if DUET_HAVE_AVX2
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (; i + 16 <= C; i += 16) {
    __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
    a0 = _mm256_fmadd_ps(v0, v0, a0);
    a1 = _mm256_fmadd_ps(v1, v1, a1);
  }
  s = duet_hsum8(_mm256_add_ps(a0, a1));
#endif
  for (; i < C; i++) s += x[i] * x[i];
  return s;
}

void duet_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C > DUET_OMP_MIN_WORK)
  for (int n = 0; n < N; n++) {
    const float *xr = x + (long)n * C;
    float *o = out + (long)n * C;
    float r = 1.0f / sqrtf(sum_squares(xr, C) / (float)C + eps);
#pragma omp simd
    for (int i = 0; i < C; i++) o[i] = xr[i] * r * w[i];
    if (rstd) rstd[n] = r;
  }
}

/* y_j = x_j r w_j with r = (mean(x^2)+eps)^-1/2, so
 * dx_j = r w_j dy_j - (r^3 / C) x_j sum_k(dy_k w_k x_k),  dw_j = sum_n dy_j x_j r. */
void duet_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                           const float *rstd, int N, int C) {
  if (dx) {
#pragma omp parallel for schedule(static) if ((long)N * C > DUET_OMP_MIN_WORK)
    for (int n = 0; n < N; n++) {
      const float *xr = x + (long)n * C, *dy = dout + (long)n * C;
      float *d = dx + (long)n * C;
      float r = rstd[n], dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int i = 0; i < C; i++) dot += dy[i] * w[i] * xr[i];
      float c = r * r * r * dot / (float)C;
#pragma omp simd
      for (int i = 0; i < C; i++) d[i] += r * w[i] * dy[i] - c * xr[i];
    }
  }
  if (!dw) return;
  /* dw is shared by all rows: each thread owns a range of columns and walks
   * every row over it (contiguous, vectorised), so no reduction is needed. */
#pragma omp parallel if ((long)N * C > DUET_OMP_MIN_WORK)
  {
    int c0 = 0, c1 = C;
#ifdef _OPENMP
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    c0 = (int)((long)C * id / nt), c1 = (int)((long)C * (id + 1) / nt);
#endif
    for (int n = 0; n < N; n++) {
      const float *xr = x + (long)n * C, *dy = dout + (long)n * C;
      float r = rstd[n];
#pragma omp simd
      for (int i = c0; i < c1; i++) dw[i] += dy[i] * xr[i] * r;
    }
  }
}
