#include "engine/parallel/fsdp.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/parallel/dp.h"
#include "engine/parallel/tp.h"

struct duet_fsdp {
  MPI_Comm comm;
  int rank, size;
  long n, shard, lo, hi; /* parameters, shard length, this rank's range [lo, hi) of the real ones */
  float *g, *m, *v;      /* this rank's shard of the averaged gradients and moments (padded to shard) */
  float *work;           /* size * shard, on the writing rank at checkpoints: gathered moments */
  duet_adamw full_opt;   /* the gathered moments, on the writing rank at checkpoints */
  duet_tp *tp;           /* on a mesh with tp: the model is a tensor-parallel shard, sharded again here */
};

void duet_fsdp_set_tp(duet_fsdp *f, duet_tp *tp) { f->tp = tp; }

void duet_fsdp_free(duet_fsdp *f) {
  if (!f) return;
  free(f->g);
  free(f->m);
  free(f->v);
  free(f->work);
  duet_adamw_free(&f->full_opt);
  free(f);
}

/* Copy this rank's range of a whole buffer into a zero-padded shard. */
static void take_shard(const duet_fsdp *f, float *shard, const float *whole) {
  memset(shard, 0, (size_t)f->shard * sizeof(float));
  if (whole && f->hi > f->lo) memcpy(shard, whole + f->lo, (size_t)(f->hi - f->lo) * sizeof(float));
}

/* Grow one flat buffer to size * shard floats with a zero tail, so the
 * collectives work on it in place. */
static float *pad(float *buf, long n, long padded) {
  float *p = realloc(buf, (size_t)padded * sizeof(float));
  if (p) memset(p + n, 0, (size_t)(padded - n) * sizeof(float));
  return p;
}

/* The model's flat parameters and gradients, padded to size * shard, with
 * every tensor view pointed at the moved buffers (the LM head is the
 * embedding's view when tied). */
static int pad_model(duet_fsdp *f, duet_llama_train *m) {
  long padded = f->shard * f->size;
  float *p = pad(m->params, f->n, padded);
  if (p) m->params = p;
  float *g = p ? pad(m->grads, f->n, padded) : NULL;
  if (!g) return duet_error(DUET_ENOMEM, "fsdp: cannot pad %ld parameters to %ld", f->n, padded);
  m->grads = g;
  for (int i = 0; i < m->n_info; i++) {
    m->info[i].t->data = m->params + m->info[i].offset;
    m->info[i].t->grad = m->grads + m->info[i].offset;
  }
  if (m->cfg.tied) m->lm_head = m->embed;
  return DUET_OK;
}

/* The model stays whole: its parameter buffer is the all-gathered copy
 * every forward reads, of which this rank owns and updates [lo, hi). The
 * optimizer keeps only its step count, the moments move into the shards. */
static int fsdp_attach(void *ctx, duet_llama_train **mp, duet_adamw *o) {
  duet_fsdp *f = ctx;
  int rc = f->tp ? duet_tp_attach(f->tp, mp, o) : DUET_OK;
  if (rc < 0) return rc;
  duet_llama_train *m = *mp;
  f->n = m->n_params;
  f->shard = (f->n + f->size - 1) / f->size;
  if (f->shard > INT_MAX) return duet_error(DUET_EUNSUPPORTED, "fsdp: shards of %ld floats exceed MPI's int count", f->shard);
  f->lo = f->rank * f->shard < f->n ? f->rank * f->shard : f->n;
  f->hi = f->lo + f->shard < f->n ? f->lo + f->shard : f->n;
  size_t bytes = (size_t)f->shard * sizeof(float);
  f->g = malloc(bytes), f->m = malloc(bytes), f->v = malloc(bytes);
  if (!f->g || !f->m || !f->v) return duet_error(DUET_ENOMEM, "fsdp: cannot allocate shards of %ld parameters", f->shard);
  if ((rc = pad_model(f, m)) < 0) return rc;
  take_shard(f, f->m, o->m); /* a resumed run's moments, else zeros */
  take_shard(f, f->v, o->v);
  free(o->m);
  free(o->v);
  o->m = o->v = NULL;
  return DUET_OK;
}

static int fsdp_step(void *ctx, duet_llama_train *m, duet_adamw *o, const duet_adamw_hparams *hp, int step,
                     float clip) {
  duet_fsdp *f = ctx;
  if (f->tp) duet_tp_reduce_partial(f->tp, m);
  /* the padding of m->grads stays zero: backward writes only real tensors */
  MPI_Reduce_scatter_block(m->grads, f->g, (int)f->shard, MPI_FLOAT, MPI_SUM, f->comm);
  duet_scale(f->g, f->shard, 1.0f / f->size);
  double sq[2] = {duet_grad_sumsq(f->g, f->shard), 0}; /* with tp: split tensors' squares, replicas' */
  if (f->tp) duet_tp_sumsq_range(m, f->g, f->lo, f->hi, &sq[0], &sq[1]);
  MPI_Allreduce(MPI_IN_PLACE, sq, 2, MPI_DOUBLE, MPI_SUM, f->comm);
  double sumsq = f->tp ? duet_tp_norm_sq(f->tp, sq[0], sq[1]) : sq[0];
  duet_scale(f->g, f->shard, duet_clip_scale(sqrt(sumsq), clip));
  o->step++;
  if (f->hi > f->lo)
    duet_llama_train_adamw_range(m, m->params + f->lo, f->g, f->m, f->v, f->lo, f->hi, o->step, duet_lr_at(hp, step),
                                 hp);
  /* every rank's updated shard into the one parameter buffer, in place */
  MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, m->params, (int)f->shard, MPI_FLOAT, f->comm);
  return DUET_OK;
}

/* Gather a sharded buffer whole into dst on rank 0 of the axis. */
static void gather_whole(duet_fsdp *f, const float *shard, float *dst) {
  MPI_Gather(shard, (int)f->shard, MPI_FLOAT, f->work, (int)f->shard, MPI_FLOAT, 0, f->comm);
  if (f->rank == 0) memcpy(dst, f->work, (size_t)f->n * sizeof(float));
}

static int fsdp_gather(void *ctx, const duet_llama_train *m, const duet_adamw *o, const duet_llama_train **full_m,
                       const duet_adamw **full_o) {
  duet_fsdp *f = ctx;
  int rc = DUET_OK;
  if (f->rank == 0 && !f->full_opt.m && (rc = duet_adamw_init(&f->full_opt, f->n)) >= 0 &&
      !(f->work = malloc((size_t)f->shard * f->size * sizeof(float))))
    rc = duet_error(DUET_ENOMEM, "fsdp: no memory to gather the optimizer state");
  /* every rank joins the collectives even if rank 0 failed to allocate */
  int ok = rc >= 0;
  MPI_Bcast(&ok, 1, MPI_INT, 0, f->comm);
  if (!ok) return rc < 0 ? rc : duet_error(DUET_ENOMEM, "fsdp: the writing rank could not gather the optimizer state");
  gather_whole(f, f->m, f->full_opt.m);
  gather_whole(f, f->v, f->full_opt.v);
  f->full_opt.step = o->step;
  *full_m = f->rank == 0 ? m : NULL;
  *full_o = f->rank == 0 ? &f->full_opt : NULL;
  /* with tp, the tensor-parallel group of data rank 0 assembles the whole model */
  return f->tp && f->rank == 0 ? duet_tp_gather(f->tp, m, &f->full_opt, full_m, full_o) : DUET_OK;
}

int duet_fsdp_new(MPI_Comm *comm, duet_train_opts *o, duet_fsdp **out, duet_train_strategy *s) {
  duet_fsdp *f = calloc(1, sizeof *f);
  if (!f) return duet_error(DUET_ENOMEM, "fsdp: out of memory");
  f->comm = *comm;
  MPI_Comm_rank(f->comm, &f->rank);
  MPI_Comm_size(f->comm, &f->size);
  duet_dp_attach(o, comm);
  *s = (duet_train_strategy){.ctx = f, .attach = fsdp_attach, .step = fsdp_step, .gather = fsdp_gather};
  *out = f;
  return DUET_OK;
}
