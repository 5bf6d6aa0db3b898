#ifndef DUET_PARALLEL_TP_OPS_H
#define DUET_PARALLEL_TP_OPS_H

/* Megatron's conjugate operators f and g as autograd ops on the trainer's
 * tape (engine/train/autograd.h), over a tensor-parallel communicator.
 * They plug into duet_llama_train's tp_enter / tp_leave hooks with ctx an
 * MPI_Comm *.
 *   f: y = x forward; dx += allreduce(dy) backward
 *   g: y = allreduce(x) forward; dx += dy backward
 * Every rank of the group must run the same ops in the same order (they
 * do: the shards have the same structure). */

#include "engine/train/autograd.h"

duet_tensor *duet_tp_f(duet_tape *t, duet_tensor *x, void *comm);
duet_tensor *duet_tp_g(duet_tape *t, duet_tensor *x, void *comm);

#endif
