#ifndef DUET_OPS_ATTENTION_H
#define DUET_OPS_ATTENTION_H

/* Grouped-query multi-head causal self-attention on contiguous tensors:
 *   q (B,T,nh,hd), k (B,T,nkv,hd), v (B,T,nkv,hd) -> out (B,T,nh,hd)
 *   att (B,nh,T,T): softmax(q k^T / sqrt(hd) + causal mask), the
 *   probabilities saved for backward (entries above the diagonal are 0).
 * q head h uses kv head h / (nh / nkv) (nh must be a multiple of nkv; nkv
 * == nh is ordinary multi-head attention, nkv == 1 multi-query).
 * Fast path: per (batch, head) cblas_sgemm for q k^T and att v, parallel
 * over (batch, head). Reference: plain loops.
 * att may be NULL at inference (scratch is then allocated internally).
 * Returns DUET_OK, DUET_EINVAL (shapes) or DUET_ENOMEM. */

int duet_attention_forward_ref(float *out, float *att, const float *q, const float *k, const float *v, int B, int T,
                               int nh, int nkv, int hd);
int duet_attention_forward(float *out, float *att, const float *q, const float *k, const float *v, int B, int T,
                           int nh, int nkv, int hd);

/* ACCUMULATES into dq (B,T,nh,hd), dk and dv (B,T,nkv,hd) (+=); dk/dv of a
 * kv head sum over the q heads sharing it. att is the forward's saved
 * probabilities. Returns DUET_OK, DUET_EINVAL or DUET_ENOMEM (scratch). */
int duet_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                            const float *v, const float *att, int B, int T, int nh, int nkv, int hd);

/* Inference only (no backward): one sequence, a chunk of Tq queries at
 * positions Tk-Tq .. Tk-1 attending causally over all Tk keys (e.g. a
 * prompt prefilled in chunks after earlier chunks' K/V):
 *   q (Tq,nh,hd), k/v (Tk,nkv,hd) -> out (Tq,nh,hd). Tq <= Tk. */
int duet_attention_chunk_forward(float *out, const float *q, int Tq, const float *k, const float *v, int Tk, int nh,
                                 int nkv, int hd);

#endif
