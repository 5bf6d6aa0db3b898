#ifndef DUET_OPS_CROSSENTROPY_H
#define DUET_OPS_CROSSENTROPY_H

/* Cross-entropy over logits, mean over the rows whose target is not the
 * ignore index (-1), like torch.nn.functional.cross_entropy(ignore_index=-1):
 *   logits (N,V), targets (N) -> *loss (scalar, mean; 0 when every row is
 *   ignored); row_loss (N) per-row -log p(target) (0 for ignored rows) and
 *   lse (N) = log-sum-exp of each row (saved for backward) may be NULL.
 * Returns the number of counted rows (>= 0), or DUET_ERANGE naming the
 * first target outside [-1, V). */

#define DUET_IGNORE_INDEX (-1)

int duet_crossentropy_forward_ref(float *loss, float *row_loss, float *lse, const float *logits, const int *targets,
                                  int N, int V);
int duet_crossentropy_forward(float *loss, float *row_loss, float *lse, const float *logits, const int *targets,
                              int N, int V);

/* Fused softmax-minus-one-hot. ACCUMULATES:
 *   dlogits (N,V) += dloss * (softmax(logits) - onehot(target)) / count
 * for counted rows (ignored rows get nothing), dloss the gradient of the
 * mean loss (1 for a plain loss). lse is the forward's saved (N) or NULL
 * (recomputed). Targets must be valid (the forward checked them). */
void duet_crossentropy_backward(float *dlogits, const float *logits, const float *lse, const int *targets,
                                float dloss, int N, int V);

#endif
