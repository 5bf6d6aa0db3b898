#include "engine/train/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

duet_adamw_hparams duet_adamw_defaults(void) {
  duet_adamw_hparams h = {.lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                          .warmup = 0, .total_steps = 1, .min_lr_frac = 0.1f};
  return h;
}

int duet_adamw_init(duet_adamw *o, long n) {
  memset(o, 0, sizeof *o);
  if (n <= 0) return duet_error(DUET_EINVAL, "adamw: %ld parameters", n);
  o->m = calloc((size_t)n, sizeof(float));
  o->v = calloc((size_t)n, sizeof(float));
  if (!o->m || !o->v) {
    duet_adamw_free(o);
    return duet_error(DUET_ENOMEM, "adamw: cannot allocate state for %ld parameters", n);
  }
  o->n = n;
  return DUET_OK;
}

void duet_adamw_free(duet_adamw *o) {
  free(o->m);
  free(o->v);
  memset(o, 0, sizeof *o);
}

void duet_adamw_update(float *p, const float *g, float *m, float *v, long n, long t, float lr, float wd,
                       const duet_adamw_hparams *hp) {
  /* same order of float operations as torch's single-tensor AdamW */
  float b1 = hp->beta1, b2 = hp->beta2;
  float bc1 = 1.0f - powf(b1, (float)t);
  float bc2_sqrt = sqrtf(1.0f - powf(b2, (float)t));
  float step_size = lr / bc1, decay = 1.0f - lr * wd;
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (long i = 0; i < n; i++) {
    float gi = g[i];
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float denom = sqrtf(vi) / bc2_sqrt + hp->eps;
    p[i] = p[i] * decay - step_size * mi / denom;
  }
}

float duet_lr_at(const duet_adamw_hparams *hp, int step) {
  if (step < hp->warmup) return hp->lr * (float)(step + 1) / (float)hp->warmup;
  float min_lr = hp->lr * hp->min_lr_frac;
  int span = hp->total_steps - hp->warmup;
  double progress = span > 0 ? (double)(step - hp->warmup) / span : 1.0;
  if (progress > 1.0) progress = 1.0;
  return (float)(min_lr + 0.5 * (1.0 + cos(M_PI * progress)) * (hp->lr - min_lr));
}

double duet_grad_sumsq(const float *g, long n) {
  double s = 0; /* serial: a parallel reduction's order varies, and runs must repeat bit for bit */
  for (long i = 0; i < n; i++) s += (double)g[i] * g[i];
  return s;
}

float duet_clip_scale(double norm, float max_norm) {
  if (max_norm <= 0) return 1.0f;
  double c = max_norm / (norm + 1e-6);
  return c < 1.0 ? (float)c : 1.0f;
}

void duet_scale(float *g, long n, float s) {
  if (s == 1.0f) return;
  for (long i = 0; i < n; i++) g[i] *= s;
}
