#ifndef DUET_TRAIN_LLAMA_TRAIN_H
#define DUET_TRAIN_LLAMA_TRAIN_H

/* The Llama-family model as the trainer sees it: float32 parameters in ONE
 * flat buffer and their gradients in another of the same layout, so that
 * data parallel can all-reduce the gradients in place and fully-sharded
 * data parallel can cut both (and the AdamW state) into equal slices.
 * Every weight is a duet_tensor view into those buffers, listed in
 * `info` with its Hugging Face name (the order of the flat buffer).
 *
 * Architecture options are those of duet_config: grouped-query heads,
 * RoPE (NeoX or GPT-J pairs) or sinusoidal positions, tied or untied LM
 * head, Qwen3 q/k norms. Not supported for training (refused by name):
 * q/k/v biases (Qwen2) and rope scaling.
 *
 * The forward pass is a chain of short layer functions recording on an
 * autograd tape (engine/train/autograd.h); the loss is the mean
 * cross-entropy over the batch's (B, T) targets. */

#include <stddef.h>
#include <stdint.h>

#include "engine/model.h"
#include "engine/train/adamw.h"
#include "engine/train/autograd.h"

typedef struct {
  duet_tensor attn_norm, wq, wk, wv, q_norm, k_norm, wo; /* q_norm/k_norm: n == 0 when absent */
  duet_tensor bq, bk, bv;                                /* Qwen2's q/k/v biases: n == 0 when absent */
  duet_tensor mlp_norm, w_gate, w_up, w_down;
} duet_train_layer;

typedef struct {
  char name[96]; /* Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight" */
  duet_tensor *t;
  long offset;   /* into params / grads */
  int decay;     /* 1 for 2-D weights (AdamW decays those only, as llm.c) */
} duet_train_param;

typedef struct {
  duet_config cfg;
  long n_params;
  float *params, *grads;
  duet_tensor embed, lm_head, final_norm; /* lm_head aliases embed when tied */
  duet_train_layer *layers;
  duet_train_param *info;
  int n_info;
  duet_rope rope;
  /* Tensor parallel (engine/parallel/tp.c): a rank's shard is the model
   * with n_heads, n_kv_heads and hidden divided by the group size. tp_enter
   * wraps the normed input of q/k/v and of gate/up (identity forward,
   * all-reduce of the gradient backward: Megatron's f), tp_leave the
   * outputs of o_proj and down_proj (all-reduce forward, identity backward:
   * g). NULL when the model is whole. */
  duet_tensor *(*tp_enter)(duet_tape *t, duet_tensor *x, void *ctx);
  duet_tensor *(*tp_leave)(duet_tape *t, duet_tensor *x, void *ctx);
  void *tp_ctx;
} duet_llama_train;

/* Check the shape (heads divide dim, kv heads divide heads, even head_dim
 * for RoPE...) and allocate zeroed parameters and gradients. */
int duet_llama_train_new(const duet_config *cfg, duet_llama_train **out);
void duet_llama_train_free(duet_llama_train *m);

/* Parameters the config implies (without allocating), for memory checks. */
long duet_llama_train_count_params(const duet_config *cfg);

/* llm.c / GPT-2 initialisation: weights N(0, 0.02), the two residual
 * output projections (o_proj, down_proj) scaled by 1/sqrt(2 * n_layers),
 * norm weights 1. Deterministic in seed. */
void duet_llama_train_init_random(duet_llama_train *m, uint64_t seed);

/* Load a Hugging Face directory (config.json + safetensors, any dtype,
 * widened to float32). */
int duet_llama_train_load(const char *dir, duet_llama_train **out);

/* Write config.json and model.safetensors (in dtype; F32 keeps training
 * exact) into dir, atomically, under Hugging Face names. */
int duet_llama_train_save(const duet_llama_train *m, const char *dir, duet_dtype dtype);

/* Arena bytes and tape nodes one (B, T) training step needs. */
size_t duet_llama_train_arena_bytes(const duet_config *cfg, int B, int T);
int duet_llama_train_max_nodes(const duet_config *cfg);

/* Forward on tokens (B, T) to the mean cross-entropy against targets
 * (B, T) (-1 ignored), recorded on t when it records. Returns the scalar
 * loss tensor, or NULL (duet_last_error(), t->err). tokens and targets
 * must stay valid until the tape is reset. */
duet_tensor *duet_llama_train_loss(duet_llama_train *m, duet_tape *t, const int *tokens, const int *targets, int B,
                                   int T);

/* One pipeline stage's part of that forward (engine/parallel/pp.c): when
 * first, from the tokens through the embedding, else from x (B*T, C)
 * received from the previous stage; then every layer of m (the stage's
 * layers); when last, the final norm, LM head and mean cross-entropy
 * (returns the scalar loss), else the hidden states (B*T, C).
 * duet_llama_train_loss is the stage that is both first and last. */
duet_tensor *duet_llama_train_stage(duet_llama_train *m, duet_tape *t, duet_tensor *x, const int *tokens,
                                    const int *targets, int B, int T, int first, int last);

/* One full gradient computation: zero grads (unless accumulate), forward,
 * backward with d(loss) = dloss. *loss gets the batch's mean loss. */
int duet_llama_train_grad(duet_llama_train *m, duet_tape *t, const int *tokens, const int *targets, int B, int T,
                          float dloss, int accumulate, float *loss);

/* The optimizer step after the gradients of step `step` (0-based) are in
 * m->grads: clip them to global norm grad_clip (<= 0: no clipping), then
 * AdamW at duet_lr_at(hp, step), weight decay on 2-D weights only.
 * Returns the gradient norm before clipping. */
float duet_llama_train_adamw_step(duet_llama_train *m, duet_adamw *o, const duet_adamw_hparams *hp, int step,
                                  float grad_clip);

/* The AdamW update of the flat range [lo, hi) of the parameters only (a
 * fully-sharded rank's shard; [0, n_params) is the whole model), each
 * element decayed or not by the tensor it belongs to. p, g, mom, vel point
 * at element lo of their buffers (a shard may live in buffers of its own).
 * t: 1-based step for bias correction. */
void duet_llama_train_adamw_range(const duet_llama_train *m, float *p, const float *g, float *mom, float *vel, long lo,
                                  long hi, long t, float lr, const duet_adamw_hparams *hp);

#endif
