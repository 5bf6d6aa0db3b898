#ifndef DUET_OPS_ROPE_H
#define DUET_OPS_ROPE_H

/* Rotary position embedding on x (N, n_heads, hd), row n at position
 * pos[n] (rows of a decode batch sit at different positions).
 * inv_freq[i] = theta^(-2i/hd), i in [0, hd/2), then rope_scaling:
 *  - linear: inv_freq[i] / factor (same as dividing positions by factor);
 *  - llama3: with L = original_max_pos and wavelength w = 2*pi/f: keep f
 *    when w < L/high_freq_factor, use f/factor when w > L/low_freq_factor,
 *    otherwise (1-s)*f/factor + s*f with
 *    s = (L/w - low_freq_factor) / (high_freq_factor - low_freq_factor).
 * Angle a = (float)pos * inv_freq[i] (float32, like PyTorch), and each
 * pair (x0, x1) becomes (x0 cos a - x1 sin a, x0 sin a + x1 cos a), where
 * the pair of frequency i is
 *  - NeoX / Hugging Face "rotate_half": (i, i + hd/2);
 *  - GPT-J / Meta interleaved: (2i, 2i + 1).
 * Backward is the rotation by -a. */

#include "engine/model.h"

/* The widest head RoPE takes: 8x any released model's (256), and the
 * per-row cos/sin tables (2 x 8 KiB) still sit on each thread's stack.
 * duet_config_validate refuses wider heads at load, so a server refuses
 * such a model at startup instead of its workers failing to start. */
#define DUET_ROPE_MAX_HD 4096

typedef struct {
  int head_dim;                        /* hd, even, <= DUET_ROPE_MAX_HD */
  int gptj;                            /* 1: interleaved pairs, 0: NeoX rotate-half */
  float inv_freq[DUET_ROPE_MAX_HD / 2]; /* after scaling */
} duet_rope;

/* Fill r. Returns DUET_OK or DUET_EINVAL (odd/oversized head_dim, theta <= 0,
 * factor <= 0, llama3 factors with high_freq_factor <= low_freq_factor...). */
int duet_rope_init(duet_rope *r, int head_dim, int gptj, float theta, duet_rope_scaling_kind scaling,
                   float factor, float low_freq_factor, float high_freq_factor, int original_max_pos);
/* From a model config (cfg->pos must be one of the RoPE kinds). */
int duet_rope_init_config(duet_rope *r, const duet_config *cfg);

/* out (N, n_heads, hd) = rotate(x); out may equal x (in place). */
void duet_rope_forward_ref(float *out, const float *x, const duet_rope *r, const int *pos, int N, int n_heads);
void duet_rope_forward(float *out, const float *x, const duet_rope *r, const int *pos, int N, int n_heads);

/* ACCUMULATES: dx += rotate_by_minus_angle(dout). dx must not alias dout. */
void duet_rope_backward(float *dx, const float *dout, const duet_rope *r, const int *pos, int N, int n_heads);

#endif
