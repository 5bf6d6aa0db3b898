#include "engine/ops/sinusoidal.h"

#include <math.h>
#include <stdlib.h>

#include "engine/ops/simd.h"

/* PE(p, 2i) = sin(p * f_i), PE(p, 2i+1) = cos(p * f_i), f_i = base^(-2i/C),
 * in double (the same as the documented PyTorch float64 reference). */
static void add_pe_row(float *out, const float *x, int p, int C, double log_base) {
  for (int i = 0; i < C / 2; i++) {
    double f = exp((double)(2 * i) * (-log_base / C));
    double a = (double)p * f;
    out[2 * i] = x[2 * i] + (float)sin(a);
    out[2 * i + 1] = x[2 * i + 1] + (float)cos(a);
  }
  if (C % 2) out[C - 1] = x[C - 1]; /* odd C: the last element has no pair */
}

void duet_sinusoidal_forward_ref(float *out, const float *x, const int *pos, int N, int C, float base) {
  for (int n = 0; n < N; n++) add_pe_row(out + (long)n * C, x + (long)n * C, pos[n], C, log((double)base));
}

/* PE (C) of position p from precomputed frequencies f (C/2). */
static void pe_row(float *pe, int p, const double *f, int C) {
  for (int i = 0; i < C / 2; i++) {
    double a = (double)p * f[i];
    pe[2 * i] = (float)sin(a);
    pe[2 * i + 1] = (float)cos(a);
  }
  if (C % 2) pe[C - 1] = 0;
}

/* sin/cos in double dominate, and a training batch repeats the same
 * positions in every sequence: when the positions span at most N values,
 * build the table of PE rows for [min, max] once and add rows from it. The
 * values are bit-identical to the reference (same double expressions). */
void duet_sinusoidal_forward(float *out, const float *x, const int *pos, int N, int C, float base) {
  if (N <= 0 || C <= 1) {
    duet_sinusoidal_forward_ref(out, x, pos, N, C, base);
    return;
  }
  int lo = pos[0], hi = pos[0];
  for (int n = 1; n < N; n++) lo = pos[n] < lo ? pos[n] : lo, hi = pos[n] > hi ? pos[n] : hi;
  long span = (long)hi - lo + 1;
  double *f = malloc((size_t)(C / 2) * sizeof(double));
  float *table = span <= N ? malloc((size_t)span * (size_t)C * sizeof(float)) : NULL;
  if (!f || !table) {
    free(f), free(table);
    duet_sinusoidal_forward_ref(out, x, pos, N, C, base);
    return;
  }
  double lb = log((double)base);
  for (int i = 0; i < C / 2; i++) f[i] = exp((double)(2 * i) * (-lb / C));
#pragma omp parallel if (span * C > DUET_OMP_MIN_WORK / 8)
  {
#pragma omp for schedule(static)
    for (long p = 0; p < span; p++) pe_row(table + p * C, (int)(lo + p), f, C);
#pragma omp for schedule(static)
    for (int n = 0; n < N; n++) {
      const float *pe = table + (long)(pos[n] - lo) * C, *xr = x + (long)n * C;
      float *o = out + (long)n * C;
      for (int i = 0; i < C; i++) o[i] = xr[i] + pe[i];
    }
  }
  free(f), free(table);
}

void duet_sinusoidal_backward(float *dx, const float *dout, int N, int C) {
  long n = (long)N * C;
  for (long i = 0; i < n; i++) dx[i] += dout[i];
}
