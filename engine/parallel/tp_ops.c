#include "engine/parallel/tp_ops.h"

#include <mpi.h>
#include <string.h>

#include "engine/error.h"
#include "engine/parallel/dp.h"
#include "engine/ops/residual.h"

/* The output of an identity-shaped op: a copy of x, with a gradient when
 * x has one. */
static duet_tensor *copy_of(duet_tape *t, duet_tensor *x) {
  if (!x || t->err) return NULL;
  duet_tensor *y = duet_tape_tensor(t, x->ndim, x->shape, x->grad != NULL);
  if (y) memcpy(y->data, x->data, (size_t)x->n * sizeof(float));
  return y;
}

/* Append a node (the tape's own recorder is private to autograd.c). */
static int record(duet_tape *t, duet_backward_fn fn, duet_tensor *x, duet_tensor *y, void *comm) {
  if (!t->recording || !y->grad) return DUET_OK;
  if (t->n_nodes == t->cap_nodes) {
    int rc = duet_error(DUET_ENOSPC, "autograd tape full (%d nodes) at a tensor-parallel op", t->cap_nodes);
    if (!t->err) t->err = rc;
    return rc;
  }
  duet_tape_node *n = &t->nodes[t->n_nodes++];
  memset(n, 0, sizeof *n);
  n->backward = fn;
  n->out = y;
  n->in[0] = x;
  n->saved[0] = comm;
  return DUET_OK;
}

/* dx += allreduce(dy): the gradients of the column-parallel products'
 * input, each rank's from its own columns only. */
static int f_backward(const duet_tape_node *n) {
  duet_dp_allreduce_sum(n->out->grad, n->out->n, (void *)n->saved[0]);
  duet_residual_backward(n->in[0]->grad, NULL, n->out->grad, n->out->n);
  return DUET_OK;
}

duet_tensor *duet_tp_f(duet_tape *t, duet_tensor *x, void *comm) {
  if (!x || t->err) return NULL;
  if (!t->recording || !x->grad) return x; /* identity with nothing to reduce later */
  duet_tensor *y = copy_of(t, x);
  if (!y || record(t, f_backward, x, y, comm) < 0) return NULL;
  return y;
}

static int g_backward(const duet_tape_node *n) {
  duet_residual_backward(n->in[0]->grad, NULL, n->out->grad, n->out->n);
  return DUET_OK;
}

duet_tensor *duet_tp_g(duet_tape *t, duet_tensor *x, void *comm) {
  duet_tensor *y = copy_of(t, x);
  if (!y) return NULL;
  duet_dp_allreduce_sum(y->data, y->n, comm); /* the row-parallel partial sums */
  if (record(t, g_backward, x, y, comm) < 0) return NULL;
  return y;
}
