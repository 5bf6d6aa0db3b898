#ifndef DUET_TRAIN_ADAMW_H
#define DUET_TRAIN_ADAMW_H

/* AdamW (Loshchilov & Hutter: decoupled weight decay), exactly as
 * torch.optim.AdamW computes it, over a flat float32 parameter buffer, plus
 * the pieces of a training step around it: global-norm gradient clipping
 * (torch.nn.utils.clip_grad_norm_) and the learning-rate schedule (linear
 * warmup, then cosine decay to min_lr_frac * lr).
 *
 * The state (m, v) is flat too, parallel to the parameters, so a
 * fully-sharded run can keep only its slice: every function works on a
 * range [0, n) of whatever buffers it is handed. */

#include <stddef.h>

typedef struct {
  float lr, beta1, beta2, eps, weight_decay;
  int warmup, total_steps;
  float min_lr_frac;
} duet_adamw_hparams;

/* llm.c / GPT-3 defaults: betas (0.9, 0.95), eps 1e-8, weight decay 0.1. */
duet_adamw_hparams duet_adamw_defaults(void);

typedef struct {
  long n;
  float *m, *v; /* first and second moments, zero at the start */
  long step;    /* steps taken (bias correction uses step + 1 for the next one) */
} duet_adamw;

int duet_adamw_init(duet_adamw *o, long n);
void duet_adamw_free(duet_adamw *o);

/* One AdamW update of p[0..n) with gradients g, moments m, v (slices of the
 * optimizer's buffers at the same offset), at 1-based step t:
 *   p -= lr * wd * p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * wd is 0 for tensors that are not decayed (norm weights, biases). */
void duet_adamw_update(float *p, const float *g, float *m, float *v, long n, long t, float lr, float wd,
                       const duet_adamw_hparams *hp);

/* Learning rate of 0-based step `step`: lr * (step+1) / warmup during
 * warmup, then cosine from lr down to min_lr_frac * lr at total_steps. */
float duet_lr_at(const duet_adamw_hparams *hp, int step);

/* Sum of squares of g[0..n) in double (the caller sums the pieces, e.g.
 * over ranks, then takes the square root). */
double duet_grad_sumsq(const float *g, long n);

/* torch.nn.utils.clip_grad_norm_: when norm > max_norm, scale g by
 * max_norm / (norm + 1e-6). Returns the scale applied (1 when none). */
float duet_clip_scale(double norm, float max_norm);
void duet_scale(float *g, long n, float s);

#endif
