#ifndef DUET_MODEL_H
#define DUET_MODEL_H

/* A Llama-family model held in memory: its config and its weights (or one
 * tensor-parallel shard of them). Loaded from a Hugging Face directory
 * (config.json + model.safetensors, or sharded with an index).
 *
 * Ownership: duet_model_load() returns a model that owns its mmaps and
 * buffers; duet_model_free() releases everything. A model is read-only
 * after load and may be shared by threads. */

#include <stddef.h>
#include <stdint.h>

typedef enum { DUET_F32 = 0, DUET_BF16 = 1, DUET_F16 = 2 } duet_dtype;
size_t duet_dtype_size(duet_dtype t);

typedef enum {
  DUET_POS_ROPE_NEOX = 0, /* rotate-half pairs (i, i+d/2): Hugging Face */
  DUET_POS_ROPE_GPTJ = 1, /* interleaved pairs (2i, 2i+1): Meta, GPT-J */
  DUET_POS_SINUSOIDAL = 2 /* absolute sin/cos added to the embedding */
} duet_pos_kind;

typedef enum { DUET_ROPE_SCALING_NONE = 0, DUET_ROPE_SCALING_LINEAR, DUET_ROPE_SCALING_LLAMA3 } duet_rope_scaling_kind;

#define DUET_MAX_EOS_IDS 15 /* with eos_id and 16 stop ids: DUET_MAX_END_IDS */

typedef struct {
  char arch[32];        /* "llama", "qwen2", "qwen3" (from model_type) */
  int dim;              /* hidden_size */
  int hidden;           /* intermediate_size */
  int n_layers;         /* num_hidden_layers */
  int n_heads;          /* num_attention_heads */
  int n_kv_heads;       /* num_key_value_heads (defaults to n_heads) */
  int head_dim;         /* head_dim when given, else dim / n_heads */
  int vocab;            /* vocab_size */
  int max_pos;          /* max_position_embeddings */
  float norm_eps;       /* rms_norm_eps */
  float rope_theta;     /* rope_theta (default 10000) */
  int tied;             /* tie_word_embeddings */
  int qkv_bias;         /* Qwen2: biases on q/k/v projections */
  int qk_norm;          /* Qwen3: RMSNorm over each q and k head before RoPE */
  duet_pos_kind pos;    /* duet's own config key "duet_position_encoding":
                           "rope_neox" (default), "rope_gptj", "sinusoidal" */
  struct {
    duet_rope_scaling_kind kind;
    float factor, low_freq_factor, high_freq_factor;
    int original_max_pos;
  } rope_scaling;
  int bos_id, eos_id;   /* -1 when absent; eos_id is eos_ids[0] */
  int n_eos;            /* eos_token_id may be a list (Llama 3 instruct: */
  int eos_ids[DUET_MAX_EOS_IDS]; /* end of text, of message, of turn): all end a sequence */
  duet_dtype dtype;     /* torch_dtype of the checkpoint as written */
} duet_config;

/* A row-major weight matrix [rows = out_features, cols = in_features], in
 * the checkpoint's dtype (BF16/F16 stay as they are unless --f32). */
typedef struct {
  duet_dtype dtype;
  int rows, cols;
  const void *data;
} duet_matrix;

/* One decoder layer. For a tensor-parallel shard (tp_size > 1), wq/wk/wv
 * and w_gate/w_up hold this rank's rows (its heads / hidden units) and
 * wo/w_down its columns; norms are whole. Biases and q/k norms are NULL
 * when the architecture has none. Norm and bias vectors are float32. */
typedef struct {
  const float *attn_norm;           /* (dim) input_layernorm */
  duet_matrix wq, wk, wv, wo;       /* q:(nh_local*hd, dim) k,v:(nkv_local*hd, dim) o:(dim, nh_local*hd) */
  const float *bq, *bk, *bv;        /* Qwen2 */
  const float *q_norm, *k_norm;     /* (hd) Qwen3 */
  const float *mlp_norm;            /* (dim) post_attention_layernorm */
  duet_matrix w_gate, w_up, w_down; /* gate,up:(hidden_local, dim) down:(dim, hidden_local) */
} duet_layer;

typedef struct duet_model_storage duet_model_storage; /* mmaps and owned buffers */

typedef struct {
  duet_config cfg;
  int tp_rank, tp_size;            /* which shard this is (0, 1 when whole) */
  int n_heads_local, n_kv_heads_local, hidden_local;
  duet_matrix embed;               /* (vocab, dim) */
  duet_matrix lm_head;             /* (vocab, dim); same data as embed when tied */
  const float *final_norm;         /* (dim) */
  duet_layer *layers;              /* n_layers */
  duet_model_storage *storage;
} duet_model;

/* Matrices in the stored dtype that are whole rows of a stored tensor (all
 * of them when whole, q/k/v/gate/up of a shard) point straight into the
 * safetensors mmap; conversions (to_f32), the o/down column slices of a
 * shard and any misaligned tensor are owned copies. Every data pointer is
 * aligned to its element size. */
typedef struct {
  int to_f32;          /* convert BF16/F16 weights to float32 once at load */
  int tp_rank, tp_size;/* load only this shard (tp_size 0 or 1: whole model) */
} duet_load_opts;

/* Load a Hugging Face model directory. On error returns a negative code and
 * duet_last_error() names the file/tensor and the problem. */
int duet_model_load(const char *dir, const duet_load_opts *opts, duet_model **out);
void duet_model_free(duet_model *m);

/* What duet_model_load() would refuse (config, shard counts, memory,
 * missing or misshapen tensors), found without loading anything: only the
 * config and the safetensors headers are read. For a process that starts
 * others to load the model (duetd), so a bad checkpoint is refused at
 * once with the loader's message. */
int duet_model_check(const char *dir, const duet_load_opts *opts);

/* Parse and validate config.json (also used by tools that only need the
 * shape). */
int duet_config_load(const char *config_json_path, duet_config *out);
/* 1 when tok ends a sequence: eos_id or any of eos_ids. */
int duet_config_is_eos(const duet_config *c, int tok);
/* Adds the ids of root's "eos_token_id" (an integer, a list or null) to
 * c->eos_ids, skipping repeats (the loader also reads them from
 * generation_config.json, as transformers and vLLM do); path names the
 * file in errors. */
typedef struct json_t json_t;
int duet_config_add_eos_ids(duet_config *c, const char *path, const json_t *root);
/* The same from dir/generation_config.json when there is one (it may list
 * more ids that end a sequence than config.json: Llama 3 instruct's end of
 * turn, Qwen's end of message; transformers and vLLM stop at all of them).
 * duet_model_load calls it. */
int duet_config_add_generation_eos(const char *dir, duet_config *c);

/* Check a config's values (positive sizes, heads dividing, known kinds...);
 * duet_config_load() calls it, and so does duet_config_write(). */
int duet_config_validate(const duet_config *c);

/* Write c as a Hugging Face config.json (LlamaForCausalLM,
 * Qwen2ForCausalLM or Qwen3ForCausalLM per c->arch) that transformers
 * loads, atomically (temp file, fsync, rename). duet_config_load() reads it
 * back to the same values (floats to the precision of "%.9g"). */
int duet_config_write(const char *config_json_path, const duet_config *c);

#endif
