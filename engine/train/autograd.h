#ifndef DUET_TRAIN_AUTOGRAD_H
#define DUET_TRAIN_AUTOGRAD_H

/* Reverse-mode autograd on a tape, llm.c style but general enough to build
 * any network from engine/ops.
 *
 * Each duet_ag_* function runs an op's forward (engine/ops/X.c) and, when
 * the tape records, appends a node holding what that op's backward needs
 * (the ctx.save_for_backward idea: inputs, the output, saved buffers such
 * as RMSNorm's rstd or attention's probabilities). duet_tape_backward()
 * walks the nodes in reverse and calls each op's backward, which
 * ACCUMULATES into the gradients of the node's inputs.
 *
 * Memory: every activation (and its gradient) comes from the tape's arena,
 * a bump allocator reset by duet_tape_reset() at the start of each step, so
 * the hot path never mallocs. Parameters are tensors whose data and grad
 * point into caller-owned buffers (e.g. one flat buffer for the whole
 * model, which data-parallel training all-reduces in place).
 *
 * Errors: an op that fails (bad shape, arena full, token out of range)
 * returns NULL, records the error with duet_error() and latches it in
 * tape->err; later ops on a failed tape return NULL at once, so a forward
 * pass can be written without checking every line and checked at the end. */

#include <stddef.h>

#include "engine/model.h"
#include "engine/ops/rope.h"

#define DUET_TENSOR_MAX_DIMS 4

typedef struct {
  float *data;
  float *grad; /* NULL when no gradient flows to this tensor */
  int ndim;
  int shape[DUET_TENSOR_MAX_DIMS];
  long n; /* product of the shape (1 for a scalar, ndim 0) */
} duet_tensor;

/* A tensor view over caller-owned memory (grad may be NULL). */
duet_tensor duet_tensor_view(float *data, float *grad, int ndim, const int *shape);
/* Size of the last dimension and number of rows (n / last). */
int duet_tensor_cols(const duet_tensor *t);
long duet_tensor_rows(const duet_tensor *t);

typedef struct {
  char *base;
  size_t cap, used, high_water;
} duet_arena;

int duet_arena_init(duet_arena *a, size_t bytes);
void duet_arena_free(duet_arena *a);
/* 64-byte aligned; NULL (no error recorded) when full. */
void *duet_arena_alloc(duet_arena *a, size_t bytes);

typedef struct duet_tape_node duet_tape_node;
typedef int (*duet_backward_fn)(const duet_tape_node *node);

struct duet_tape_node {
  duet_backward_fn backward;
  duet_tensor *in[3];
  duet_tensor *out;
  const void *saved[2]; /* op-specific: rstd, probabilities, tokens, positions, rope table */
  int i[5];
  float f[2];
};

typedef struct {
  duet_arena arena;
  duet_tape_node *nodes;
  int n_nodes, cap_nodes;
  int recording; /* 1: record nodes and allocate gradients (training) */
  int err;       /* first error since the last reset (0 when none) */
} duet_tape;

/* arena_bytes: activations + their gradients for one step; max_nodes: ops
 * per step. */
int duet_tape_init(duet_tape *t, size_t arena_bytes, int max_nodes);
void duet_tape_free(duet_tape *t);
/* Forget every node and activation (the arena is reused). recording as
 * duet_tape's field. */
void duet_tape_reset(duet_tape *t, int recording);

/* A new arena tensor; its grad is allocated and zeroed when want_grad and
 * the tape records. NULL on failure (error latched). */
duet_tensor *duet_tape_tensor(duet_tape *t, int ndim, const int *shape, int want_grad);

/* Seed d(loss)/d(loss) = dloss (1 for a plain loss; 1/accum_steps when
 * gradients are accumulated over micro-batches), then run every node's
 * backward in reverse order. loss must be the output of a recorded op. */
int duet_tape_backward(duet_tape *t, duet_tensor *loss, float dloss);

/* ---- ops (forward + recorded backward). x (..., C) means rows of C. ---- */

/* tokens (N) -> (N, C) rows of table (V, C). tokens must outlive the tape step. */
duet_tensor *duet_ag_embedding(duet_tape *t, const int *tokens, int N, duet_tensor *table);
/* x (N, I) @ W (O, I)^T + b (O) -> (N, O); b may be NULL. */
duet_tensor *duet_ag_linear(duet_tape *t, duet_tensor *x, duet_tensor *W, duet_tensor *b);
/* RMSNorm over the last dimension of x with w (C); also over per-head rows
 * when w has head_dim elements and C is a multiple of it (Qwen3 q/k norm). */
duet_tensor *duet_ag_rmsnorm(duet_tape *t, duet_tensor *x, duet_tensor *w, float eps);
/* x (N, n_heads * hd) rotated at positions pos (N); r and pos must outlive the step. */
duet_tensor *duet_ag_rope(duet_tape *t, duet_tensor *x, const duet_rope *r, const int *pos, int n_heads);
/* x (N, C) + PE(pos) (interleaved sin/cos, base 10000). */
duet_tensor *duet_ag_sinusoidal(duet_tape *t, duet_tensor *x, const int *pos);
/* q (B*T, nh*hd), k, v (B*T, nkv*hd) -> (B*T, nh*hd), causal. */
duet_tensor *duet_ag_attention(duet_tape *t, duet_tensor *q, duet_tensor *k, duet_tensor *v, int B, int T, int nh,
                               int nkv);
/* Row-wise softmax over the last dimension. */
duet_tensor *duet_ag_softmax(duet_tape *t, duet_tensor *x);
/* silu(gate) * up, elementwise. */
duet_tensor *duet_ag_swiglu(duet_tape *t, duet_tensor *gate, duet_tensor *up);
/* a + b, elementwise (same shape). */
duet_tensor *duet_ag_add(duet_tape *t, duet_tensor *a, duet_tensor *b);
/* Mean cross-entropy of logits (N, V) against targets (N) (-1 ignored) ->
 * scalar. targets must outlive the step. */
duet_tensor *duet_ag_cross_entropy(duet_tape *t, duet_tensor *logits, const int *targets);
/* Mean squared error 1/n sum (x - y)^2 -> scalar; y is a constant (no grad). */
duet_tensor *duet_ag_mse(duet_tape *t, duet_tensor *x, const float *y);

#endif
