#ifndef DUET_TRAIN_MSE_H
#define DUET_TRAIN_MSE_H

/* Mean squared error, the regression loss (the transformer itself uses
 * cross-entropy; this op lets a small MLP built from engine/ops fit a
 * function):  x (n), y (n) -> loss = 1/n sum_i (x_i - y_i)^2. */

float duet_mse_forward(const float *x, const float *y, long n);
/* ACCUMULATES: dx += dloss * 2 (x - y) / n. */
void duet_mse_backward(float *dx, const float *x, const float *y, float dloss, long n);

#endif
