#include "engine/parallel/train.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "engine/error.h"
#include "engine/parallel/dp.h"
#include "engine/parallel/fsdp.h"
#include "engine/parallel/mesh.h"
#include "engine/parallel/pp.h"
#include "engine/parallel/tp.h"

/* The model shape the run will have: from --init / --resume's config.json
 * or the shape flags. */
static int planned_shape(const duet_train_opts *o, duet_config *c) {
  const char *dir = o->resume ? o->resume : o->init;
  if (!dir) {
    *c = o->shape;
    return DUET_OK;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  return duet_config_load(path, c);
}

/* Everything checkable before training, identical on every rank. */
static int check_fit(const duet_mesh_spec *s, const duet_train_opts *o) {
  /* a resumed run's batch comes from its checkpoint (the trainer divides it) */
  if (!o->resume && s->data > 1 && o->batch % s->data != 0)
    return duet_error(DUET_EINVAL, "--parallel: --batch %d (the global batch) must be a multiple of the %d data-"
                      "parallel ranks", o->batch, s->data);
  if (s->fsdp && s->pp) return duet_error(DUET_EUNSUPPORTED, "--parallel: fsdp does not combine with pp (use dp=N,pp=M)");
  if (!o->resume && s->pp && s->micro && (o->batch / s->data) % s->micro != 0)
    return duet_error(DUET_EINVAL, "--parallel: mb=%d micro-batches do not divide the %d windows of a rank's batch",
                      s->micro, o->batch / s->data);
  if (!s->tp && !s->pp) return DUET_OK;
  duet_config c;
  int rc = planned_shape(o, &c);
  if (rc < 0) return rc;
  return s->tp ? duet_tp_check_shape(&c, s->model) : duet_pp_check_shape(&c, s->model);
}

typedef struct {
  duet_mesh mesh;
  duet_train_strategy strategy;
  duet_fsdp *fsdp;
  duet_tp *tp;
  duet_pp *pp;
} plan;

static int attach(plan *p, duet_train_opts *o) {
  duet_mesh *m = &p->mesh;
  int rc = DUET_OK;
  o->batch /= m->spec.data;
  if (m->spec.tp) {
    /* tp averages over a plain data axis itself; under fsdp, fsdp does */
    MPI_Comm *dc = m->spec.data > 1 && !m->spec.fsdp ? &m->data_comm : NULL;
    if ((rc = duet_tp_new(&m->model_comm, dc, &p->tp, &p->strategy)) < 0) return rc;
    o->follower = m->model_rank != 0;
  }
  if (m->spec.fsdp) {
    if ((rc = duet_fsdp_new(&m->data_comm, o, &p->fsdp, &p->strategy)) < 0) return rc;
    duet_fsdp_set_tp(p->fsdp, p->tp);
  } else if (m->spec.data > 1) {
    duet_dp_attach(o, &m->data_comm);
  }
  if (m->spec.pp) {
    if ((rc = duet_pp_new(&m->model_comm, m->spec.data > 1 ? &m->data_comm : NULL, m->spec.micro, &p->pp,
                          &p->strategy)) < 0)
      return rc;
    o->follower = m->model_rank != 0;
  }
  if (p->fsdp || p->tp || p->pp) o->strategy = &p->strategy;
  return DUET_OK;
}

int duet_parallel_train(const char *spec, duet_train_opts *o, duet_train_result *res) {
  int inited = 0, rank = 0, size = 1;
  memset(res, 0, sizeof *res);
  MPI_Initialized(&inited);
  if (!inited && MPI_Init(NULL, NULL) != MPI_SUCCESS) return duet_error(DUET_EIO, "--parallel: MPI_Init failed");
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  plan p = {0};
  p.mesh.cart = p.mesh.data_comm = p.mesh.model_comm = MPI_COMM_NULL; /* not created yet */
  int rc = duet_mesh_spec_parse(spec, size, &p.mesh.spec);
  if (rc >= 0) rc = check_fit(&p.mesh.spec, o);
  if (rc >= 0 && (rc = duet_mesh_create(&p.mesh.spec, &p.mesh)) >= 0 && (rc = attach(&p, o)) >= 0) {
    rc = duet_train_run(o, res);
    if (rc < 0 && size > 1) {
      fprintf(stderr, "\nduet-train: rank %d: %s\n", rank, duet_last_error());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  /* before MPI_Finalize: once one rank exits non-zero, mpirun kills the rest */
  if (rc < 0) fprintf(stderr, "duet-train: rank %d of %d: %s\n", rank, size, duet_last_error());
  duet_fsdp_free(p.fsdp);
  duet_tp_free(p.tp);
  duet_pp_free(p.pp);
  duet_mesh_free(&p.mesh);
  MPI_Finalize();
  return rc;
}
