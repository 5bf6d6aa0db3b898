#include "engine/ops/softmax.h"

#include <math.h>

#include "engine/ops/simd.h"

void duet_softmax_forward_ref(float *out, const float *x, int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *xr = x + (long)n * C;
    float *o = out + (long)n * C;
    float m = -INFINITY;
    for (int i = 0; i < C; i++) m = xr[i] > m ? xr[i] : m;
    if (m == -INFINITY) { /* fully masked row */
      for (int i = 0; i < C; i++) o[i] = 0;
      continue;
    }
    double s = 0;
    for (int i = 0; i < C; i++) s += exp((double)xr[i] - m);
    for (int i = 0; i < C; i++) o[i] = (float)(exp((double)xr[i] - m) / s);
  }
}

/* One row in place-safe order: max, exp into out with running sum, scale. */
static void softmax_row(float *o, const float *xr, int C) {
  float m = duet_row_max(xr, C);
  if (m == -INFINITY) {
    for (int i = 0; i < C; i++) o[i] = 0;
    return;
  }
  float s = duet_row_exp_sum(o, xr, C, m);
  float inv = 1.0f / s;
#pragma omp simd
  for (int i = 0; i < C; i++) o[i] *= inv;
}

/* Small inputs take a plain loop with no OpenMP call at all: attention
 * calls this once per row from inside its own parallel loop. */
void duet_softmax_forward(float *out, const float *x, int N, int C) {
  if ((long)N * C <= DUET_OMP_MIN_WORK) {
    for (int n = 0; n < N; n++) softmax_row(out + (long)n * C, x + (long)n * C, C);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) softmax_row(out + (long)n * C, x + (long)n * C, C);
}

void duet_softmax_backward(float *dx, const float *dout, const float *p, int N, int C) {
#pragma omp parallel for schedule(static) if ((long)N * C > DUET_OMP_MIN_WORK)
  for (int n = 0; n < N; n++) {
    const float *dy = dout + (long)n * C, *pr = p + (long)n * C;
    float *d = dx + (long)n * C, dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int i = 0; i < C; i++) dot += dy[i] * pr[i];
#pragma omp simd
    for (int i = 0; i < C; i++) d[i] += pr[i] * (dy[i] - dot);
  }
}

/* First masked key of query row i: q_offset + i + 1 (clamped to [0, Tk]). */
static int first_masked(int i, int Tk, int q_offset) {
  long j = (long)q_offset + i + 1;
  return j < 0 ? 0 : j > Tk ? Tk : (int)j;
}

void duet_causal_mask_forward(float *scores, int B, int Tq, int Tk, int q_offset) {
  for (long b = 0; b < B; b++)
    for (int i = 0; i < Tq; i++) {
      float *row = scores + (b * Tq + i) * Tk;
      for (int j = first_masked(i, Tk, q_offset); j < Tk; j++) row[j] = -INFINITY;
    }
}

void duet_causal_mask_backward(float *dx, const float *dout, int B, int Tq, int Tk, int q_offset) {
  for (long b = 0; b < B; b++)
    for (int i = 0; i < Tq; i++) {
      long r = (b * Tq + i) * Tk;
      int end = first_masked(i, Tk, q_offset);
      for (int j = 0; j < end; j++) dx[r + j] += dout[r + j];
    }
}
