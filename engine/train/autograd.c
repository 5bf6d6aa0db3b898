#include "engine/train/autograd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/ops/attention.h"
#include "engine/ops/crossentropy.h"
#include "engine/ops/embedding.h"
#include "engine/ops/linear.h"
#include "engine/ops/residual.h"
#include "engine/ops/rmsnorm.h"
#include "engine/ops/sinusoidal.h"
#include "engine/ops/softmax.h"
#include "engine/ops/swiglu.h"
#include "engine/train/mse.h"

/* ---- tensors and arena ---- */

duet_tensor duet_tensor_view(float *data, float *grad, int ndim, const int *shape) {
  duet_tensor t = {.data = data, .grad = grad, .ndim = ndim, .n = 1};
  for (int i = 0; i < ndim && i < DUET_TENSOR_MAX_DIMS; i++) {
    t.shape[i] = shape[i];
    t.n *= shape[i];
  }
  return t;
}

int duet_tensor_cols(const duet_tensor *t) { return t->ndim > 0 ? t->shape[t->ndim - 1] : 1; }

long duet_tensor_rows(const duet_tensor *t) {
  int c = duet_tensor_cols(t);
  return c > 0 ? t->n / c : 0;
}

int duet_arena_init(duet_arena *a, size_t bytes) {
  memset(a, 0, sizeof *a);
  a->base = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
  if (!a->base) return duet_error(DUET_ENOMEM, "autograd arena: cannot allocate %zu bytes", bytes);
  a->cap = (bytes + 63) & ~(size_t)63;
  return DUET_OK;
}

void duet_arena_free(duet_arena *a) {
  free(a->base);
  memset(a, 0, sizeof *a);
}

void *duet_arena_alloc(duet_arena *a, size_t bytes) {
  size_t need = (bytes + 63) & ~(size_t)63;
  if (need > a->cap - a->used) return NULL;
  void *p = a->base + a->used;
  a->used += need;
  if (a->used > a->high_water) a->high_water = a->used;
  return p;
}

/* ---- tape ---- */

int duet_tape_init(duet_tape *t, size_t arena_bytes, int max_nodes) {
  memset(t, 0, sizeof *t);
  if (max_nodes <= 0) return duet_error(DUET_EINVAL, "autograd tape: max_nodes must be positive");
  t->nodes = calloc((size_t)max_nodes, sizeof *t->nodes);
  if (!t->nodes) return duet_error(DUET_ENOMEM, "autograd tape: cannot allocate %d nodes", max_nodes);
  t->cap_nodes = max_nodes;
  int rc = duet_arena_init(&t->arena, arena_bytes);
  if (rc < 0) {
    free(t->nodes);
    t->nodes = NULL;
  }
  t->recording = 1;
  return rc;
}

void duet_tape_free(duet_tape *t) {
  duet_arena_free(&t->arena);
  free(t->nodes);
  memset(t, 0, sizeof *t);
}

void duet_tape_reset(duet_tape *t, int recording) {
  t->arena.used = 0;
  t->n_nodes = 0;
  t->err = 0;
  t->recording = recording;
}

static int tape_fail(duet_tape *t, int err) {
  if (!t->err) t->err = err;
  return err;
}

static void *tape_alloc(duet_tape *t, size_t bytes) {
  void *p = duet_arena_alloc(&t->arena, bytes);
  if (!p)
    tape_fail(t, duet_error(DUET_ENOMEM, "autograd arena full: %zu of %zu bytes used, %zu more wanted",
                            t->arena.used, t->arena.cap, bytes));
  return p;
}

duet_tensor *duet_tape_tensor(duet_tape *t, int ndim, const int *shape, int want_grad) {
  if (t->err) return NULL;
  if (ndim < 0 || ndim > DUET_TENSOR_MAX_DIMS) {
    tape_fail(t, duet_error(DUET_EINVAL, "autograd: %d dimensions (at most %d)", ndim, DUET_TENSOR_MAX_DIMS));
    return NULL;
  }
  duet_tensor *x = tape_alloc(t, sizeof *x);
  if (!x) return NULL;
  *x = duet_tensor_view(NULL, NULL, ndim, shape);
  if (x->n < 0) {
    tape_fail(t, duet_error(DUET_EINVAL, "autograd: negative tensor shape"));
    return NULL;
  }
  if (!(x->data = tape_alloc(t, (size_t)x->n * sizeof(float)))) return NULL;
  if (want_grad && t->recording) {
    if (!(x->grad = tape_alloc(t, (size_t)x->n * sizeof(float)))) return NULL;
    memset(x->grad, 0, (size_t)x->n * sizeof(float)); /* backward accumulates */
  }
  return x;
}

/* Append a node; the caller fills it. NULL (error latched) when full. */
static duet_tape_node *tape_record(duet_tape *t, duet_backward_fn fn, duet_tensor *out) {
  if (!t->recording || !out->grad) return NULL;
  if (t->n_nodes == t->cap_nodes) {
    tape_fail(t, duet_error(DUET_ENOSPC, "autograd tape full (%d nodes)", t->cap_nodes));
    return NULL;
  }
  duet_tape_node *n = &t->nodes[t->n_nodes++];
  memset(n, 0, sizeof *n);
  n->backward = fn;
  n->out = out;
  return n;
}

int duet_tape_backward(duet_tape *t, duet_tensor *loss, float dloss) {
  if (t->err) return t->err;
  if (!t->recording || !loss || !loss->grad)
    return duet_error(DUET_EINVAL, "autograd backward: the loss was not recorded (tape not recording?)");
  for (long i = 0; i < loss->n; i++) loss->grad[i] += dloss;
  for (int i = t->n_nodes - 1; i >= 0; i--) {
    int rc = t->nodes[i].backward(&t->nodes[i]);
    if (rc < 0) return tape_fail(t, rc);
  }
  return DUET_OK;
}

/* Output tensor of an op whose inputs are in[0..n_in): it needs a gradient
 * when any input has one. */
static duet_tensor *op_output(duet_tape *t, int ndim, const int *shape, duet_tensor **in, int n_in) {
  int want = 0;
  for (int i = 0; i < n_in; i++) want |= in[i] && in[i]->grad != NULL;
  return duet_tape_tensor(t, ndim, shape, want);
}

static int check(duet_tape *t, int ok, const char *op, const char *what) {
  if (t->err) return 0;
  if (!ok) tape_fail(t, duet_error(DUET_EINVAL, "autograd %s: %s", op, what));
  return ok;
}

static duet_matrix as_matrix(const duet_tensor *W) {
  duet_matrix m = {.dtype = DUET_F32, .rows = W->shape[0], .cols = W->shape[1], .data = W->data};
  return m;
}

/* ---- embedding ---- */

static int embedding_bw(const duet_tape_node *n) {
  duet_tensor *table = n->in[0];
  if (table->grad)
    duet_embedding_backward(table->grad, n->out->grad, n->saved[0], n->i[0], table->shape[0], table->shape[1]);
  return DUET_OK;
}

duet_tensor *duet_ag_embedding(duet_tape *t, const int *tokens, int N, duet_tensor *table) {
  if (!check(t, table && table->ndim == 2 && N >= 0, "embedding", "table must be (V, C)")) return NULL;
  int shape[2] = {N, table->shape[1]};
  duet_tensor *out = op_output(t, 2, shape, &table, 1);
  if (!out) return NULL;
  duet_matrix m = as_matrix(table);
  int rc = duet_embedding_forward(out->data, tokens, &m, N);
  if (rc < 0) {
    tape_fail(t, rc);
    return NULL;
  }
  duet_tape_node *n = tape_record(t, embedding_bw, out);
  if (n) {
    n->in[0] = table;
    n->saved[0] = tokens;
    n->i[0] = N;
  }
  return t->err ? NULL : out;
}

/* ---- linear ---- */

static int linear_bw(const duet_tape_node *n) {
  duet_tensor *x = n->in[0], *W = n->in[1], *b = n->in[2];
  duet_matrix m = as_matrix(W);
  return duet_linear_backward(x->grad, W->grad, b ? b->grad : NULL, n->out->grad, x->data, &m,
                              (int)duet_tensor_rows(x));
}

duet_tensor *duet_ag_linear(duet_tape *t, duet_tensor *x, duet_tensor *W, duet_tensor *b) {
  if (!check(t, x && W && W->ndim == 2 && duet_tensor_cols(x) == W->shape[1], "linear",
             "x (N, I) and W (O, I) disagree on I"))
    return NULL;
  if (!check(t, !b || b->n == W->shape[0], "linear", "bias length is not O")) return NULL;
  int N = (int)duet_tensor_rows(x);
  int shape[2] = {N, W->shape[0]};
  duet_tensor *in[3] = {x, W, b};
  duet_tensor *out = op_output(t, 2, shape, in, 3);
  if (!out) return NULL;
  duet_matrix m = as_matrix(W);
  int rc = duet_linear_forward(out->data, x->data, &m, b ? b->data : NULL, N);
  if (rc < 0) {
    tape_fail(t, rc);
    return NULL;
  }
  duet_tape_node *n = tape_record(t, linear_bw, out);
  if (n) memcpy(n->in, in, sizeof in);
  return t->err ? NULL : out;
}

/* ---- RMSNorm (whole rows, or per head when w is shorter than a row) ---- */

static int rmsnorm_bw(const duet_tape_node *n) {
  duet_tensor *x = n->in[0], *w = n->in[1];
  /* the forward refused a trainable w over an input without gradient */
  if (x->grad) duet_rmsnorm_backward(x->grad, w->grad, n->out->grad, x->data, w->data, n->saved[0], n->i[0], n->i[1]);
  return DUET_OK;
}

duet_tensor *duet_ag_rmsnorm(duet_tape *t, duet_tensor *x, duet_tensor *w, float eps) {
  if (!check(t, x && w && w->n > 0 && duet_tensor_cols(x) % w->n == 0, "rmsnorm",
             "row length is not a multiple of the weight length"))
    return NULL;
  if (!check(t, !t->recording || !w->grad || x->grad, "rmsnorm", "a trainable weight needs an input that has a gradient"))
    return NULL;
  int C = (int)w->n, N = (int)(x->n / C);
  duet_tensor *in[2] = {x, w};
  duet_tensor *out = op_output(t, x->ndim, x->shape, in, 2);
  float *rstd = out ? tape_alloc(t, (size_t)N * sizeof(float)) : NULL;
  if (!rstd) return NULL;
  duet_rmsnorm_forward(out->data, rstd, x->data, w->data, N, C, eps);
  duet_tape_node *n = tape_record(t, rmsnorm_bw, out);
  if (n) {
    n->in[0] = x;
    n->in[1] = w;
    n->saved[0] = rstd;
    n->i[0] = N;
    n->i[1] = C;
  }
  return t->err ? NULL : out;
}

/* ---- RoPE and sinusoidal positions ---- */

static int rope_bw(const duet_tape_node *n) {
  if (n->in[0]->grad)
    duet_rope_backward(n->in[0]->grad, n->out->grad, n->saved[0], n->saved[1], n->i[0], n->i[1]);
  return DUET_OK;
}

duet_tensor *duet_ag_rope(duet_tape *t, duet_tensor *x, const duet_rope *r, const int *pos, int n_heads) {
  if (!check(t, x && r && n_heads > 0 && duet_tensor_cols(x) == n_heads * r->head_dim, "rope",
             "row length is not n_heads * head_dim"))
    return NULL;
  duet_tensor *out = op_output(t, x->ndim, x->shape, &x, 1);
  if (!out) return NULL;
  int N = (int)duet_tensor_rows(x);
  duet_rope_forward(out->data, x->data, r, pos, N, n_heads);
  duet_tape_node *n = tape_record(t, rope_bw, out);
  if (n) {
    n->in[0] = x;
    n->saved[0] = r;
    n->saved[1] = pos;
    n->i[0] = N;
    n->i[1] = n_heads;
  }
  return t->err ? NULL : out;
}

static int sinusoidal_bw(const duet_tape_node *n) {
  if (n->in[0]->grad) duet_sinusoidal_backward(n->in[0]->grad, n->out->grad, n->i[0], n->i[1]);
  return DUET_OK;
}

duet_tensor *duet_ag_sinusoidal(duet_tape *t, duet_tensor *x, const int *pos) {
  if (!check(t, x && duet_tensor_cols(x) % 2 == 0, "sinusoidal", "row length must be even")) return NULL;
  duet_tensor *out = op_output(t, x->ndim, x->shape, &x, 1);
  if (!out) return NULL;
  int N = (int)duet_tensor_rows(x), C = duet_tensor_cols(x);
  duet_sinusoidal_forward(out->data, x->data, pos, N, C, 10000.0f);
  duet_tape_node *n = tape_record(t, sinusoidal_bw, out);
  if (n) {
    n->in[0] = x;
    n->i[0] = N;
    n->i[1] = C;
  }
  return t->err ? NULL : out;
}

/* ---- causal grouped-query attention ---- */

static int attention_bw(const duet_tape_node *n) {
  duet_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
  if (!q->grad || !k->grad || !v->grad)
    return duet_error(DUET_EUNSUPPORTED, "autograd attention: q, k and v must all have gradients");
  return duet_attention_backward(q->grad, k->grad, v->grad, n->out->grad, q->data, k->data, v->data, n->saved[0],
                                 n->i[0], n->i[1], n->i[2], n->i[3], n->i[4]);
}

duet_tensor *duet_ag_attention(duet_tape *t, duet_tensor *q, duet_tensor *k, duet_tensor *v, int B, int T, int nh,
                               int nkv) {
  if (!check(t, q && k && v && B > 0 && T > 0 && nh > 0 && nkv > 0 && nh % nkv == 0, "attention",
             "B, T, heads must be positive and n_heads a multiple of n_kv_heads"))
    return NULL;
  int hd = duet_tensor_cols(q) / nh;
  if (!check(t, duet_tensor_cols(q) == nh * hd && q->n == (long)B * T * nh * hd && k->n == (long)B * T * nkv * hd &&
                    v->n == k->n,
             "attention", "q (B*T, nh*hd), k and v (B*T, nkv*hd) do not match B, T and the heads"))
    return NULL;
  duet_tensor *in[3] = {q, k, v};
  duet_tensor *out = op_output(t, q->ndim, q->shape, in, 3);
  float *att = out ? tape_alloc(t, (size_t)B * nh * T * T * sizeof(float)) : NULL;
  if (!att) return NULL;
  int rc = duet_attention_forward(out->data, att, q->data, k->data, v->data, B, T, nh, nkv, hd);
  if (rc < 0) {
    tape_fail(t, rc);
    return NULL;
  }
  duet_tape_node *n = tape_record(t, attention_bw, out);
  if (n) {
    memcpy(n->in, in, sizeof in);
    n->saved[0] = att;
    int dims[5] = {B, T, nh, nkv, hd};
    memcpy(n->i, dims, sizeof dims);
  }
  return t->err ? NULL : out;
}

/* ---- elementwise: softmax, SwiGLU, residual add ---- */

static int softmax_bw(const duet_tape_node *n) {
  if (n->in[0]->grad) duet_softmax_backward(n->in[0]->grad, n->out->grad, n->out->data, n->i[0], n->i[1]);
  return DUET_OK;
}

duet_tensor *duet_ag_softmax(duet_tape *t, duet_tensor *x) {
  if (!check(t, x != NULL, "softmax", "no input")) return NULL;
  duet_tensor *out = op_output(t, x->ndim, x->shape, &x, 1);
  if (!out) return NULL;
  int N = (int)duet_tensor_rows(x), C = duet_tensor_cols(x);
  duet_softmax_forward(out->data, x->data, N, C);
  duet_tape_node *n = tape_record(t, softmax_bw, out);
  if (n) {
    n->in[0] = x;
    n->i[0] = N;
    n->i[1] = C;
  }
  return t->err ? NULL : out;
}

static int swiglu_bw(const duet_tape_node *n) {
  duet_tensor *g = n->in[0], *u = n->in[1];
  duet_swiglu_backward(g->grad, u->grad, n->out->grad, g->data, u->data, n->out->n);
  return DUET_OK;
}

duet_tensor *duet_ag_swiglu(duet_tape *t, duet_tensor *gate, duet_tensor *up) {
  if (!check(t, gate && up && gate->n == up->n, "swiglu", "gate and up differ in size")) return NULL;
  duet_tensor *in[2] = {gate, up};
  duet_tensor *out = op_output(t, gate->ndim, gate->shape, in, 2);
  if (!out) return NULL;
  duet_swiglu_forward(out->data, gate->data, up->data, out->n);
  duet_tape_node *n = tape_record(t, swiglu_bw, out);
  if (n) memcpy(n->in, in, sizeof in);
  return t->err ? NULL : out;
}

static int add_bw(const duet_tape_node *n) {
  duet_residual_backward(n->in[0]->grad, n->in[1]->grad, n->out->grad, n->out->n);
  return DUET_OK;
}

duet_tensor *duet_ag_add(duet_tape *t, duet_tensor *a, duet_tensor *b) {
  if (!check(t, a && b && a->n == b->n, "add", "operands differ in size")) return NULL;
  duet_tensor *in[2] = {a, b};
  duet_tensor *out = op_output(t, a->ndim, a->shape, in, 2);
  if (!out) return NULL;
  duet_residual_forward(out->data, a->data, b->data, out->n);
  duet_tape_node *n = tape_record(t, add_bw, out);
  if (n) memcpy(n->in, in, sizeof in);
  return t->err ? NULL : out;
}

/* ---- losses ---- */

static int cross_entropy_bw(const duet_tape_node *n) {
  duet_tensor *logits = n->in[0];
  if (logits->grad)
    duet_crossentropy_backward(logits->grad, logits->data, n->saved[1], n->saved[0], n->out->grad[0], n->i[0],
                               n->i[1]);
  return DUET_OK;
}

duet_tensor *duet_ag_cross_entropy(duet_tape *t, duet_tensor *logits, const int *targets) {
  if (!check(t, logits && targets, "cross_entropy", "no logits or targets")) return NULL;
  int N = (int)duet_tensor_rows(logits), V = duet_tensor_cols(logits);
  duet_tensor *out = op_output(t, 0, NULL, &logits, 1);
  float *lse = out ? tape_alloc(t, (size_t)N * sizeof(float)) : NULL;
  if (!lse) return NULL;
  int rc = duet_crossentropy_forward(out->data, NULL, lse, logits->data, targets, N, V);
  if (rc < 0) {
    tape_fail(t, rc);
    return NULL;
  }
  duet_tape_node *n = tape_record(t, cross_entropy_bw, out);
  if (n) {
    n->in[0] = logits;
    n->saved[0] = targets;
    n->saved[1] = lse;
    n->i[0] = N;
    n->i[1] = V;
  }
  return t->err ? NULL : out;
}

static int mse_bw(const duet_tape_node *n) {
  duet_tensor *x = n->in[0];
  if (x->grad) duet_mse_backward(x->grad, x->data, n->saved[0], n->out->grad[0], x->n);
  return DUET_OK;
}

duet_tensor *duet_ag_mse(duet_tape *t, duet_tensor *x, const float *y) {
  if (!check(t, x && y, "mse", "no input or target")) return NULL;
  duet_tensor *out = op_output(t, 0, NULL, &x, 1);
  if (!out) return NULL;
  out->data[0] = duet_mse_forward(x->data, y, x->n);
  duet_tape_node *n = tape_record(t, mse_bw, out);
  if (n) {
    n->in[0] = x;
    n->saved[0] = y;
  }
  return t->err ? NULL : out;
}
