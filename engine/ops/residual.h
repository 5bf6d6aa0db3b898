#ifndef DUET_OPS_RESIDUAL_H
#define DUET_OPS_RESIDUAL_H

/* Residual add: out (n) = a (n) + b (n); out may equal a or b. */

void duet_residual_forward_ref(float *out, const float *a, const float *b, long n);
void duet_residual_forward(float *out, const float *a, const float *b, long n);
/* ACCUMULATES: da += dout, db += dout (either may be NULL). */
void duet_residual_backward(float *da, float *db, const float *dout, long n);

#endif
