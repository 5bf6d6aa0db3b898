#include "engine/parallel/tp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/parallel/dp.h"
#include "engine/parallel/tp_ops.h"
#include "engine/parallel/whole.h"

struct duet_tp {
  MPI_Comm comm, data_comm;
  int rank, size, data_size;
  duet_llama_train *full; /* the whole model on rank 0 of the group (the checkpoint target); NULL elsewhere */
  duet_adamw full_opt;
  long n_local;
  float *recv; /* rank 0: size * n_local, every shard of one buffer */
};

int duet_tp_check_shape(const duet_config *c, int g) {
  int kv = c->n_kv_heads > 0 ? c->n_kv_heads : c->n_heads;
  if (g < 1 || c->n_heads % g || kv % g || c->hidden % g)
    return duet_error(DUET_EINVAL, "tensor parallel over %d ranks: %d heads, %d kv heads and hidden %d must all be "
                      "multiples of %d", g, c->n_heads, kv, c->hidden, g);
  return DUET_OK;
}

void duet_tp_free(duet_tp *p) {
  if (!p) return;
  duet_llama_train_free(p->full);
  duet_adamw_free(&p->full_opt);
  free(p->recv);
  free(p);
}

/* Copy between a whole tensor F (in buffer full) and rank r's shard L (in
 * buffer local): equal sizes are replicated; fewer rows: a column-parallel
 * weight (rows r*rows(L)...); fewer columns: a row-parallel one. */
static void shard_copy(float *full, float *local, const duet_tensor *F, const duet_tensor *L, int r, int to_local) {
  if (F->n == L->n) {
    if (to_local) memcpy(local, full, (size_t)L->n * sizeof(float));
    else memcpy(full, local, (size_t)L->n * sizeof(float));
    return;
  }
  int rows = L->shape[0], cols = L->ndim == 2 ? L->shape[1] : 1, fcols = F->ndim == 2 ? F->shape[1] : 1;
  long row0 = rows < F->shape[0] ? (long)r * rows : 0, col0 = cols < fcols ? (long)r * cols : 0;
  for (int i = 0; i < rows; i++) {
    float *a = full + (row0 + i) * fcols + col0, *b = local + (long)i * cols;
    if (to_local) memcpy(b, a, (size_t)cols * sizeof(float));
    else memcpy(a, b, (size_t)cols * sizeof(float));
  }
}

/* Every tensor of a flat buffer: whole <-> rank r's shard. */
static void shard_buffer(const duet_llama_train *full, const duet_llama_train *local, float *fbuf, float *lbuf, int r,
                         int to_local) {
  for (int i = 0; i < full->n_info; i++)
    shard_copy(fbuf + full->info[i].offset, lbuf + local->info[i].offset, full->info[i].t, local->info[i].t, r,
               to_local);
}

int duet_tp_attach(void *ctx, duet_llama_train **mp, duet_adamw *o) {
  duet_tp *p = ctx;
  duet_llama_train *full = *mp, *loc = NULL;
  duet_config c = full->cfg;
  int rc = duet_tp_check_shape(&c, p->size);
  if (rc < 0) return rc;
  c.n_heads /= p->size;
  c.n_kv_heads /= p->size;
  c.hidden /= p->size;
  duet_adamw lo = {0};
  if ((rc = duet_llama_train_new(&c, &loc)) < 0 || (rc = duet_adamw_init(&lo, loc->n_params)) < 0) {
    duet_llama_train_free(loc);
    return rc;
  }
  shard_buffer(full, loc, full->params, loc->params, p->rank, 1);
  shard_buffer(full, loc, o->m, lo.m, p->rank, 1); /* a resumed run's moments, else zeros */
  shard_buffer(full, loc, o->v, lo.v, p->rank, 1);
  lo.step = o->step;
  duet_adamw_free(o);
  *o = lo;
  loc->tp_enter = duet_tp_f;
  loc->tp_leave = duet_tp_g;
  loc->tp_ctx = &p->comm;
  p->n_local = loc->n_params;
  if (p->rank == 0) {
    p->full = full; /* kept as the checkpoint target */
    p->recv = malloc((size_t)p->size * p->n_local * sizeof(float));
    if (!p->recv || (rc = duet_adamw_init(&p->full_opt, full->n_params)) < 0)
      rc = duet_error(DUET_ENOMEM, "tensor parallel: no memory to gather %ld parameters", full->n_params);
  } else {
    duet_llama_train_free(full);
  }
  *mp = loc;
  return rc < 0 ? rc : DUET_OK;
}

/* How a parameter lives on the group: split (q/k/v/o, gate/up/down), a
 * replica whose gradient is partial (the Qwen3 q/k norms, shared by all
 * heads: each rank sees only its heads' share), or a plain replica. */
enum { REPLICA, SPLIT, PARTIAL };
static int kind(const char *name) {
  if (strstr(name, "_proj.")) return SPLIT;
  if (strstr(name, "self_attn.q_norm.") || strstr(name, "self_attn.k_norm.")) return PARTIAL;
  return REPLICA;
}

void duet_tp_reduce_partial(const duet_tp *p, duet_llama_train *m) {
  for (int i = 0; i < m->n_info; i++)
    if (kind(m->info[i].name) == PARTIAL)
      duet_dp_allreduce_sum(m->grads + m->info[i].offset, m->info[i].t->n, (void *)&p->comm);
}

void duet_tp_sumsq_range(const duet_llama_train *m, const float *g, long lo, long hi, double *split, double *repl) {
  *split = *repl = 0;
  for (int i = 0; i < m->n_info; i++) {
    const duet_train_param *q = &m->info[i];
    long a = q->offset > lo ? q->offset : lo, b = q->offset + q->t->n < hi ? q->offset + q->t->n : hi;
    if (a >= b) continue;
    double s = duet_grad_sumsq(g + (a - lo), b - a);
    if (kind(q->name) == SPLIT) *split += s;
    else *repl += s;
  }
}

double duet_tp_norm_sq(const duet_tp *p, double split, double repl) {
  MPI_Allreduce(MPI_IN_PLACE, &split, 1, MPI_DOUBLE, MPI_SUM, p->comm);
  return split + repl;
}

/* Squares of the gradients: split tensors summed over the group, replicas
 * (identical on every rank once the partial ones are summed) counted once. */
static double grad_sumsq(const duet_tp *p, duet_llama_train *m) {
  double split, repl;
  duet_tp_reduce_partial(p, m);
  duet_tp_sumsq_range(m, m->grads, 0, m->n_params, &split, &repl);
  return duet_tp_norm_sq(p, split, repl);
}

static int tp_step(void *ctx, duet_llama_train *m, duet_adamw *o, const duet_adamw_hparams *hp, int step, float clip) {
  duet_tp *p = ctx;
  if (p->data_size > 1) {
    duet_dp_allreduce_sum(m->grads, m->n_params, &p->data_comm);
    duet_scale(m->grads, m->n_params, 1.0f / p->data_size);
  }
  duet_scale(m->grads, m->n_params, duet_clip_scale(sqrt(grad_sumsq(p, m)), clip));
  o->step++;
  duet_llama_train_adamw_range(m, m->params, m->grads, o->m, o->v, 0, m->n_params, o->step, duet_lr_at(hp, step), hp);
  return DUET_OK;
}

/* One buffer of every rank's shard into the whole one on rank 0. */
static void gather_buffer(void *ctx, const duet_llama_train *loc, const float *lbuf, float *fbuf) {
  duet_tp *p = ctx;
  MPI_Gather(lbuf, (int)p->n_local, MPI_FLOAT, p->recv, (int)p->n_local, MPI_FLOAT, 0, p->comm);
  if (p->rank != 0) return;
  for (int r = 0; r < p->size; r++) shard_buffer(p->full, loc, fbuf, p->recv + (long)r * p->n_local, r, 0);
}

int duet_tp_gather(void *ctx, const duet_llama_train *m, const duet_adamw *o, const duet_llama_train **full_m,
                     const duet_adamw **full_o) {
  duet_tp *p = ctx;
  return duet_whole_gather(gather_buffer, p, m, o, p->full, &p->full_opt, full_m, full_o);
}

int duet_tp_new(MPI_Comm *comm, MPI_Comm *data_comm, duet_tp **out, duet_train_strategy *s) {
  duet_tp *p = calloc(1, sizeof *p);
  if (!p) return duet_error(DUET_ENOMEM, "tensor parallel: out of memory");
  p->comm = *comm;
  MPI_Comm_rank(p->comm, &p->rank);
  MPI_Comm_size(p->comm, &p->size);
  p->data_comm = data_comm ? *data_comm : MPI_COMM_NULL;
  p->data_size = 1;
  if (data_comm) MPI_Comm_size(p->data_comm, &p->data_size);
  *s = (duet_train_strategy){.ctx = p, .attach = duet_tp_attach, .step = tp_step, .gather = duet_tp_gather};
  *out = p;
  return DUET_OK;
}
