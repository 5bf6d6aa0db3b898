#ifndef DUET_OPS_SINUSOIDAL_H
#define DUET_OPS_SINUSOIDAL_H

/* Sinusoidal absolute positional encoding ("Attention Is All You Need",
 * section 3.5), in the paper's INTERLEAVED layout, added to the embedding:
 *   PE(p, 2i)   = sin(p / base^(2i/C))
 *   PE(p, 2i+1) = cos(p / base^(2i/C))      for i in [0, C/2), base 10000
 * (even index = sin, odd index = cos, both of frequency i; with an odd C
 * the last element has no pair and is passed through unchanged).
 * Computed in double and rounded to float32. PyTorch equivalent:
 *   div = torch.exp(torch.arange(0, C, 2, dtype=torch.float64) * (-math.log(base) / C))
 *   pe[:, 0::2] = torch.sin(p[:, None] * div); pe[:, 1::2] = torch.cos(p[:, None] * div)
 *   out = x + pe.float()
 *
 *   forward: x (N,C), pos (N) -> out (N,C) = x + PE(pos); out may equal x.
 *   backward: dx (N,C) += dout (the encoding has no parameters). */

void duet_sinusoidal_forward_ref(float *out, const float *x, const int *pos, int N, int C, float base);
void duet_sinusoidal_forward(float *out, const float *x, const int *pos, int N, int C, float base);
/* ACCUMULATES into dx (+=). */
void duet_sinusoidal_backward(float *dx, const float *dout, int N, int C);

#endif
