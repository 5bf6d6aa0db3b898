#ifndef DUET_TRAIN_CHECKPOINT_H
#define DUET_TRAIN_CHECKPOINT_H

/* The trainer's checkpoint directory (see trainer.h for its files): the
 * Hugging Face model, the tokenizer copied beside it, and
 * train_state.safetensors holding the float32 master parameters, the AdamW
 * moments and, as metadata strings, the step, the PRNG state, the data
 * fingerprint, the hyper-parameters and the loss log. Every file is
 * written atomically, the state last, so a crash leaves the previous state
 * usable. */

#include <stdint.h>

#include "engine/train/adamw.h"
#include "engine/train/llama_train.h"
#include "engine/train/rng.h"
#include "engine/train/trainer.h"

int duet_checkpoint_save(const char *dir, const char *tokenizer_dir, const duet_llama_train *m, const duet_adamw *opt,
                         const duet_rng *rng, int step, uint64_t fingerprint, const duet_train_opts *o,
                         const duet_train_result *res);

/* The hyper-parameters of the run that wrote dir (steps, batch (the global
 * one: per-rank batch x data-parallel ranks), seq,
 * accum, eval and save cadence, AdamW, clipping, seed, validation split,
 * save dtype) into o; paths, stop_after and progress are left alone. */
int duet_checkpoint_read_opts(const char *dir, duet_train_opts *o);

/* Parameters, moments, step, PRNG and the loss log so far (into res, whose
 * arrays hold max_steps entries). Refuses data whose fingerprint differs. */
int duet_checkpoint_read_state(const char *dir, duet_llama_train *m, duet_adamw *opt, duet_rng *rng, int *step,
                               uint64_t fingerprint, int max_steps, duet_train_result *res);

/* loss.svg: training loss per step and validation loss where measured. */
int duet_checkpoint_plot(const char *dir, const duet_train_result *res);

#endif
