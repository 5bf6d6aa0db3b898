#ifndef DUET_OPS_RMSNORM_H
#define DUET_OPS_RMSNORM_H

/* RMSNorm (Llama): out = x * rsqrt(mean(x^2) + eps) * w, per row, float32.
 *   rmsnorm: x (N,C), w (C) -> out (N,C); rstd (N) = 1/sqrt(mean(x^2)+eps)
 *   saved for backward (may be NULL at inference). out may equal x.
 * Qwen3's per-head q/k norm is this op with N = rows * heads and C =
 * head_dim over a (rows, heads, head_dim) tensor (one w of head_dim shared
 * by every head). */

void duet_rmsnorm_forward_ref(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps);
void duet_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps);

/* ACCUMULATES into dx (N,C) and dw (C) (+=); either may be NULL (input
 * without gradient, frozen weight). rstd is the forward's saved (N). */
void duet_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                           const float *rstd, int N, int C);

#endif
