// config.json parsing and writing, and model loading: every weight is a
// closed formula of its name and index (loader_util.h weight_value), so a
// loaded matrix -- whole, converted, or a tensor-parallel slice -- is
// checked element by element against what it must be.
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

#include "engine/dtype.h"
#include "engine/model.h"
#include "engine/safetensors.h"
#include "tests/unit/loader_util.h"

static const char *dir;

/* ------------------------------------------------------------- configs */

static int load_json(const char *json, duet_config *c) {
  char p[600];
  write_bytes(path_in(p, sizeof p, dir, "config.json"), json, strlen(json));
  return duet_config_load(p, c);
}

#define BASE "\"hidden_size\": 64, \"intermediate_size\": 96, \"num_hidden_layers\": 2, \"num_attention_heads\": 8, " \
             "\"vocab_size\": 100"
#define LLAMA "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", " BASE

static void test_config_parse(void) {
  duet_config c;
  CHECK_OK(load_json(LLAMA "}", &c));
  CHECK(!strcmp(c.arch, "llama") && c.dim == 64 && c.hidden == 96 && c.n_layers == 2 && c.n_heads == 8 &&
            c.n_kv_heads == 8 && c.head_dim == 8 && c.vocab == 100 && c.max_pos == 2048 && c.norm_eps == 1e-6f &&
            c.rope_theta == 10000.f && !c.tied && !c.qkv_bias && !c.qk_norm && c.pos == DUET_POS_ROPE_NEOX &&
            c.rope_scaling.kind == DUET_ROPE_SCALING_NONE && c.bos_id == -1 && c.eos_id == -1 && c.dtype == DUET_F32,
        "llama defaults");
  CHECK_OK(load_json(LLAMA ", \"num_key_value_heads\": 2, \"head_dim\": 16, \"rms_norm_eps\": 1e-5, \"rope_theta\": "
                           "500000.0, \"tie_word_embeddings\": true, \"max_position_embeddings\": 4096, "
                           "\"bos_token_id\": 1, \"eos_token_id\": [7, 8], \"torch_dtype\": \"bfloat16\", "
                           "\"duet_position_encoding\": \"rope_gptj\"}", &c));
  CHECK(c.n_kv_heads == 2 && c.head_dim == 16 && c.norm_eps == 1e-5f && c.rope_theta == 500000.f && c.tied &&
            c.max_pos == 4096 && c.bos_id == 1 && c.eos_id == 7 && c.dtype == DUET_BF16 && c.pos == DUET_POS_ROPE_GPTJ,
        "llama given fields");
  CHECK_OK(load_json("{\"model_type\": \"qwen2\", " BASE ", \"dtype\": \"float16\", \"duet_position_encoding\": \"sinusoidal\"}", &c));
  CHECK(!strcmp(c.arch, "qwen2") && c.qkv_bias && !c.qk_norm && c.dtype == DUET_F16 && c.pos == DUET_POS_SINUSOIDAL, "qwen2");
  CHECK_OK(load_json("{\"architectures\": [\"Qwen3ForCausalLM\"], " BASE "}", &c));
  CHECK(!strcmp(c.arch, "qwen3") && c.qk_norm && !c.qkv_bias && c.head_dim == 128, "qwen3 (head_dim defaults to 128)");
  CHECK_OK(load_json(LLAMA ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4.0}}", &c));
  CHECK(c.rope_scaling.kind == DUET_ROPE_SCALING_LINEAR && c.rope_scaling.factor == 4.f, "linear scaling");
  CHECK_OK(load_json(LLAMA ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, "
                           "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}", &c));
  CHECK(c.rope_scaling.kind == DUET_ROPE_SCALING_LLAMA3 && c.rope_scaling.factor == 8.f &&
            c.rope_scaling.low_freq_factor == 1.f && c.rope_scaling.high_freq_factor == 4.f &&
            c.rope_scaling.original_max_pos == 8192, "llama3 scaling");
  CHECK_OK(load_json(LLAMA ", \"rope_scaling\": {\"rope_type\": \"default\"}}", &c));
  CHECK(c.rope_scaling.kind == DUET_ROPE_SCALING_NONE, "default scaling");
  CHECK_OK(load_json(LLAMA ", \"rope_scaling\": null, \"eos_token_id\": null, \"bos_token_id\": []}", &c));
  /* transformers >= 5 keeps theta and the scaling in "rope_parameters" */
  CHECK_OK(load_json(LLAMA ", \"rope_parameters\": {\"rope_theta\": 500000.0, \"rope_type\": \"llama3\", \"factor\": 8.0, "
                           "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}", &c));
  CHECK(c.rope_theta == 500000.f && c.rope_scaling.kind == DUET_ROPE_SCALING_LLAMA3 && c.rope_scaling.factor == 8.f,
        "rope_parameters: theta and llama3 scaling");
  CHECK_OK(load_json(LLAMA ", \"rope_theta\": 1e6, \"rope_parameters\": {\"rope_theta\": 1e6}}", &c));
  CHECK(c.rope_theta == 1e6f && c.rope_scaling.kind == DUET_ROPE_SCALING_NONE, "rope_parameters without rope_type");
  CHECK_OK(load_json("{\"model_type\": \"qwen2\", " BASE ", \"hidden_act\": \"swish\"}", &c));
  CHECK(c.max_pos == 32768, "qwen2: swish is SiLU, max_position_embeddings defaults to 32768 (llama: 2048)");
}

/* The config.json files of two published checkpoints, as Hugging Face
 * ships them (abridged only of keys duet ignores). */
static void test_real_configs(void) {
  duet_config c;
  CHECK_OK(load_json("{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0, "
                     "\"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009], \"head_dim\": 64, "
                     "\"hidden_act\": \"silu\", \"hidden_size\": 2048, \"initializer_range\": 0.02, "
                     "\"intermediate_size\": 8192, \"max_position_embeddings\": 131072, \"mlp_bias\": false, "
                     "\"model_type\": \"llama\", \"num_attention_heads\": 32, \"num_hidden_layers\": 16, "
                     "\"num_key_value_heads\": 8, \"pretraining_tp\": 1, \"rms_norm_eps\": 1e-05, \"rope_scaling\": "
                     "{\"factor\": 32.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0, "
                     "\"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}, \"rope_theta\": 500000.0, "
                     "\"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.45.0.dev0\", "
                     "\"use_cache\": true, \"vocab_size\": 128256}", &c));
  CHECK(c.dim == 2048 && c.head_dim == 64 && c.n_kv_heads == 8 && c.tied && c.eos_id == 128001 &&
            c.rope_scaling.kind == DUET_ROPE_SCALING_LLAMA3 && c.rope_scaling.factor == 32.f &&
            c.rope_scaling.original_max_pos == 8192 && c.max_pos == 131072 && c.dtype == DUET_BF16, "Llama 3.2 1B");
  CHECK_OK(load_json("{\"architectures\": [\"Qwen3ForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0, "
                     "\"bos_token_id\": 151643, \"eos_token_id\": 151645, \"head_dim\": 128, \"hidden_act\": \"silu\", "
                     "\"hidden_size\": 1024, \"initializer_range\": 0.02, \"intermediate_size\": 3072, "
                     "\"max_position_embeddings\": 40960, \"max_window_layers\": 28, \"model_type\": \"qwen3\", "
                     "\"num_attention_heads\": 16, \"num_hidden_layers\": 28, \"num_key_value_heads\": 8, "
                     "\"rms_norm_eps\": 1e-06, \"rope_scaling\": null, \"rope_theta\": 1000000, \"sliding_window\": null, "
                     "\"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\", \"use_cache\": true, "
                     "\"use_sliding_window\": false, \"vocab_size\": 151936}", &c));
  CHECK(c.qk_norm && c.head_dim == 128 && c.n_heads * c.head_dim == 2048 && c.dim == 1024 && c.rope_theta == 1e6f &&
            c.eos_id == 151645, "Qwen3 0.6B");
}

static void test_config_refusals(void) {
  duet_config c;
  CHECK_ERR(load_json("{\"architectures\": [\"MistralForCausalLM\"], " BASE "}", &c), DUET_EUNSUPPORTED, "MistralForCausalLM");
  CHECK_ERR(load_json("{\"model_type\": \"gemma\", " BASE "}", &c), DUET_EUNSUPPORTED, "'gemma'");
  CHECK_ERR(load_json("{\"model_type\": \"qwen2\", \"architectures\": [\"LlamaForCausalLM\"], " BASE "}", &c),
            DUET_EFORMAT, "contradicts");
  CHECK_ERR(load_json("{" BASE "}", &c), DUET_EFORMAT, "model_type");
  CHECK_ERR(load_json(LLAMA ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}", &c), DUET_EUNSUPPORTED, "'yarn'");
  CHECK_ERR(load_json(LLAMA ", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 4.0}}", &c), DUET_EUNSUPPORTED, "'dynamic'");
  CHECK_ERR(load_json(LLAMA ", \"rope_scaling\": {\"factor\": 4.0}}", &c), DUET_EFORMAT, "rope_type");
  CHECK_ERR(load_json(LLAMA ", \"rope_scaling\": {\"type\": \"linear\"}}", &c), DUET_EFORMAT, "factor");
  CHECK_ERR(load_json(LLAMA ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": -2}}", &c), DUET_ERANGE, "factor");
  CHECK_ERR(load_json(LLAMA ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4.0, "
                            "\"high_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192}}", &c),
            DUET_ERANGE, "low_freq_factor");
  CHECK_ERR(load_json(LLAMA ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, "
                            "\"high_freq_factor\": 4.0}}", &c), DUET_EFORMAT, "original_max_position_embeddings");
  CHECK_ERR(load_json(LLAMA ", \"duet_position_encoding\": \"alibi\"}", &c), DUET_EUNSUPPORTED, "'alibi'", "rope_neox");
  CHECK_ERR(load_json(LLAMA ", \"torch_dtype\": \"float64\"}", &c), DUET_EUNSUPPORTED, "torch_dtype", "float64");
  CHECK_ERR(load_json(LLAMA ", \"hidden_act\": \"gelu\"}", &c), DUET_EUNSUPPORTED, "gelu");
  CHECK_ERR(load_json(LLAMA ", \"rope_theta\": 10000, \"rope_parameters\": {\"rope_theta\": 500000}}", &c), DUET_EFORMAT,
            "contradicts");
  CHECK_ERR(load_json(LLAMA ", \"rope_parameters\": {\"rope_theta\": 1e4, \"rope_type\": \"yarn\", \"factor\": 4}}", &c),
            DUET_EUNSUPPORTED, "'yarn'");
  CHECK_ERR(load_json(LLAMA ", \"attention_bias\": true}", &c), DUET_EUNSUPPORTED, "attention_bias");
  CHECK_ERR(load_json(LLAMA ", \"mlp_bias\": true}", &c), DUET_EUNSUPPORTED, "mlp_bias");
  CHECK_ERR(load_json("{\"model_type\": \"qwen2\", " BASE ", \"use_sliding_window\": true}", &c), DUET_EUNSUPPORTED,
            "use_sliding_window");
  CHECK_ERR(load_json(LLAMA ", \"num_key_value_heads\": 3}", &c), DUET_EINVAL, "num_key_value_heads 3");
  CHECK_ERR(load_json(LLAMA ", \"num_key_value_heads\": 0}", &c), DUET_ERANGE, "num_key_value_heads");
  CHECK_ERR(load_json(LLAMA ", \"head_dim\": 7}", &c), DUET_EINVAL, "head_dim 7");
  CHECK_ERR(load_json(LLAMA ", \"rms_norm_eps\": 0}", &c), DUET_ERANGE, "rms_norm_eps");
  CHECK_ERR(load_json(LLAMA ", \"rope_theta\": \"big\"}", &c), DUET_EFORMAT, "rope_theta");
  CHECK_ERR(load_json(LLAMA ", \"eos_token_id\": 100}", &c), DUET_ERANGE, "eos_token_id");
  CHECK_ERR(load_json(LLAMA ", \"tie_word_embeddings\": 1}", &c), DUET_EFORMAT, "tie_word_embeddings");
  CHECK_ERR(load_json(LLAMA ", \"head_dim\": 99999999999}", &c), DUET_ERANGE, "head_dim");
  /* refused with the config, not first when a workspace is made */
  CHECK_ERR(load_json(LLAMA ", \"head_dim\": 4098}", &c), DUET_EUNSUPPORTED, "wider than RoPE supports (4096)");
  CHECK_OK(load_json(LLAMA ", \"head_dim\": 4096}", &c));
  CHECK_ERR(load_json(LLAMA ", \"hidden_size\": 2.5}", &c), DUET_EFORMAT, "hidden_size");
  CHECK_ERR(load_json("{\"model_type\": \"llama\", \"hidden_size\": 60, \"intermediate_size\": 96, "
                      "\"num_hidden_layers\": 2, \"num_attention_heads\": 8, \"vocab_size\": 100}", &c),
            DUET_EFORMAT, "not a multiple");
  CHECK_ERR(load_json("{\"model_type\": \"llama\", \"hidden_size\": 64}", &c), DUET_EFORMAT, "intermediate_size");
  CHECK_ERR(load_json(LLAMA, &c), DUET_EFORMAT, "not valid JSON");
  CHECK_ERR(load_json("[]", &c), DUET_EFORMAT, "not a JSON object");
  CHECK_ERR(duet_config_load("/nonexistent/config.json", &c), DUET_ENOENT, "/nonexistent/config.json");
  char p[600];
  path_in(p, sizeof p, dir, "fifo.json");
  CHECK(mkfifo(p, 0600) == 0, "mkfifo");
  CHECK_ERR(duet_config_load(p, &c), DUET_EIO, "fifo.json", "not a regular file"); /* and does not block */
  unlink(p);
  CHECK_ERR(duet_config_load(dir, &c), DUET_EIO, "not a regular file");
}

static void test_config_write(void) {
  const char *archs[] = {"llama", "qwen2", "qwen3"};
  char p[600];
  path_in(p, sizeof p, dir, "written.json");
  for (int a = 0; a < 3; a++) {
    duet_config c = {.dim = 48, .hidden = 80, .n_layers = 3, .n_heads = 6, .n_kv_heads = 2, .head_dim = 12,
                     .vocab = 300, .max_pos = 512, .norm_eps = 1e-5f, .rope_theta = 10000.f, .tied = a == 1,
                     .qkv_bias = a == 1, .qk_norm = a == 2, .pos = (duet_pos_kind)a, .bos_id = 1, .eos_id = a ? 2 : -1,
                     .dtype = (duet_dtype)a};
    snprintf(c.arch, sizeof c.arch, "%s", archs[a]);
    if (a) c.n_eos = a, c.eos_ids[0] = 2;
    if (a == 2) c.eos_ids[1] = 7; /* qwen3: a list of two */
    if (a == 1) c.rope_scaling.kind = DUET_ROPE_SCALING_LINEAR, c.rope_scaling.factor = 2.5f;
    if (a == 2) {
      c.rope_scaling.kind = DUET_ROPE_SCALING_LLAMA3, c.rope_scaling.factor = 8.f;
      c.rope_scaling.low_freq_factor = 1.f, c.rope_scaling.high_freq_factor = 4.f;
      c.rope_scaling.original_max_pos = 8192;
    }
    CHECK_OK(duet_config_write(p, &c));
    duet_config r;
    CHECK_OK(duet_config_load(p, &r));
    CHECK(!memcmp(&c, &r, sizeof c), "%s config reads back identical", archs[a]);
  }
  FILE *f = fopen(p, "r");
  char text[4096] = "";
  if (f) text[fread(text, 1, sizeof text - 1, f)] = 0, fclose(f);
  CHECK(strstr(text, "\"rms_norm_eps\": 1e-5") && strstr(text, "\"Qwen3ForCausalLM\"") &&
            strstr(text, "\"rope_type\": \"llama3\"") && strstr(text, "\"torch_dtype\": \"float16\""),
        "written JSON reads like Hugging Face's:\n%s", text);
  duet_config bad = {0};
  CHECK_ERR(duet_config_write(p, &bad), DUET_EUNSUPPORTED, "model_type");
}

/* --------------------------------------------------- synthetic models */

typedef struct {
  char name[96];
  int rows, cols; /* cols 0: a vector */
} spec;

/* Every tensor a checkpoint of config c holds, as Hugging Face names it. */
static int model_specs(const duet_config *c, spec *out) {
  int n = 0, hd = c->head_dim, q = c->n_heads * hd, kv = c->n_kv_heads * hd;
#define ADD(r, cc, ...) (snprintf(out[n].name, sizeof out[n].name, __VA_ARGS__), out[n].rows = (r), out[n].cols = (cc), n++)
  ADD(c->vocab, c->dim, "model.embed_tokens.weight");
  if (!c->tied) ADD(c->vocab, c->dim, "lm_head.weight");
  ADD(c->dim, 0, "model.norm.weight");
  for (int i = 0; i < c->n_layers; i++) {
    ADD(q, c->dim, "model.layers.%d.self_attn.q_proj.weight", i);
    ADD(kv, c->dim, "model.layers.%d.self_attn.k_proj.weight", i);
    ADD(kv, c->dim, "model.layers.%d.self_attn.v_proj.weight", i);
    ADD(c->dim, q, "model.layers.%d.self_attn.o_proj.weight", i);
    if (c->qkv_bias) {
      ADD(q, 0, "model.layers.%d.self_attn.q_proj.bias", i);
      ADD(kv, 0, "model.layers.%d.self_attn.k_proj.bias", i);
      ADD(kv, 0, "model.layers.%d.self_attn.v_proj.bias", i);
    }
    if (c->qk_norm) {
      ADD(hd, 0, "model.layers.%d.self_attn.q_norm.weight", i);
      ADD(hd, 0, "model.layers.%d.self_attn.k_norm.weight", i);
    }
    ADD(c->hidden, c->dim, "model.layers.%d.mlp.gate_proj.weight", i);
    ADD(c->hidden, c->dim, "model.layers.%d.mlp.up_proj.weight", i);
    ADD(c->dim, c->hidden, "model.layers.%d.mlp.down_proj.weight", i);
    ADD(c->dim, 0, "model.layers.%d.input_layernorm.weight", i);
    ADD(c->dim, 0, "model.layers.%d.post_attention_layernorm.weight", i);
  }
#undef ADD
  return n;
}

/* Writes config + model.safetensors for c into dir. skip: a tensor to leave
 * out; bad_shape: a tensor written one row short. */
static int make_model(const char *d, const duet_config *c, const char *skip, const char *bad_shape) {
  spec *sp = calloc(16 + 16 * (size_t)c->n_layers, sizeof *sp);
  int n = model_specs(c, sp), m = 0;
  duet_st_tensor *ts = calloc((size_t)n, sizeof *ts);
  for (int k = 0; k < n; k++) {
    if (skip && !strcmp(sp[k].name, skip)) continue;
    int rows = sp[k].rows - (bad_shape && !strcmp(sp[k].name, bad_shape));
    long count = (long)rows * (sp[k].cols ? sp[k].cols : 1);
    float *v = malloc((size_t)count * 4);
    for (long i = 0; i < count; i++) v[i] = weight_value(sp[k].name, i);
    void *data = malloc((size_t)count * duet_dtype_size(c->dtype));
    duet_from_f32(c->dtype, v, data, (size_t)count);
    free(v);
    ts[m++] = (duet_st_tensor){.name = sp[k].name, .dtype = c->dtype, .ndim = sp[k].cols ? 2 : 1,
                               .shape = {rows, sp[k].cols}, .data = data};
  }
  char p[600];
  int rc = duet_config_write(path_in(p, sizeof p, d, "config.json"), c);
  if (rc == DUET_OK) rc = duet_safetensors_write(path_in(p, sizeof p, d, "model.safetensors"), ts, m, NULL);
  for (int k = 0; k < m; k++) free((void *)ts[k].data);
  free(ts);
  free(sp);
  return rc;
}

static duet_config tiny(const char *arch, int n_heads, int n_kv, duet_dtype dt, int tied) {
  duet_config c = {.dim = 16, .hidden = 24, .n_layers = 2, .n_heads = n_heads, .n_kv_heads = n_kv, .head_dim = 4,
                   .vocab = 40, .max_pos = 64, .norm_eps = 1e-6f, .rope_theta = 10000.f, .tied = tied,
                   .qkv_bias = !strcmp(arch, "qwen2"), .qk_norm = !strcmp(arch, "qwen3"), .bos_id = -1, .eos_id = -1,
                   .dtype = dt};
  snprintf(c.arch, sizeof c.arch, "%s", arch);
  return c;
}

/* Element (r, c) of a loaded matrix is element (row0+r, col0+c) of the
 * checkpoint tensor `name` whose rows have full_cols entries. */
static int matrix_is(const duet_matrix *m, const char *name, int full_cols, int row0, int col0) {
  size_t es = duet_dtype_size(m->dtype);
  if (!m->data || (uintptr_t)m->data % es) return 0;
  float *row = malloc((size_t)m->cols * 4);
  int bad = 0;
  for (int r = 0; r < m->rows; r++) {
    duet_to_f32(m->dtype, (const char *)m->data + (size_t)r * m->cols * es, row, (size_t)m->cols);
    for (int c = 0; c < m->cols; c++) bad += row[c] != weight_value(name, (long)(row0 + r) * full_cols + col0 + c);
  }
  free(row);
  return bad == 0;
}

static int vector_is(const float *v, int n, const char *name, int off) {
  if (!v) return 0;
  for (int i = 0; i < n; i++)
    if (v[i] != weight_value(name, off + i)) return 0;
  return 1;
}

/* Every tensor of m (whole or one shard) holds the formula's values. */
static void check_model_values(const duet_model *m, const char *what) {
  const duet_config *c = &m->cfg;
  const int hd = c->head_dim, q_all = c->n_heads * hd, nq = m->n_heads_local * hd, nk = m->n_kv_heads_local * hd;
  const int q0 = m->tp_rank * nq, k0 = m->tp_rank * nk, nh = m->hidden_local, h0 = m->tp_rank * nh;
  int ok = matrix_is(&m->embed, "model.embed_tokens.weight", c->dim, 0, 0) &&
           matrix_is(&m->lm_head, c->tied ? "model.embed_tokens.weight" : "lm_head.weight", c->dim, 0, 0) &&
           vector_is(m->final_norm, c->dim, "model.norm.weight", 0);
  char n[128];
#define N(s) (snprintf(n, sizeof n, "model.layers.%d.%s", i, s), n)
  for (int i = 0; i < c->n_layers && ok; i++) {
    const duet_layer *L = &m->layers[i];
    ok = matrix_is(&L->wq, N("self_attn.q_proj.weight"), c->dim, q0, 0) && L->wq.rows == nq &&
         matrix_is(&L->wk, N("self_attn.k_proj.weight"), c->dim, k0, 0) && L->wk.rows == nk &&
         matrix_is(&L->wv, N("self_attn.v_proj.weight"), c->dim, k0, 0) && L->wv.rows == nk &&
         matrix_is(&L->wo, N("self_attn.o_proj.weight"), q_all, 0, q0) && L->wo.cols == nq && L->wo.rows == c->dim &&
         matrix_is(&L->w_gate, N("mlp.gate_proj.weight"), c->dim, h0, 0) && L->w_gate.rows == nh &&
         matrix_is(&L->w_up, N("mlp.up_proj.weight"), c->dim, h0, 0) && L->w_up.rows == nh &&
         matrix_is(&L->w_down, N("mlp.down_proj.weight"), c->hidden, 0, h0) && L->w_down.cols == nh &&
         vector_is(L->attn_norm, c->dim, N("input_layernorm.weight"), 0) &&
         vector_is(L->mlp_norm, c->dim, N("post_attention_layernorm.weight"), 0);
    if (c->qkv_bias)
      ok = ok && vector_is(L->bq, nq, N("self_attn.q_proj.bias"), q0) &&
           vector_is(L->bk, nk, N("self_attn.k_proj.bias"), k0) && vector_is(L->bv, nk, N("self_attn.v_proj.bias"), k0);
    else ok = ok && !L->bq && !L->bk && !L->bv;
    if (c->qk_norm)
      ok = ok && vector_is(L->q_norm, hd, N("self_attn.q_norm.weight"), 0) &&
           vector_is(L->k_norm, hd, N("self_attn.k_norm.weight"), 0);
    else ok = ok && !L->q_norm && !L->k_norm;
  }
#undef N
  CHECK(ok, "%s: loaded values", what);
}

/* Whether p lies in a mapping of a file whose name ends in suffix (from
 * /proc/self/maps): tells a view into the safetensors mmap from a copy. */
static int in_mapped_file(const void *p, const char *suffix) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[1024];
  int found = 0;
  while (f && !found && fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char path[512] = "";
    if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %511s", &lo, &hi, path) < 2) continue;
    size_t n = strlen(path), k = strlen(suffix);
    found = (uintptr_t)p >= lo && (uintptr_t)p < hi && n >= k && !strcmp(path + n - k, suffix);
  }
  if (f) fclose(f);
  return found;
}

static void test_load_variants(void) {
  const char *archs[] = {"llama", "qwen2", "qwen3"};
  for (int a = 0; a < 3; a++)
    for (int dt = 0; dt < 3; dt++) {
      int heads = dt == 2 ? 8 : 4, kv = dt == 2 ? 4 : 2; /* F16 models also try 4-way TP */
      duet_config c = tiny(archs[a], heads, kv, (duet_dtype)dt, (a + dt) % 2);
      CHECK_OK(make_model(dir, &c, NULL, NULL));
      for (int T = 1; T <= kv; T *= 2)
        for (int r = 0; r < T; r++)
          for (int f32 = 0; f32 < 2; f32++) {
            duet_load_opts o = {.to_f32 = f32, .tp_rank = r, .tp_size = T};
            duet_model *m = NULL;
            char what[96];
            snprintf(what, sizeof what, "%s %s%s tp %d/%d%s", archs[a], duet_dtype_name((duet_dtype)dt),
                     c.tied ? " tied" : "", r, T, f32 ? " to_f32" : "");
            CHECK_OK(duet_model_load(dir, &o, &m));
            if (!m) continue;
            duet_dtype want = f32 ? DUET_F32 : (duet_dtype)dt;
            CHECK(m->embed.dtype == want && m->layers[1].wo.dtype == want && m->layers[0].w_up.dtype == want,
                  "%s: dtype kept or converted", what);
            CHECK(m->tp_rank == r && m->tp_size == T && m->n_heads_local == heads / T && m->n_kv_heads_local == kv / T &&
                      m->hidden_local == c.hidden / T, "%s: local sizes", what);
            CHECK(!memcmp(&m->cfg, &c, sizeof c), "%s: config as written", what);
            CHECK(!c.tied || m->lm_head.data == m->embed.data, "%s: tied lm_head shares the embedding", what);
            /* row slices in the stored dtype are views; column slices and conversions are copies */
            int view = !f32 || dt == DUET_F32;
            CHECK(in_mapped_file(m->layers[0].wq.data, "/model.safetensors") == view &&
                      in_mapped_file(m->layers[1].w_gate.data, "/model.safetensors") == view &&
                      in_mapped_file(m->layers[0].wo.data, "/model.safetensors") == (view && T == 1) &&
                      !in_mapped_file(m->layers[0].attn_norm, "/model.safetensors"),
                  "%s: views into the mmap where possible", what);
            check_model_values(m, what);
            duet_model_free(m);
          }
    }
  duet_model *m = NULL;
  CHECK_OK(duet_model_load(dir, NULL, &m)); /* NULL options: whole, as stored */
  CHECK(m && m->tp_size == 1 && m->embed.dtype == DUET_F16, "default options");
  duet_model_free(m);
}

static int bytes_equal(const duet_matrix *a, const duet_matrix *b, int a_row0, int a_col0) {
  size_t es = duet_dtype_size(a->dtype);
  for (int r = 0; r < b->rows; r++)
    if (memcmp((const char *)a->data + ((size_t)(a_row0 + r) * a->cols + a_col0) * es,
               (const char *)b->data + (size_t)r * b->cols * es, (size_t)b->cols * es))
      return 0;
  return 1;
}

/* A shard is exactly the corresponding slice of the whole model. */
static void test_shard_equals_slice_of_whole(void) {
  duet_config c = tiny("qwen2", 8, 4, DUET_BF16, 0);
  CHECK_OK(make_model(dir, &c, NULL, NULL));
  duet_model *whole = NULL;
  CHECK_OK(duet_model_load(dir, NULL, &whole));
  if (!whole) return;
  for (int r = 0; r < 4; r++) {
    duet_load_opts o = {.tp_rank = r, .tp_size = 4};
    duet_model *s = NULL;
    CHECK_OK(duet_model_load(dir, &o, &s));
    if (!s) continue;
    int ok = 1;
    for (int i = 0; i < c.n_layers; i++) {
      const duet_layer *W = &whole->layers[i], *S = &s->layers[i];
      int qh = S->wq.rows, kh = S->wk.rows, h = S->w_up.rows;
      ok = ok && bytes_equal(&W->wq, &S->wq, r * qh, 0) && bytes_equal(&W->wk, &S->wk, r * kh, 0) &&
           bytes_equal(&W->wv, &S->wv, r * kh, 0) && bytes_equal(&W->wo, &S->wo, 0, r * qh) &&
           bytes_equal(&W->w_gate, &S->w_gate, r * h, 0) && bytes_equal(&W->w_up, &S->w_up, r * h, 0) &&
           bytes_equal(&W->w_down, &S->w_down, 0, r * h) && !memcmp(W->bq + r * qh, S->bq, (size_t)qh * 4) &&
           !memcmp(W->bk + r * kh, S->bk, (size_t)kh * 4) && !memcmp(W->attn_norm, S->attn_norm, (size_t)c.dim * 4);
    }
    CHECK(ok, "shard %d/4 equals its slice of the whole model", r);
    duet_model_free(s);
  }
  duet_model_free(whole);
}

static void test_load_refusals(void) {
  duet_config c = tiny("llama", 4, 2, DUET_F32, 0);
  duet_model *m = NULL;
  CHECK_OK(make_model(dir, &c, "model.layers.1.mlp.up_proj.weight", NULL));
  CHECK_ERR(duet_model_load(dir, NULL, &m), DUET_ENOENT, "'model.layers.1.mlp.up_proj.weight'", "missing");
  CHECK_OK(make_model(dir, &c, "lm_head.weight", NULL));
  CHECK_ERR(duet_model_load(dir, NULL, &m), DUET_ENOENT, "'lm_head.weight'");
  CHECK_OK(make_model(dir, &c, NULL, "model.layers.0.self_attn.k_proj.weight"));
  CHECK_ERR(duet_model_load(dir, NULL, &m), DUET_EFORMAT, "'model.layers.0.self_attn.k_proj.weight'", "[7, 16]",
            "[8, 16]");
  CHECK_OK(make_model(dir, &c, NULL, "model.layers.1.post_attention_layernorm.weight"));
  CHECK_ERR(duet_model_load(dir, NULL, &m), DUET_EFORMAT, "post_attention_layernorm", "[15]", "[16]");
  CHECK_OK(make_model(dir, &c, NULL, NULL));
  duet_load_opts o = {.tp_rank = 0, .tp_size = 4};
  CHECK_ERR(duet_model_load(dir, &o, &m), DUET_EINVAL, "4", "num_key_value_heads 2");
  o.tp_size = 2, o.tp_rank = 2;
  CHECK_ERR(duet_model_load(dir, &o, &m), DUET_EINVAL, "rank 2 of 2");
  o.tp_rank = -1;
  CHECK_ERR(duet_model_load(dir, &o, &m), DUET_EINVAL, "rank -1");
  c.hidden = 25;
  CHECK_OK(make_model(dir, &c, NULL, NULL));
  o.tp_rank = 0;
  CHECK_ERR(duet_model_load(dir, &o, &m), DUET_EINVAL, "intermediate_size 25");
  char p[600];
  unlink(path_in(p, sizeof p, dir, "model.safetensors"));
  CHECK_ERR(duet_model_load(dir, NULL, &m), DUET_ENOENT, "model.safetensors");
  /* a config far beyond this machine is refused before anything is allocated */
  duet_config huge = tiny("llama", 1024, 1024, DUET_BF16, 0);
  huge.dim = 1 << 20, huge.hidden = 1 << 20, huge.n_layers = 4096, huge.head_dim = 1024, huge.vocab = 1 << 24;
  CHECK_OK(duet_config_write(path_in(p, sizeof p, dir, "config.json"), &huge));
  duet_load_opts f32 = {.to_f32 = 1};
  CHECK_ERR(duet_model_load(dir, &f32, &m), DUET_ENOMEM, "GiB");
  CHECK_ERR(duet_model_load(dir, NULL, &m), DUET_ENOMEM, "GiB");
  CHECK(m == NULL, "no model handed out on failure");
  unlink(path_in(p, sizeof p, dir, "config.json"));
  CHECK_ERR(duet_model_load(dir, NULL, &m), DUET_ENOENT, "config.json");
}

/* generation_config.json's eos_token_id joins config.json's (Llama 3
 * instruct ends turns with an id only it lists); a bad one is refused. */
static void test_generation_config_eos(void) {
  duet_config c = tiny("llama", 4, 2, DUET_F32, 0);
  c.eos_id = 2, c.n_eos = 1, c.eos_ids[0] = 2;
  CHECK_OK(make_model(dir, &c, NULL, NULL));
  char p[600];
  path_in(p, sizeof p, dir, "generation_config.json");
  const char *gen = "{\"bos_token_id\": 1, \"eos_token_id\": [2, 39, 7, 39], \"do_sample\": true}";
  write_bytes(p, gen, strlen(gen));
  duet_model *m = NULL;
  CHECK_OK(duet_model_load(dir, NULL, &m));
  CHECK(m && m->cfg.n_eos == 3 && m->cfg.eos_id == 2 && m->cfg.eos_ids[1] == 39 && m->cfg.eos_ids[2] == 7,
        "eos ids 2, 39, 7 (repeats skipped)");
  CHECK(m && duet_config_is_eos(&m->cfg, 7) && !duet_config_is_eos(&m->cfg, 1), "is_eos");
  duet_model_free(m);
  const char *bad[] = {"{\"eos_token_id\": 40}", "{\"eos_token_id\": \"x\"}", "[1]", "{\"eos_token_id\": [1,"};
  const char *want[] = {"outside the vocabulary", "not an integer", "not a JSON object", "generation_config.json"};
  for (int i = 0; i < 4; i++) {
    write_bytes(p, bad[i], strlen(bad[i]));
    CHECK_ERR(duet_model_load(dir, NULL, &m), i == 0 ? DUET_ERANGE : DUET_EFORMAT, want[i], "generation_config.json");
  }
  unlink(p);
}

/* A checkpoint whose data does not start aligned (a header padded to an
 * odd length): the loader must copy rather than hand out misaligned
 * pointers (matrix_is checks the alignment; UBSan would catch reads). */
static void test_misaligned_checkpoint(void) {
  duet_config c = tiny("qwen3", 4, 2, DUET_F32, 1);
  CHECK_OK(make_model(dir, &c, NULL, NULL));
  char p[600];
  FILE *f = fopen(path_in(p, sizeof p, dir, "model.safetensors"), "rb");
  if (!f) return;
  fseek(f, 0, SEEK_END);
  size_t n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(n + 1);
  size_t got = fread(b, 1, n, f);
  fclose(f);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
  memmove(b + 8 + hl + 1, b + 8 + hl, n - 8 - hl);
  b[8 + hl] = ' '; /* JSON allows trailing whitespace */
  hl++;
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hl >> (8 * i));
  CHECK(got == n && write_bytes(p, b, n + 1) == 0, "rewrite");
  free(b);
  duet_model *m = NULL;
  CHECK_OK(duet_model_load(dir, NULL, &m));
  if (m) check_model_values(m, "misaligned F32");
  duet_model_free(m);
}

/* The committed checkpoint written by Python: sharded, BF16, Qwen2. */
static void test_python_fixture(void) {
  for (int T = 1; T <= 2; T++)
    for (int r = 0; r < T; r++) {
      duet_load_opts o = {.tp_rank = r, .tp_size = T, .to_f32 = r};
      duet_model *m = NULL;
      CHECK_OK(duet_model_load("fixtures/loader/tiny_qwen2", &o, &m));
      if (!m) continue;
      CHECK(!strcmp(m->cfg.arch, "qwen2") && m->cfg.bos_id == 1 && m->cfg.eos_id == 2 && m->cfg.dtype == DUET_BF16 &&
                m->cfg.rope_theta == 1e6f && m->cfg.head_dim == 4, "fixture config");
      char what[64];
      snprintf(what, sizeof what, "python tiny_qwen2 tp %d/%d", r, T);
      check_model_values(m, what);
      duet_model_free(m);
    }
}

int main(void) {
  dir = scratch_make("model");
  test_config_parse();
  test_real_configs();
  test_config_refusals();
  test_config_write();
  test_load_variants();
  test_shard_equals_slice_of_whole();
  test_load_refusals();
  test_generation_config_eos();
  test_misaligned_checkpoint();
  test_python_fixture();
  scratch_remove();
  return finish();
}
