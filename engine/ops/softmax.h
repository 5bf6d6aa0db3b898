#ifndef DUET_OPS_SOFTMAX_H
#define DUET_OPS_SOFTMAX_H

/* Row-wise, numerically stable softmax (the row max is subtracted before
 * exp), and the causal mask that precedes it in attention.
 *   softmax: x (N,C) -> out (N,C); out may equal x. A row that is entirely
 *   -inf (fully masked) becomes all zeros, never NaN. */

void duet_softmax_forward_ref(float *out, const float *x, int N, int C);
void duet_softmax_forward(float *out, const float *x, int N, int C);
/* ACCUMULATES: dx (N,C) += p * (dout - sum_j(dout_j * p_j)), p the forward
 * output. */
void duet_softmax_backward(float *dx, const float *dout, const float *p, int N, int C);

/* Causal mask, in place, on scores (B, Tq, Tk): query i of a chunk whose
 * first query is at key position q_offset sees keys j <= q_offset + i;
 * the others are set to -inf (q_offset = Tk - Tq for the last Tq of Tk
 * tokens; 0 for a full square). */
void duet_causal_mask_forward(float *scores, int B, int Tq, int Tk, int q_offset);
/* ACCUMULATES: dx += dout where visible; masked entries get no gradient. */
void duet_causal_mask_backward(float *dx, const float *dout, int B, int Tq, int Tk, int q_offset);

#endif
