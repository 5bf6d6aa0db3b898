#ifndef DUET_PARALLEL_TRAIN_H
#define DUET_PARALLEL_TRAIN_H

/* duet-train --parallel SPEC under mpirun: initialise MPI, lay the ranks
 * out on a mesh (mesh.h), attach the strategy the spec names (dp.h,
 * fsdp.h, tp.h, pp.h) to the trainer's options, run engine/train/trainer.h, and
 * finalise. --batch is the GLOBAL batch: each rank of the data axis trains
 * on batch / data-size windows of it, so the losses equal a single-process
 * run with the same --batch. World rank 0 alone prints and writes.
 *
 * Errors every rank sees alike (a bad spec, a rank count or model shape
 * that does not fit) are returned on every rank after MPI_Finalize; an
 * error during training, which may strike one rank only, is printed by
 * that rank and ends the job with MPI_Abort so no rank waits forever. */

#include "engine/train/trainer.h"

int duet_parallel_train(const char *spec, duet_train_opts *o, duet_train_result *res);

#endif
