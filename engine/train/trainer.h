#ifndef DUET_TRAIN_TRAINER_H
#define DUET_TRAIN_TRAINER_H

/* The training loop behind duet-train: data (engine/train/dataset.h), the
 * model (llama_train.h), AdamW with clipping and warmup + cosine
 * (adamw.h), gradient accumulation, periodic validation (loss and bits per
 * byte), checkpoints as Hugging Face directories with the optimizer state
 * beside them, exact resume, a one-line progress display and the loss
 * curves as an SVG at the end.
 *
 * Checkpoint directory (all files written atomically):
 *   config.json, model.safetensors        the model (save_dtype), HF names
 *   tokenizer.json, tokenizer_config.json copied from the tokenizer source
 *   train_state.safetensors               float32 "params", "adamw.m",
 *                                         "adamw.v" + metadata: step, PRNG
 *                                         state, data fingerprint, every
 *                                         hyper-parameter and the loss log
 *   loss.svg                              train and validation loss curves
 * --resume reads train_state.safetensors: the resumed run draws the same
 * batches and computes the same losses as an uninterrupted one. */

#include <stdint.h>

#include "engine/model.h"
#include "engine/train/adamw.h"
#include "engine/train/llama_train.h"

/* A parallel strategy beyond plain data parallel (engine/parallel: fully
 * sharded, tensor parallel, meshes). attach runs at the end of setup, when
 * every rank holds the same full model and optimizer state, and may
 * replace both with this rank's shard (freeing the old ones). step then
 * replaces the gradient all-reduce and the optimizer step: it gets the
 * rank's local gradients (not yet averaged) and must clip and update as
 * the single-process run would, returning 0 or an error. gather (every
 * rank calls it before a checkpoint) points *full_m and *full_o at the
 * whole model and optimizer state on the writing rank (NULL elsewhere).
 * grad and eval, when set (pipeline parallel), replace
 * duet_llama_train_grad and the validation forward: the same contract,
 * the loss returned on every rank. */
typedef struct {
  void *ctx;
  int (*attach)(void *ctx, duet_llama_train **m, duet_adamw *o);
  int (*step)(void *ctx, duet_llama_train *m, duet_adamw *o, const duet_adamw_hparams *hp, int step, float clip);
  int (*gather)(void *ctx, const duet_llama_train *m, const duet_adamw *o, const duet_llama_train **full_m,
                const duet_adamw **full_o);
  int (*grad)(void *ctx, duet_llama_train *m, const int *tokens, const int *targets, int B, int T, float dloss,
              int accumulate, float *loss);
  int (*eval)(void *ctx, duet_llama_train *m, const int *tokens, const int *targets, int B, int T, float *loss);
} duet_train_strategy;

typedef struct {
  const char *const *data; /* text files */
  int n_data;
  const char *out;       /* checkpoint directory (created) */
  const char *init;      /* Hugging Face dir to start from, or NULL */
  const char *tokenizer; /* dir with tokenizer.json; default: init or resume */
  const char *resume;    /* checkpoint dir to continue from, or NULL */
  duet_config shape;     /* model shape when neither init nor resume */
  int steps, batch, seq, accum;
  int eval_every;   /* validate every N steps (and at the end); 0: only at the end */
  int eval_windows; /* validation windows of seq tokens per periodic evaluation (0: all);
                       the final one always uses all */
  int save_every;   /* checkpoint every N steps (and at the end); 0: only at the end */
  int stop_after;   /* stop (with a checkpoint) once this many steps are done; 0: never */
  duet_adamw_hparams hp;
  float grad_clip;
  uint64_t seed;
  double val_frac;
  duet_dtype save_dtype;
  int progress; /* print the progress line and summary to stderr */
  const char *val_text_out; /* write the held-out validation bytes here (to compare with xz) */
  /* Data parallel (filled by engine/parallel under mpirun; zero when
   * alone): rank dp_rank of dp_size trains on its slice of every global
   * batch of batch * dp_size windows (the windows a single process with
   * that batch would draw), then allreduce_sum adds the gradients and the
   * loss over the group in place and they are averaged, so the run equals
   * the single-process one. Only rank 0 writes files and prints. */
  int dp_rank, dp_size;
  void (*allreduce_sum)(float *buf, long n, void *ctx);
  void *allreduce_ctx;
  const duet_train_strategy *strategy; /* NULL: single process or plain data parallel */
  int follower; /* 1: a rank that neither prints nor writes though its dp_rank is 0 (a tensor-parallel peer) */
} duet_train_opts;

/* Defaults: batch 8, seq 256, accum 1, lr 3e-4, warmup 0, cosine to 0.1 lr,
 * weight decay 0.1, clip 1.0, seed 1337, val_frac 0.1, eval windows 64. */
void duet_train_opts_defaults(duet_train_opts *o);

typedef struct {
  int n;          /* entries: one per step done (including resumed ones) */
  float *loss;    /* training loss of step i */
  float *val;     /* validation loss measured before step i, NaN when not */
  float val_loss; /* final validation loss (nats per token) */
  float val_bpb;  /* final bits per byte */
  double tokens_per_s;
} duet_train_result;

void duet_train_result_free(duet_train_result *r);

/* Run (or resume) training. Every check of the input (files, data size,
 * shape, memory) happens before the first step. */
int duet_train_run(const duet_train_opts *o, duet_train_result *res);

#endif
