#include "engine/parallel/pp.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/parallel/dp.h"
#include "engine/parallel/whole.h"
#include "engine/ops/residual.h"

struct duet_pp {
  MPI_Comm comm, data_comm;
  int stage, stages, data_size, micro_req;
  int first, last, tied;
  int l0, count;           /* this stage's layers [l0, l0 + count) */
  long E, P, n_full;       /* embedding and per-layer parameter counts, whole model size */
  long e;                  /* this stage's embedding size: E, or one row on the middle stages */
  duet_llama_train *full;  /* the whole model on the first stage (checkpoint target) */
  duet_adamw full_opt;
  /* micro-batch tapes, made for the first batch shape seen */
  int M, b, T;
  duet_tape *tapes;
  duet_tensor **in, **out;
  MPI_Request *req; /* M sends in flight per phase (non-blocking: the next micro-batch computes meanwhile) */
  float *tmp; /* the other end's embedding gradient (tied) */
};

int duet_pp_check_shape(const duet_config *c, int stages) {
  if (c->n_layers < stages)
    return duet_error(DUET_EINVAL, "pipeline parallel over %d stages: the model has only %d layers", stages,
                      c->n_layers);
  return DUET_OK;
}

static void free_tapes(duet_pp *p) {
  for (int i = 0; p->tapes && i < p->M; i++) duet_tape_free(&p->tapes[i]);
  free(p->tapes);
  free(p->in);
  free(p->out);
  free(p->req);
  p->tapes = NULL, p->in = p->out = NULL, p->req = NULL, p->M = 0;
}

void duet_pp_free(duet_pp *p) {
  if (!p) return;
  free_tapes(p);
  duet_llama_train_free(p->full);
  duet_adamw_free(&p->full_opt);
  free(p->tmp);
  free(p);
}

/* Local <-> whole for the three blocks of a flat buffer: the embedding,
 * this stage's layers, the tail (final norm, LM head). */
static void copy_blocks(const duet_pp *p, float *whole, float *local, long n_local) {
  long layers = (long)p->count * p->P, tail = n_local - p->e - layers;
  if (p->e == p->E) memcpy(local, whole, (size_t)p->E * sizeof(float));
  memcpy(local + p->e, whole + p->E + (long)p->l0 * p->P, (size_t)layers * sizeof(float));
  if (p->last) memcpy(local + p->e + layers, whole + p->n_full - tail, (size_t)tail * sizeof(float));
}

static int pp_attach(void *ctx, duet_llama_train **mp, duet_adamw *o) {
  duet_pp *p = ctx;
  duet_llama_train *full = *mp, *loc = NULL;
  duet_config c = full->cfg;
  int rc = duet_pp_check_shape(&c, p->stages), L = c.n_layers;
  if (rc < 0) return rc;
  p->l0 = p->stage * L / p->stages;
  p->count = (p->stage + 1) * L / p->stages - p->l0;
  c.n_layers = 1;
  long one = duet_llama_train_count_params(&c);
  c.n_layers = 2;
  p->P = duet_llama_train_count_params(&c) - one;
  p->E = full->embed.n;
  p->n_full = full->n_params;
  p->tied = c.tied;
  c.n_layers = p->count;
  if (!p->first && !p->last) c.vocab = 1; /* a middle stage never uses the embedding or head */
  duet_adamw lo = {0};
  if ((rc = duet_llama_train_new(&c, &loc)) < 0 || (rc = duet_adamw_init(&lo, loc->n_params)) < 0) {
    duet_llama_train_free(loc);
    return rc;
  }
  p->e = loc->embed.n;
  if (loc->n_params > INT_MAX || (p->tied && !(p->tmp = malloc((size_t)p->E * sizeof(float)))))
    rc = duet_error(DUET_EUNSUPPORTED, "pipeline parallel: a stage of %ld parameters", loc->n_params);
  copy_blocks(p, full->params, loc->params, loc->n_params);
  copy_blocks(p, o->m, lo.m, loc->n_params); /* a resumed run's moments, else zeros */
  copy_blocks(p, o->v, lo.v, loc->n_params);
  lo.step = o->step;
  duet_adamw_free(o);
  *o = lo;
  if (p->first && rc >= 0) {
    p->full = full; /* kept as the checkpoint target */
    rc = duet_adamw_init(&p->full_opt, full->n_params);
  } else {
    duet_llama_train_free(full);
  }
  *mp = loc;
  return rc < 0 ? rc : DUET_OK;
}

/* Micro-batches: the requested count, else up to 2 per stage, dividing B. */
static int micro_count(const duet_pp *p, int B) {
  int M = p->micro_req;
  if (M <= 0)
    for (M = 2 * p->stages < B ? 2 * p->stages : B; B % M; M--) {}
  return M;
}

/* M tapes for micro-batches of B / M rows (kept while the shape holds). */
static int ensure_tapes(duet_pp *p, const duet_llama_train *m, int B, int T, int M) {
  if (M < 1 || B % M != 0)
    return duet_error(DUET_EINVAL, "pipeline parallel: %d micro-batches do not divide the batch of %d", M, B);
  if (p->tapes && p->M == M && p->b == B / M && p->T == T) return DUET_OK;
  free_tapes(p);
  p->tapes = calloc((size_t)M, sizeof *p->tapes);
  p->in = calloc((size_t)M, sizeof *p->in);
  p->out = calloc((size_t)M, sizeof *p->out);
  p->req = malloc((size_t)M * sizeof *p->req);
  if (!p->tapes || !p->in || !p->out || !p->req) return duet_error(DUET_ENOMEM, "pipeline parallel: out of memory");
  p->M = M, p->b = B / M, p->T = T;
  size_t bytes = duet_llama_train_arena_bytes(&m->cfg, p->b, T);
  for (int i = 0; i < M; i++) {
    int rc = duet_tape_init(&p->tapes[i], bytes, duet_llama_train_max_nodes(&m->cfg));
    if (rc < 0) return rc;
  }
  return DUET_OK;
}

static int tape_error(const duet_tape *t) { return t->err ? t->err : DUET_EINVAL; }

/* Forward of rows [0, b) of tokens on tape t: receive, run, send (into
 * *req when given, else blocking). tag keeps micro-batches apart. Returns
 * the stage's output (loss when last). */
static duet_tensor *stage_forward(duet_pp *p, duet_llama_train *m, duet_tape *t, int recording, const int *tokens,
                                  const int *targets, int b, int T, int tag, duet_tensor **in, MPI_Request *req) {
  int N = b * T, C = m->cfg.dim, shape[2] = {N, C};
  duet_tape_reset(t, recording);
  *in = NULL;
  if (!p->first) {
    if (!(*in = duet_tape_tensor(t, 2, shape, 1))) return NULL;
    MPI_Recv((*in)->data, N * C, MPI_FLOAT, p->stage - 1, tag, p->comm, MPI_STATUS_IGNORE);
  }
  duet_tensor *y = duet_llama_train_stage(m, t, *in, tokens, targets, b, T, p->first, p->last);
  if (y && !p->last && req) MPI_Isend(y->data, N * C, MPI_FLOAT, p->stage + 1, tag, p->comm, req);
  else if (y && !p->last) MPI_Send(y->data, N * C, MPI_FLOAT, p->stage + 1, tag, p->comm);
  return y;
}

/* The loss of the last stage, to every stage. */
static void share_loss(const duet_pp *p, float *loss) { MPI_Bcast(loss, 1, MPI_FLOAT, p->stages - 1, p->comm); }

static int pp_grad(void *ctx, duet_llama_train *m, const int *tokens, const int *targets, int B, int T, float dloss,
                   int accumulate, float *loss) {
  duet_pp *p = ctx;
  int rc = ensure_tapes(p, m, B, T, micro_count(p, B)), N = p->b * T, C = m->cfg.dim;
  if (rc < 0) return rc;
  if (!accumulate) memset(m->grads, 0, (size_t)m->n_params * sizeof(float));
  double sum = 0;
  for (int i = 0; i < p->M; i++) { /* GPipe: every forward first */
    long off = (long)i * N;
    p->req[i] = MPI_REQUEST_NULL;
    p->out[i] = stage_forward(p, m, &p->tapes[i], 1, tokens + off, targets + off, p->b, T, i, &p->in[i], &p->req[i]);
    if (!p->out[i]) return tape_error(&p->tapes[i]);
    if (p->last) sum += p->out[i]->data[0];
  }
  MPI_Waitall(p->M, p->req, MPI_STATUSES_IGNORE);
  for (int i = p->M - 1; i >= 0; i--) { /* then every backward, last micro-batch first */
    if (!p->last) MPI_Recv(p->out[i]->grad, N * C, MPI_FLOAT, p->stage + 1, p->M + i, p->comm, MPI_STATUS_IGNORE);
    if ((rc = duet_tape_backward(&p->tapes[i], p->out[i], p->last ? dloss / p->M : 0.0f)) < 0) return rc;
    p->req[i] = MPI_REQUEST_NULL;
    if (!p->first) MPI_Isend(p->in[i]->grad, N * C, MPI_FLOAT, p->stage - 1, p->M + i, p->comm, &p->req[i]);
  }
  MPI_Waitall(p->M, p->req, MPI_STATUSES_IGNORE);
  *loss = (float)(sum / p->M);
  share_loss(p, loss);
  return DUET_OK;
}

/* Validation: forward only, micro-batch by micro-batch (the last may be
 * short), on the first tape. */
static int pp_eval(void *ctx, duet_llama_train *m, const int *tokens, const int *targets, int B, int T, float *loss) {
  duet_pp *p = ctx;
  int rc = p->tapes ? DUET_OK : ensure_tapes(p, m, B, T, 1); /* validation before any step */
  if (rc < 0) return rc;
  double sum = 0;
  for (int r = 0; r < B; r += p->b) {
    int rows = B - r < p->b ? B - r : p->b;
    duet_tensor *in, *y = stage_forward(p, m, &p->tapes[0], 0, tokens + (long)r * T, targets + (long)r * T, rows, T,
                                        0, &in, NULL);
    if (!y) return tape_error(&p->tapes[0]);
    if (p->last) sum += (double)y->data[0] * rows;
  }
  *loss = (float)(sum / B);
  share_loss(p, loss);
  return DUET_OK;
}

/* Tied embeddings: the first stage's embedding gradient and the last
 * stage's LM-head gradient are two parts of one gradient. */
static void sum_tied(duet_pp *p, duet_llama_train *m) {
  if (!p->tied || p->stages == 1 || (!p->first && !p->last)) return;
  int other = p->first ? p->stages - 1 : 0;
  MPI_Sendrecv(m->grads, (int)p->E, MPI_FLOAT, other, 0, p->tmp, (int)p->E, MPI_FLOAT, other, 0, p->comm,
               MPI_STATUS_IGNORE);
  duet_residual_backward(m->grads, NULL, p->tmp, p->E); /* grads += tmp */
}

static int pp_step(void *ctx, duet_llama_train *m, duet_adamw *o, const duet_adamw_hparams *hp, int step, float clip) {
  duet_pp *p = ctx;
  if (p->data_size > 1) {
    duet_dp_allreduce_sum(m->grads, m->n_params, &p->data_comm);
    duet_scale(m->grads, m->n_params, 1.0f / p->data_size);
  }
  sum_tied(p, m);
  /* what this stage updates: [lo, hi); the embedding's squares count once (first stage) */
  long layers_end = p->e + (long)p->count * p->P;
  long lo = p->first || (p->last && p->tied) ? 0 : p->e, hi = p->last ? m->n_params : layers_end;
  long norm_lo = p->first ? 0 : p->e;
  double sumsq = duet_grad_sumsq(m->grads + norm_lo, hi - norm_lo);
  MPI_Allreduce(MPI_IN_PLACE, &sumsq, 1, MPI_DOUBLE, MPI_SUM, p->comm);
  duet_scale(m->grads, m->n_params, duet_clip_scale(sqrt(sumsq), clip));
  o->step++;
  duet_llama_train_adamw_range(m, m->params + lo, m->grads + lo, o->m + lo, o->v + lo, lo, hi, o->step,
                               duet_lr_at(hp, step), hp);
  return DUET_OK;
}

/* One flat buffer whole on the first stage: each stage's layers (and the
 * last one's tail) sent point to point into place. */
static void gather_buffer(void *ctx, const duet_llama_train *m, const float *local, float *whole) {
  duet_pp *p = ctx;
  long layers = (long)p->count * p->P, tail = m->n_params - p->e - layers;
  if (!p->first) {
    MPI_Send(local + p->e, (int)layers, MPI_FLOAT, 0, 1, p->comm);
    if (p->last) MPI_Send(local + p->e + layers, (int)tail, MPI_FLOAT, 0, 2, p->comm);
    return;
  }
  memcpy(whole, local, (size_t)(p->E + layers) * sizeof(float));
  if (p->last) memcpy(whole + p->n_full - tail, local + p->E + layers, (size_t)tail * sizeof(float));
  int L = p->full->cfg.n_layers;
  for (int s = 1; s < p->stages; s++) {
    int l0 = s * L / p->stages, n = (s + 1) * L / p->stages - l0;
    MPI_Recv(whole + p->E + (long)l0 * p->P, (int)(n * p->P), MPI_FLOAT, s, 1, p->comm, MPI_STATUS_IGNORE);
  }
  long full_tail = p->n_full - p->E - (long)L * p->P;
  if (p->stages > 1)
    MPI_Recv(whole + p->n_full - full_tail, (int)full_tail, MPI_FLOAT, p->stages - 1, 2, p->comm, MPI_STATUS_IGNORE);
}

static int pp_gather(void *ctx, const duet_llama_train *m, const duet_adamw *o, const duet_llama_train **full_m,
                     const duet_adamw **full_o) {
  duet_pp *p = ctx;
  return duet_whole_gather(gather_buffer, p, m, o, p->full, &p->full_opt, full_m, full_o);
}

int duet_pp_new(MPI_Comm *comm, MPI_Comm *data_comm, int micro, duet_pp **out, duet_train_strategy *s) {
  duet_pp *p = calloc(1, sizeof *p);
  if (!p) return duet_error(DUET_ENOMEM, "pipeline parallel: out of memory");
  p->comm = *comm;
  MPI_Comm_rank(p->comm, &p->stage);
  MPI_Comm_size(p->comm, &p->stages);
  p->first = p->stage == 0;
  p->last = p->stage == p->stages - 1;
  p->micro_req = micro;
  p->data_comm = data_comm ? *data_comm : MPI_COMM_NULL;
  p->data_size = 1;
  if (data_comm) MPI_Comm_size(p->data_comm, &p->data_size);
  *s = (duet_train_strategy){.ctx = p, .attach = pp_attach, .step = pp_step, .gather = pp_gather, .grad = pp_grad,
                             .eval = pp_eval};
  *out = p;
  return DUET_OK;
}
