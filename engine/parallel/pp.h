#ifndef DUET_PARALLEL_PP_H
#define DUET_PARALLEL_PP_H

/* Pipeline parallel with the GPipe schedule (Huang et al. 2019) over S
 * ranks. Stage s holds layers [s*L/S, (s+1)*L/S) as a Llama of its own
 * (engine/train/llama_train.h), the first stage also the embedding, the
 * last the final norm and LM head (both, with tied embeddings: their
 * gradients are summed between the two). (Being a duet_llama_train, a
 * stage's model always has embedding and head tensors: a middle stage's
 * have one vocabulary row, and a stage that does not use them neither
 * updates nor sends them.) Each rank's batch is cut into M
 * micro-batches:
 *   forward  i = 0..M-1: receive the activation (B/M*T, C) from stage s-1
 *            (MPI_Recv), run the stage on its own tape, send the result
 *            to stage s+1 (MPI_Send); the last stage computes the loss
 *   backward i = M-1..0: receive d(activation) from stage s+1, run the
 *            tape backward, send d(input) to stage s-1
 * so stage s works on micro-batch i while stage s+1 works on i-1. Weight
 * gradients accumulate over the micro-batches (each loss weighted 1/M);
 * the optimizer step clips by the norm summed over the stages and updates
 * each stage's own parameters. The loss is broadcast from the last stage.
 *
 * Flat layout: embedding, layers, final norm (+ LM head), so a stage's
 * layers are one contiguous block of the whole model's buffer, which is
 * how a checkpoint gathers them on the first stage. Composes with data
 * parallel on a mesh (dp=2,pp=2). */

#include <mpi.h>

#include "engine/model.h"
#include "engine/train/trainer.h"

typedef struct duet_pp duet_pp;

/* Refuse a model with fewer layers than stages. */
int duet_pp_check_shape(const duet_config *c, int stages);

/* A strategy over comm (the model axis); data_comm: the data axis (NULL or
 * size 1: none); micro: micro-batches per step (0: a default of up to
 * 2 per stage dividing the batch). */
int duet_pp_new(MPI_Comm *comm, MPI_Comm *data_comm, int micro, duet_pp **out, duet_train_strategy *s);
void duet_pp_free(duet_pp *p);

#endif
