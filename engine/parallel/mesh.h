#ifndef DUET_PARALLEL_MESH_H
#define DUET_PARALLEL_MESH_H

/* The ranks of an MPI job as a 2-D mesh, the C counterpart of a JAX device
 * mesh: a data axis (plain data parallel "dp" or fully sharded "fsdp")
 * times a model axis (tensor parallel "tp" or pipeline parallel "pp"), built with MPI_Cart_create,
 * with one sub-communicator per axis (MPI_Cart_sub). The model axis varies
 * fastest, so a tensor-parallel group is made of neighbouring ranks (on
 * one host, as Megatron places them).
 *
 * --parallel spec: comma-separated axes NAME or NAME=SIZE, NAME one of dp,
 * fsdp, tp, pp; at most one data axis and one model axis; at most one axis
 * without a size (it takes the ranks the others leave). "dp" alone is
 * dp=<all ranks>; "dp=2,tp=2" needs 4 ranks (fsdp=2,tp=2 and dp=2,pp=2
 * too; fsdp does not combine with pp). With pp, "mb=M" sets the
 * micro-batches per step (default: up to 2 per stage). */

#include <mpi.h>

typedef struct {
  int data;  /* ranks along the data axis (1 when absent) */
  int model; /* ranks along the model axis (1 when absent) */
  int fsdp;  /* 1: the data axis shards parameters, gradients and optimizer state */
  int tp;    /* 1: the model axis is tensor parallel */
  int pp;    /* 1: the model axis is pipeline parallel */
  int micro; /* pipeline micro-batches (0: default) */
} duet_mesh_spec;

/* Parse spec for a job of world ranks. Errors name the bad item, or say
 * why the rank count does not fit the shape. */
int duet_mesh_spec_parse(const char *spec, int world, duet_mesh_spec *out);

typedef struct {
  duet_mesh_spec spec;
  int rank, size;             /* in MPI_COMM_WORLD */
  MPI_Comm cart;              /* the 2-D mesh */
  MPI_Comm data_comm;         /* the ranks that differ only in their data coordinate */
  MPI_Comm model_comm;        /* the ranks that differ only in their model coordinate */
  int data_rank, model_rank;  /* this rank's coordinates */
} duet_mesh;

int duet_mesh_create(const duet_mesh_spec *spec, duet_mesh *m);
void duet_mesh_free(duet_mesh *m);

#endif
