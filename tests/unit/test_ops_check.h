#ifndef DUET_TEST_OPS_CHECK_H
#define DUET_TEST_OPS_CHECK_H

/* Shared by tests/unit/test_ops_*.c (header only: not a test program).
 * Gradient checks: the scalar loss is L = sum_i out_i * r_i for fixed
 * random r (so dL/dout = r), summed in double; central differences
 * (L(p+e) - L(p-e)) / 2e in double are compared with the analytic gradient
 * relative to the gradient's max-abs. check_grad_step checks every
 * step-th element only (for the larger shapes). */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit_check.h"

static unsigned long long g_rng = 0x9e3779b97f4a7c15ull;
static inline float frand(void) { /* uniform in [-1, 1) */
  g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
  return (float)((g_rng >> 40) * (2.0 / 16777216.0) - 1.0);
}
static inline float *rand_buf(long n, float scale) {
  float *p = malloc((size_t)(n ? n : 1) * sizeof(float));
  for (long i = 0; i < n; i++) p[i] = frand() * scale;
  return p;
}
static inline float *const_buf(long n, float v) {
  float *p = malloc((size_t)(n ? n : 1) * sizeof(float));
  for (long i = 0; i < n; i++) p[i] = v;
  return p;
}

/* max |a-b| / max(max|b|, floor) */
static inline double rel_err(const float *a, const float *b, long n, double floor) {
  double m = floor, d = 0;
  for (long i = 0; i < n; i++) {
    if (fabs(b[i]) > m) m = fabs(b[i]);
    double e = fabs((double)a[i] - b[i]);
    if (e > d || e != e) d = e;
  }
  return d / m;
}

/* The forward under test, writing n_out floats; returns L = sum out*r. */
typedef struct {
  void (*run)(void *ctx, float *out);
  void *ctx;
  float *out, *r;
  long n_out;
} loss_fn;

static inline double eval_loss(loss_fn *f) {
  f->run(f->ctx, f->out);
  double s = 0;
  for (long i = 0; i < f->n_out; i++) s += (double)f->out[i] * f->r[i];
  return s;
}

/* Compare the analytic gradient of p (n values) with central differences.
 * grad holds "initial + analytic" where the backward accumulated into a
 * buffer pre-filled with `initial` (this also checks +=). */
static inline void check_grad_step(const char *name, loss_fn *f, float *p, long n, long step, const float *grad,
                                   float initial, float eps, double tol) {
  double maxg = 1e-3, maxd = 0;
  long worst = -1;
  for (long i = 0; i < n; i++) maxg = fmax(maxg, fabs(grad[i] - initial));
  for (long i = 0; i < n; i += step) {
    float save = p[i];
    p[i] = save + eps;
    double hp = (double)p[i] - save, lp = eval_loss(f);
    p[i] = save - eps;
    double hm = save - (double)p[i], lm = eval_loss(f);
    p[i] = save;
    double fd = (lp - lm) / (hp + hm);
    double d = fabs(fd - ((double)grad[i] - initial));
    if (d > maxd || d != d) maxd = d, worst = i;
  }
  CHECK(maxd <= tol * maxg, "%s: gradient off by %.3g (max |grad| %.3g, worst index %ld)", name, maxd, maxg, worst);
}

/* Every element. */
static inline void check_grad(const char *name, loss_fn *f, float *p, long n, const float *grad, float initial,
                              float eps, double tol) {
  check_grad_step(name, f, p, n, 1, grad, initial, eps, tol);
}

#endif
