#ifndef DUET_OPS_SWIGLU_H
#define DUET_OPS_SWIGLU_H

/* SwiGLU gate of the Llama MLP: out = silu(gate) * up, silu(g) = g / (1 + e^-g).
 *   gate (n), up (n) -> out (n)   (n = N * hidden, elementwise)
 * out may equal gate or up. */

void duet_swiglu_forward_ref(float *out, const float *gate, const float *up, long n);
void duet_swiglu_forward(float *out, const float *gate, const float *up, long n);
/* ACCUMULATES: dgate += dout * up * silu'(gate), dup += dout * silu(gate).
 * Either may be NULL. */
void duet_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, long n);

#endif
