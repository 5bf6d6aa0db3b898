#ifndef DUET_PARALLEL_DP_H
#define DUET_PARALLEL_DP_H

/* Data parallel: every rank of the data axis trains on its share of the
 * global batch (the trainer draws the global batch's windows on every rank
 * and keeps its slice), then the gradients on the one flat buffer are
 * summed IN PLACE over the axis (MPI_Allreduce with MPI_IN_PLACE) and
 * averaged, so every rank takes the same optimizer step as a single
 * process with the whole batch. */

#include <mpi.h>

#include "engine/train/trainer.h"

/* The trainer's allreduce_sum: ctx is an MPI_Comm *. Counts beyond INT_MAX
 * go in pieces. */
void duet_dp_allreduce_sum(float *buf, long n, void *comm);

/* Point o's data-parallel fields at comm (rank and size within it). */
void duet_dp_attach(duet_train_opts *o, MPI_Comm *comm);

#endif
