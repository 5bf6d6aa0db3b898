/* duet-worker: the MPI program of the disaggregated runtime.
 *   mpirun -np 1+(P+D)*T duet-worker --prefill P --decode D --tp T
 *          --model DIR --listen HOST:PORT [--kv-blocks N] [--budget N]
 *          [--max-batch N] [--f32]
 * (--kv-blocks: decode pool per rank; --budget: prompt tokens per prefill
 * step, longer prompts are chunked; --max-batch: sequences per decode step.)
 * Rank 0 is the coordinator (router + bridge between one socket and MPI),
 * then P prefill groups and D decode groups of T ranks, each group with its
 * own communicator for the tensor-parallel allreduce. Wrong counts are
 * refused by every rank alike (same arguments, same checks), so all exit
 * cleanly. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/threads.h"
#include "server/runtime/decode.h"
#include "server/runtime/net_mpi.h"
#include "server/runtime/prefill.h"
#include "server/worker/coordinator.h"

static int parse_int(const char *s, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < 0 || v > 1 << 30) return -1;
  *out = (int)v;
  return 0;
}

static int parse_args(int argc, char **argv, duet_worker_args *a) {
  memset(a, 0, sizeof *a);
  a->topo.tp = 1;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int *num = !strcmp(k, "--prefill") ? &a->topo.n_prefill
               : !strcmp(k, "--decode") ? &a->topo.n_decode
               : !strcmp(k, "--tp")     ? &a->topo.tp
               : !strcmp(k, "--kv-blocks") ? &a->kv_blocks
               : !strcmp(k, "--budget")    ? &a->budget
               : !strcmp(k, "--max-batch") ? &a->max_batch
                                           : NULL;
    if (!strcmp(k, "--help") || !strcmp(k, "-h")) return 1; /* main prints the usage on rank 0 */
    if (!strcmp(k, "--f32")) {
      a->to_f32 = 1;
    } else if (num) {
      if (!v || parse_int(v, num)) return duet_error(DUET_EINVAL, "%s needs a non-negative integer", k);
      i++;
    } else if (!strcmp(k, "--model") || !strcmp(k, "--listen")) {
      if (!v) return duet_error(DUET_EINVAL, "%s needs a value", k);
      if (!strcmp(k, "--model")) a->model_dir = v;
      else a->listen = v;
      i++;
    } else {
      return duet_error(DUET_EINVAL, "unknown argument \"%s\"", k);
    }
  }
  if (!a->model_dir) return duet_error(DUET_EINVAL, "--model DIR is required");
  if (!a->listen) return duet_error(DUET_EINVAL, "--listen HOST:PORT is required");
  return DUET_OK;
}

/* A prefill or decode rank: load this rank's shard, run the role until
 * the coordinator says shut down. */
static int run_worker(const duet_worker_args *a, const duet_place *pl, MPI_Comm group) {
  duet_load_opts lo = {a->to_f32, pl->tp_rank, a->topo.tp};
  duet_model *m;
  int rc = duet_model_load(a->model_dir, &lo, &m);
  if (rc) {
    fprintf(stderr, "duet-worker: loading %s (shard %d of %d): %s\n", a->model_dir, pl->tp_rank, a->topo.tp,
            duet_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1); /* the others would wait forever */
  }
  duet_net_mpi *net;
  size_t max_kv = (size_t)2 * 64 * m->n_kv_heads_local * m->cfg.head_dim * sizeof(float);
  if ((rc = duet_net_mpi_new(MPI_COMM_WORLD, max_kv, &net))) return rc;
  duet_forward_hooks tp = {0};
  if (a->topo.tp > 1) {
    tp.allreduce = duet_net_mpi_allreduce;
    tp.allreduce_ctx = &group;
  }
  duet_role role;
  duet_prefill_role *p = NULL;
  duet_decode_role *d = NULL;
  if (pl->kind == DUET_ROLE_PREFILL) {
    duet_prefill_opts po = {m, a->topo, pl->group, pl->tp_rank, 0, DUET_KV_BLOCK_TOKENS, a->budget, tp, duet_net_mpi_net(net)};
    rc = duet_prefill_role_new(&po, &p);
    if (!rc) role = duet_prefill_role_iface(p);
  } else {
    duet_decode_opts dopt = {m, a->topo, pl->group, pl->tp_rank, a->kv_blocks, DUET_KV_BLOCK_TOKENS, a->max_batch, tp, duet_net_mpi_net(net)};
    rc = duet_decode_role_new(&dopt, &d);
    if (!rc) role = duet_decode_role_iface(d);
  }
  if (rc) {
    fprintf(stderr, "duet-worker: %s\n", duet_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  duet_net_mpi_attach(net, &role);
  duet_backoff bo = {0, 2000};
  while (!role.finished(role.self)) {
    int n = duet_net_mpi_progress(net);
    n += role.step(role.self);
    duet_backoff_step(&bo, n);
  }
  duet_net_mpi_free(net);
  duet_prefill_role_free(p);
  duet_decode_role_free(d);
  duet_model_free(m);
  return DUET_OK;
}

int main(int argc, char **argv) {
  int provided, rank, size;
  duet_threads_init(argv); /* short OpenMP spin: see engine/threads.h; before MPI_Init */
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  duet_worker_args a;
  duet_config cfg;
  char path[4096];
  int rc = parse_args(argc, argv, &a);
  if (rc == 1) { /* --help */
    if (rank == 0)
      printf("usage: mpirun -np 1+(P+D)*T duet-worker --model DIR --listen HOST:PORT --prefill P --decode D\n"
             "       [--tp T] [--kv-blocks N] [--budget N] [--max-batch N] [--f32]\n");
    MPI_Finalize();
    return 0;
  }
  if (!rc) {
    snprintf(path, sizeof path, "%s/config.json", a.model_dir);
    rc = duet_config_load(path, &cfg);
  }
  if (!rc) rc = duet_topo_validate(&a.topo, size, cfg.n_heads, cfg.n_kv_heads, cfg.hidden);
  if (rc) {
    if (rank == 0) fprintf(stderr, "duet-worker: %s\n", duet_last_error());
    MPI_Finalize();
    return 2;
  }
  duet_place pl;
  duet_topo_place(&a.topo, rank, &pl);
  /* One communicator per group (color: 0 coordinator, 1.. groups). */
  int color = pl.kind == DUET_ROLE_COORD ? 0 : 1 + (pl.kind == DUET_ROLE_PREFILL ? pl.group : a.topo.n_prefill + pl.group);
  MPI_Comm group;
  MPI_Comm_split(MPI_COMM_WORLD, color, pl.tp_rank, &group);
  rc = pl.kind == DUET_ROLE_COORD ? duet_coordinator_run(&a, &cfg) : run_worker(&a, &pl, group);
  if (rc) fprintf(stderr, "duet-worker rank %d: %s\n", rank, duet_last_error());
  MPI_Comm_free(&group);
  MPI_Finalize();
  return rc ? 1 : 0;
}
