#include "engine/ops/rope.h"

#include <math.h>

#include "engine/error.h"
#include "engine/ops/simd.h"

/* Frequencies in float32 the way Hugging Face computes them
 * (1 / theta ** (arange(0, hd, 2).float() / hd), then the scaling), so
 * angles match a PyTorch reference to the last bit or two. */
int duet_rope_init(duet_rope *r, int head_dim, int gptj, float theta, duet_rope_scaling_kind scaling,
                   float factor, float low_freq_factor, float high_freq_factor, int original_max_pos) {
  if (head_dim <= 0 || head_dim % 2 || head_dim > DUET_ROPE_MAX_HD)
    return duet_error(DUET_EINVAL, "rope: head_dim %d must be even and in [2, %d]", head_dim, DUET_ROPE_MAX_HD);
  if (!(theta > 0)) return duet_error(DUET_EINVAL, "rope: rope_theta %g must be > 0", theta);
  if (scaling != DUET_ROPE_SCALING_NONE && !(factor > 0))
    return duet_error(DUET_EINVAL, "rope_scaling: factor %g must be > 0", factor);
  if (scaling == DUET_ROPE_SCALING_LLAMA3 &&
      (!(low_freq_factor > 0) || !(high_freq_factor > low_freq_factor) || original_max_pos <= 0))
    return duet_error(DUET_EINVAL,
                      "rope_scaling llama3: need 0 < low_freq_factor (%g) < high_freq_factor (%g) and "
                      "original_max_position_embeddings (%d) > 0",
                      low_freq_factor, high_freq_factor, original_max_pos);
  if (scaling != DUET_ROPE_SCALING_NONE && scaling != DUET_ROPE_SCALING_LINEAR && scaling != DUET_ROPE_SCALING_LLAMA3)
    return duet_error(DUET_EUNSUPPORTED, "rope_scaling kind %d is not supported", (int)scaling);
  r->head_dim = head_dim;
  r->gptj = gptj ? 1 : 0;
  float L = (float)original_max_pos;
  for (int i = 0; i < head_dim / 2; i++) {
    float f = 1.0f / powf(theta, (float)(2 * i) / (float)head_dim);
    if (scaling == DUET_ROPE_SCALING_LINEAR) f /= factor;
    if (scaling == DUET_ROPE_SCALING_LLAMA3) {
      float wl = (float)(2 * M_PI) / f;
      if (wl > L / low_freq_factor) f = f / factor;
      else if (!(wl < L / high_freq_factor)) {
        float s = (L / wl - low_freq_factor) / (high_freq_factor - low_freq_factor);
        f = (1 - s) * f / factor + s * f;
      }
    }
    r->inv_freq[i] = f;
  }
  return DUET_OK;
}

int duet_rope_init_config(duet_rope *r, const duet_config *cfg) {
  if (cfg->pos != DUET_POS_ROPE_NEOX && cfg->pos != DUET_POS_ROPE_GPTJ)
    return duet_error(DUET_EINVAL, "rope: the model's position encoding (%d) is not RoPE", (int)cfg->pos);
  return duet_rope_init(r, cfg->head_dim, cfg->pos == DUET_POS_ROPE_GPTJ, cfg->rope_theta, cfg->rope_scaling.kind,
                        cfg->rope_scaling.factor, cfg->rope_scaling.low_freq_factor,
                        cfg->rope_scaling.high_freq_factor, cfg->rope_scaling.original_max_pos);
}

/* Index of the two elements of pair i. */
static inline void pair_index(const duet_rope *r, int i, int *a, int *b) {
  if (r->gptj) *a = 2 * i, *b = 2 * i + 1;
  else *a = i, *b = i + r->head_dim / 2;
}

void duet_rope_forward_ref(float *out, const float *x, const duet_rope *r, const int *pos, int N, int n_heads) {
  int hd = r->head_dim;
  for (int n = 0; n < N; n++)
    for (int h = 0; h < n_heads; h++)
      for (int i = 0; i < hd / 2; i++) {
        long base = ((long)n * n_heads + h) * hd;
        int a, b;
        pair_index(r, i, &a, &b);
        float ang = (float)pos[n] * r->inv_freq[i];
        float c = cosf(ang), s = sinf(ang), x0 = x[base + a], x1 = x[base + b];
        out[base + a] = x0 * c - x1 * s;
        out[base + b] = x0 * s + x1 * c;
      }
}

/* Rotate n_heads heads of one row by the angles whose cos/sin are given
 * (sn negated for backward); acc: add into out instead of storing. */
static void rotate_row(float *out, const float *x, const float *cs, const float *sn, const duet_rope *r, int n_heads,
                       int acc) {
  int hd = r->head_dim, half = hd / 2;
  for (int h = 0; h < n_heads; h++) {
    const float *xh = x + (long)h * hd;
    float *oh = out + (long)h * hd;
    if (r->gptj) {
      for (int i = 0; i < half; i++) {
        float x0 = xh[2 * i], x1 = xh[2 * i + 1];
        float y0 = x0 * cs[i] - x1 * sn[i], y1 = x0 * sn[i] + x1 * cs[i];
        oh[2 * i] = acc ? oh[2 * i] + y0 : y0;
        oh[2 * i + 1] = acc ? oh[2 * i + 1] + y1 : y1;
      }
    } else {
#pragma omp simd
      for (int i = 0; i < half; i++) {
        float x0 = xh[i], x1 = xh[i + half];
        float y0 = x0 * cs[i] - x1 * sn[i], y1 = x0 * sn[i] + x1 * cs[i];
        oh[i] = acc ? oh[i] + y0 : y0;
        oh[i + half] = acc ? oh[i + half] + y1 : y1;
      }
    }
  }
}

/* cos/sin once per row (shared by its heads), sign -1 for the inverse. */
static void apply(float *out, const float *x, const duet_rope *r, const int *pos, int N, int n_heads, float sign,
                  int acc) {
  int hd = r->head_dim;
#pragma omp parallel for schedule(static) if ((long)N * n_heads * hd > DUET_OMP_MIN_WORK)
  for (int n = 0; n < N; n++) {
    float cs[DUET_ROPE_MAX_HD / 2], sn[DUET_ROPE_MAX_HD / 2];
    for (int i = 0; i < hd / 2; i++) {
      float ang = (float)pos[n] * r->inv_freq[i];
      cs[i] = cosf(ang);
      sn[i] = sign * sinf(ang);
    }
    long off = (long)n * n_heads * hd;
    rotate_row(out + off, x + off, cs, sn, r, n_heads, acc);
  }
}

void duet_rope_forward(float *out, const float *x, const duet_rope *r, const int *pos, int N, int n_heads) {
  apply(out, x, r, pos, N, n_heads, 1.0f, 0);
}

void duet_rope_backward(float *dx, const float *dout, const duet_rope *r, const int *pos, int N, int n_heads) {
  apply(dx, dout, r, pos, N, n_heads, -1.0f, 1);
}
