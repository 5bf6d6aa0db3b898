/* config.json <-> duet_config: the Hugging Face keys of LlamaForCausalLM,
 * Qwen2ForCausalLM and Qwen3ForCausalLM, plus duet's own
 * "duet_position_encoding". Anything duet cannot run faithfully (another
 * architecture, a rope_scaling type, biases on o_proj, sliding windows) is
 * refused by name rather than silently computed differently. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/json_file.h"
#include "engine/model.h"
#include "engine/ops/rope.h"

static const struct {
  const char *model_type, *class_name;
} ARCHS[] = {{"llama", "LlamaForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}, {"qwen3", "Qwen3ForCausalLM"}};
#define N_ARCHS (int)(sizeof ARCHS / sizeof ARCHS[0])

static const char *POS_NAMES[] = {"rope_neox", "rope_gptj", "sinusoidal"};
static const char *DTYPE_NAMES[] = {"float32", "bfloat16", "float16"};

/* Sizes beyond these are not a model this engine could hold; refusing them
 * here keeps every later product of two of them inside int64. */
#define MAX_DIM (1 << 20)
#define MAX_VOCAB (1 << 24)
#define MAX_LAYERS 4096
#define MAX_POS (1 << 30)

static int arch_index(const char *model_type) {
  for (int i = 0; i < N_ARCHS; i++)
    if (!strcmp(model_type, ARCHS[i].model_type)) return i;
  return -1;
}

/* ------------------------------------------------------------- parsing */

typedef struct {
  const char *path;
  json_t *root;
} reader;

/* An integer key: required (def ignored) or optional with default def. */
static int get_int(reader *r, const char *key, int required, long long def, long long lo, long long hi, int *out) {
  json_t *v = json_object_get(r->root, key);
  if (!v || json_is_null(v)) {
    if (required) return duet_error(DUET_EFORMAT, "%s: \"%s\" missing", r->path, key);
    *out = (int)def;
    return DUET_OK;
  }
  if (!json_is_integer(v)) return duet_error(DUET_EFORMAT, "%s: \"%s\" is not an integer", r->path, key);
  long long x = json_integer_value(v);
  if (x < lo || x > hi) return duet_error(DUET_ERANGE, "%s: \"%s\" = %lld out of range [%lld, %lld]", r->path, key, x, lo, hi);
  *out = (int)x;
  return DUET_OK;
}

static int get_num(reader *r, json_t *obj, const char *key, int required, double def, float *out) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) {
    if (required) return duet_error(DUET_EFORMAT, "%s: \"%s\" missing", r->path, key);
    *out = (float)def;
    return DUET_OK;
  }
  if (!json_is_number(v)) return duet_error(DUET_EFORMAT, "%s: \"%s\" is not a number", r->path, key);
  double x = json_number_value(v);
  if (!isfinite(x) || !isfinite((float)x) || x <= 0)
    return duet_error(DUET_ERANGE, "%s: \"%s\" = %g must be positive and finite", r->path, key, x);
  *out = (float)x;
  return DUET_OK;
}

static int get_bool(reader *r, const char *key, int def, int *out) {
  json_t *v = json_object_get(r->root, key);
  if (!v || json_is_null(v)) *out = def;
  else if (json_is_boolean(v)) *out = json_is_true(v);
  else return duet_error(DUET_EFORMAT, "%s: \"%s\" is not true or false", r->path, key);
  return DUET_OK;
}

static int check_token_id(const char *path, const char *key, json_t *x, int vocab, int *id) {
  if (!json_is_integer(x)) return duet_error(DUET_EFORMAT, "%s: \"%s\" is not an integer or a list of them", path, key);
  long long v = json_integer_value(x);
  if (v < 0 || v >= vocab)
    return duet_error(DUET_ERANGE, "%s: \"%s\" = %lld outside the vocabulary [0, %d)", path, key, v, vocab);
  *id = (int)v;
  return DUET_OK;
}

/* bos_token_id: an integer, a list of them (the first is taken) or null. */
static int get_token_id(reader *r, const char *key, int vocab, int *out) {
  json_t *v = json_object_get(r->root, key);
  if (json_is_array(v)) v = json_array_get(v, 0);
  *out = -1;
  return !v || json_is_null(v) ? DUET_OK : check_token_id(r->path, key, v, vocab, out);
}

int duet_config_is_eos(const duet_config *c, int tok) {
  for (int i = 0; i < c->n_eos; i++)
    if (tok == c->eos_ids[i]) return 1;
  return tok >= 0 && tok == c->eos_id;
}

int duet_config_add_eos_ids(duet_config *c, const char *path, const json_t *root) {
  json_t *v = json_object_get(root, "eos_token_id");
  size_t len = json_is_array(v) ? json_array_size(v) : v && !json_is_null(v);
  for (size_t i = 0; i < len; i++) {
    json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
    int id = -1, seen = 0, rc = check_token_id(path, "eos_token_id", x, c->vocab, &id);
    if (rc < 0) return rc;
    for (int k = 0; k < c->n_eos; k++) seen |= c->eos_ids[k] == id;
    if (seen) continue;
    if (c->n_eos == DUET_MAX_EOS_IDS) return duet_error(DUET_ERANGE, "%s: more than %d eos ids", path, DUET_MAX_EOS_IDS);
    c->eos_ids[c->n_eos++] = id;
  }
  c->eos_id = c->n_eos ? c->eos_ids[0] : -1;
  return DUET_OK;
}

static int parse_arch(reader *r, duet_config *c) {
  const char *mt = json_string_value(json_object_get(r->root, "model_type"));
  json_t *archs = json_object_get(r->root, "architectures");
  const char *cls = json_string_value(json_array_get(archs, 0));
  if (archs && !json_is_null(archs) && (!json_is_array(archs) || json_array_size(archs) != 1 || !cls))
    return duet_error(DUET_EFORMAT, "%s: \"architectures\" must be a list of one class name", r->path);
  int a = -1;
  if (cls) {
    for (int i = 0; i < N_ARCHS; i++)
      if (!strcmp(cls, ARCHS[i].class_name)) a = i;
    if (a < 0)
      return duet_error(DUET_EUNSUPPORTED,
                        "%s: architecture '%.64s' is not supported (LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)",
                        r->path, cls);
  }
  if (mt) {
    int m = arch_index(mt);
    if (m < 0)
      return duet_error(DUET_EUNSUPPORTED, "%s: model_type '%.64s' is not supported (llama, qwen2, qwen3)", r->path, mt);
    if (a >= 0 && a != m)
      return duet_error(DUET_EFORMAT, "%s: model_type '%s' contradicts architectures '%s'", r->path, mt, cls);
    a = m;
  }
  if (a < 0) return duet_error(DUET_EFORMAT, "%s: neither \"model_type\" nor \"architectures\" given", r->path);
  snprintf(c->arch, sizeof c->arch, "%s", ARCHS[a].model_type);
  c->qkv_bias = !strcmp(c->arch, "qwen2");
  c->qk_norm = !strcmp(c->arch, "qwen3");
  return DUET_OK;
}

/* Variations of these architectures that change the computation. */
static int parse_refusals(reader *r) {
  const char *act = json_string_value(json_object_get(r->root, "hidden_act"));
  if (act && strcmp(act, "silu") && strcmp(act, "swish")) /* transformers' ACT2FN: "swish" is SiLU too */
    return duet_error(DUET_EUNSUPPORTED, "%s: hidden_act '%.32s' is not supported (silu only)", r->path, act);
  static const char *flags[] = {"attention_bias", "mlp_bias", "use_sliding_window"};
  for (int i = 0; i < 3; i++) {
    int on;
    int rc = get_bool(r, flags[i], 0, &on);
    if (rc < 0) return rc;
    if (on) return duet_error(DUET_EUNSUPPORTED, "%s: \"%s\": true is not supported", r->path, flags[i]);
  }
  return DUET_OK;
}

static int parse_sizes(reader *r, duet_config *c) {
  int rc;
  if ((rc = get_int(r, "hidden_size", 1, 0, 1, MAX_DIM, &c->dim)) < 0) return rc;
  if ((rc = get_int(r, "intermediate_size", 1, 0, 1, MAX_DIM, &c->hidden)) < 0) return rc;
  if ((rc = get_int(r, "num_hidden_layers", 1, 0, 1, MAX_LAYERS, &c->n_layers)) < 0) return rc;
  if ((rc = get_int(r, "num_attention_heads", 1, 0, 1, MAX_DIM, &c->n_heads)) < 0) return rc;
  if ((rc = get_int(r, "num_key_value_heads", 0, c->n_heads, 1, MAX_DIM, &c->n_kv_heads)) < 0) return rc;
  if ((rc = get_int(r, "vocab_size", 1, 0, 1, MAX_VOCAB, &c->vocab)) < 0) return rc;
  /* LlamaConfig defaults to 2048, Qwen2Config and Qwen3Config to 32768 */
  long long def_pos = !strcmp(c->arch, "llama") ? 2048 : 32768;
  if ((rc = get_int(r, "max_position_embeddings", 0, def_pos, 1, MAX_POS, &c->max_pos)) < 0) return rc;
  /* Qwen3Config defaults head_dim to 128; the others derive it. */
  long long def_hd = !strcmp(c->arch, "qwen3") ? 128 : (c->dim % c->n_heads == 0 ? c->dim / c->n_heads : -1);
  json_t *hd = json_object_get(r->root, "head_dim");
  if ((!hd || json_is_null(hd)) && def_hd < 0)
    return duet_error(DUET_EFORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d and no head_dim given",
                      r->path, c->dim, c->n_heads);
  if ((rc = get_int(r, "head_dim", 0, def_hd, 1, MAX_DIM, &c->head_dim)) < 0) return rc;
  if ((rc = get_bool(r, "tie_word_embeddings", 0, &c->tied)) < 0) return rc;
  if ((rc = get_num(r, r->root, "rms_norm_eps", 0, 1e-6, &c->norm_eps)) < 0) return rc;
  if ((rc = get_num(r, r->root, "rope_theta", 0, 10000.0, &c->rope_theta)) < 0) return rc;
  /* transformers >= 5 writes rope_theta (and the scaling) inside
   * "rope_parameters" instead of at the top level. */
  json_t *rp = json_object_get(r->root, "rope_parameters"), *top = json_object_get(r->root, "rope_theta");
  if (json_is_object(rp) && json_object_get(rp, "rope_theta")) {
    float theta;
    if ((rc = get_num(r, rp, "rope_theta", 1, 0, &theta)) < 0) return rc;
    if (top && !json_is_null(top) && theta != c->rope_theta)
      return duet_error(DUET_EFORMAT, "%s: \"rope_theta\" %g contradicts \"rope_parameters\" rope_theta %g", r->path,
                        (double)c->rope_theta, (double)theta);
    c->rope_theta = theta;
  }
  return DUET_OK;
}

static int parse_rope_scaling(reader *r, duet_config *c) {
  json_t *s = json_object_get(r->root, "rope_scaling");
  c->rope_scaling.kind = DUET_ROPE_SCALING_NONE;
  const char *key = "rope_scaling", *type = NULL;
  if (!s || json_is_null(s)) { /* transformers >= 5: "rope_parameters", rope_type "default" when absent */
    s = json_object_get(r->root, "rope_parameters");
    key = "rope_parameters";
    if (!s || json_is_null(s)) return DUET_OK;
    if (json_is_object(s) && !json_object_get(s, "rope_type") && !json_object_get(s, "type")) type = "default";
  }
  if (!json_is_object(s)) return duet_error(DUET_EFORMAT, "%s: \"%s\" is not an object", r->path, key);
  if (!type) type = json_string_value(json_object_get(s, "rope_type"));
  if (!type) type = json_string_value(json_object_get(s, "type"));
  if (!type) return duet_error(DUET_EFORMAT, "%s: \"%s\" has no \"rope_type\" (or \"type\")", r->path, key);
  if (!strcmp(type, "default")) return DUET_OK;
  int rc;
  if (!strcmp(type, "linear")) {
    c->rope_scaling.kind = DUET_ROPE_SCALING_LINEAR;
    return get_num(r, s, "factor", 1, 0, &c->rope_scaling.factor);
  }
  if (strcmp(type, "llama3"))
    return duet_error(DUET_EUNSUPPORTED, "%s: rope_scaling type '%.32s' is not supported (linear, llama3)", r->path, type);
  c->rope_scaling.kind = DUET_ROPE_SCALING_LLAMA3;
  if ((rc = get_num(r, s, "factor", 1, 0, &c->rope_scaling.factor)) < 0) return rc;
  if ((rc = get_num(r, s, "low_freq_factor", 1, 0, &c->rope_scaling.low_freq_factor)) < 0) return rc;
  if ((rc = get_num(r, s, "high_freq_factor", 1, 0, &c->rope_scaling.high_freq_factor)) < 0) return rc;
  json_t *om = json_object_get(s, "original_max_position_embeddings");
  if (!json_is_integer(om) || json_integer_value(om) < 1 || json_integer_value(om) > MAX_POS)
    return duet_error(DUET_EFORMAT, "%s: rope_scaling \"original_max_position_embeddings\" missing or not a positive integer",
                      r->path);
  c->rope_scaling.original_max_pos = (int)json_integer_value(om);
  return DUET_OK;
}

static int parse_name(reader *r, const char *key, const char *const *names, int n, int def, int *out) {
  json_t *v = json_object_get(r->root, key);
  *out = def;
  if (!v || json_is_null(v)) return DUET_OK;
  const char *s = json_string_value(v);
  for (int i = 0; s && i < n; i++)
    if (!strcmp(s, names[i])) {
      *out = i;
      return DUET_OK;
    }
  char list[128] = "";
  for (int i = 0; i < n; i++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
  return duet_error(DUET_EUNSUPPORTED, "%s: \"%s\" = '%.32s' is not supported (%s)", r->path, key, s ? s : "(not a string)",
                    list);
}

static int parse_all(reader *r, duet_config *c) {
  int rc, pos, dt;
  if ((rc = parse_arch(r, c)) < 0 || (rc = parse_refusals(r)) < 0 || (rc = parse_sizes(r, c)) < 0 ||
      (rc = parse_rope_scaling(r, c)) < 0)
    return rc;
  if ((rc = parse_name(r, "duet_position_encoding", POS_NAMES, 3, DUET_POS_ROPE_NEOX, &pos)) < 0) return rc;
  c->pos = (duet_pos_kind)pos;
  /* transformers >= 4.56 writes "dtype"; earlier versions "torch_dtype" */
  const char *dkey = json_object_get(r->root, "torch_dtype") ? "torch_dtype" : "dtype";
  if ((rc = parse_name(r, dkey, DTYPE_NAMES, 3, DUET_F32, &dt)) < 0) return rc;
  c->dtype = (duet_dtype)dt;
  if ((rc = get_token_id(r, "bos_token_id", c->vocab, &c->bos_id)) < 0) return rc;
  return duet_config_add_eos_ids(c, r->path, r->root);
}

int duet_config_load(const char *path, duet_config *out) {
  memset(out, 0, sizeof *out);
  reader r = {path, NULL};
  int rc = duet_json_load_file(path, 1 << 20, &r.root); /* real configs are a few KB */
  if (rc < 0) return rc;
  rc = json_is_object(r.root) ? parse_all(&r, out) : duet_error(DUET_EFORMAT, "%s: not a JSON object", path);
  json_decref(r.root);
  if (rc == DUET_OK) {
    rc = duet_config_validate(out);
    if (rc < 0) {
      char msg[512]; /* the message buffer cannot be both source and destination */
      snprintf(msg, sizeof msg, "%s", duet_last_error());
      duet_error(rc, "%s: %s", path, msg);
    }
  }
  if (rc < 0) memset(out, 0, sizeof *out);
  return rc;
}

/* ---------------------------------------------------------- validation */

static int validate_rope_scaling(const duet_config *c) {
  const float f = c->rope_scaling.factor, lo = c->rope_scaling.low_freq_factor, hi = c->rope_scaling.high_freq_factor;
  switch (c->rope_scaling.kind) {
  case DUET_ROPE_SCALING_NONE: return DUET_OK;
  case DUET_ROPE_SCALING_LINEAR:
    if (!(f > 0) || !isfinite(f)) return duet_error(DUET_ERANGE, "rope_scaling factor %g must be positive", f);
    return DUET_OK;
  case DUET_ROPE_SCALING_LLAMA3:
    if (!(f > 0) || !isfinite(f)) return duet_error(DUET_ERANGE, "rope_scaling factor %g must be positive", f);
    if (!(lo > 0) || !(hi > lo) || !isfinite(hi))
      return duet_error(DUET_ERANGE, "rope_scaling low_freq_factor %g and high_freq_factor %g need 0 < low < high", lo, hi);
    if (c->rope_scaling.original_max_pos < 1)
      return duet_error(DUET_ERANGE, "rope_scaling original_max_position_embeddings %d must be positive",
                        c->rope_scaling.original_max_pos);
    return DUET_OK;
  }
  return duet_error(DUET_EINVAL, "unknown rope_scaling kind %d", (int)c->rope_scaling.kind);
}

static int validate_sizes(const duet_config *c) {
  const struct {
    const char *name;
    int v, max;
  } f[] = {{"hidden_size", c->dim, MAX_DIM},
           {"intermediate_size", c->hidden, MAX_DIM},
           {"num_hidden_layers", c->n_layers, MAX_LAYERS},
           {"num_attention_heads", c->n_heads, MAX_DIM},
           {"num_key_value_heads", c->n_kv_heads, MAX_DIM},
           {"head_dim", c->head_dim, MAX_DIM},
           {"vocab_size", c->vocab, MAX_VOCAB},
           {"max_position_embeddings", c->max_pos, MAX_POS}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (f[i].v < 1 || f[i].v > f[i].max)
      return duet_error(DUET_ERANGE, "%s = %d out of range [1, %d]", f[i].name, f[i].v, f[i].max);
  if (c->n_heads % c->n_kv_heads)
    return duet_error(DUET_EINVAL, "num_attention_heads %d is not a multiple of num_key_value_heads %d", c->n_heads,
                      c->n_kv_heads);
  if ((long long)c->n_heads * c->head_dim > MAX_DIM)
    return duet_error(DUET_ERANGE, "num_attention_heads x head_dim = %lld is too large",
                      (long long)c->n_heads * c->head_dim);
  if (c->pos != DUET_POS_SINUSOIDAL && c->head_dim % 2)
    return duet_error(DUET_EINVAL, "head_dim %d must be even for RoPE", c->head_dim);
  if (c->pos != DUET_POS_SINUSOIDAL && c->head_dim > DUET_ROPE_MAX_HD)
    return duet_error(DUET_EUNSUPPORTED, "head_dim %d is wider than RoPE supports (%d)", c->head_dim, DUET_ROPE_MAX_HD);
  if (c->pos == DUET_POS_SINUSOIDAL && c->dim % 2)
    return duet_error(DUET_EINVAL, "hidden_size %d must be even for sinusoidal positions", c->dim);
  return DUET_OK;
}

int duet_config_validate(const duet_config *c) {
  int a = arch_index(c->arch);
  if (a < 0) return duet_error(DUET_EUNSUPPORTED, "model_type '%.32s' is not supported (llama, qwen2, qwen3)", c->arch);
  if (c->qkv_bias != (a == 1) || c->qk_norm != (a == 2))
    return duet_error(DUET_EINVAL, "model_type '%s' with qkv_bias=%d qk_norm=%d: only qwen2 has q/k/v biases and only "
                      "qwen3 q/k norms", c->arch, c->qkv_bias, c->qk_norm);
  int rc = validate_sizes(c);
  if (rc < 0) return rc;
  if (!(c->norm_eps > 0) || !isfinite(c->norm_eps))
    return duet_error(DUET_ERANGE, "rms_norm_eps %g must be positive", c->norm_eps);
  if (!(c->rope_theta > 0) || !isfinite(c->rope_theta))
    return duet_error(DUET_ERANGE, "rope_theta %g must be positive", c->rope_theta);
  if ((unsigned)c->pos > DUET_POS_SINUSOIDAL) return duet_error(DUET_EINVAL, "unknown position encoding %d", (int)c->pos);
  if ((unsigned)c->dtype > DUET_F16) return duet_error(DUET_EINVAL, "unknown dtype %d", (int)c->dtype);
  if (c->bos_id < -1 || c->bos_id >= c->vocab) return duet_error(DUET_ERANGE, "bos_token_id %d outside the vocabulary", c->bos_id);
  if (c->eos_id < -1 || c->eos_id >= c->vocab) return duet_error(DUET_ERANGE, "eos_token_id %d outside the vocabulary", c->eos_id);
  if (c->n_eos < 0 || c->n_eos > DUET_MAX_EOS_IDS) return duet_error(DUET_ERANGE, "%d eos ids", c->n_eos);
  for (int i = 0; i < c->n_eos; i++)
    if (c->eos_ids[i] < 0 || c->eos_ids[i] >= c->vocab)
      return duet_error(DUET_ERANGE, "eos_token_id %d outside the vocabulary", c->eos_ids[i]);
  return validate_rope_scaling(c);
}

/* -------------------------------------------------------------- writing */

/* The shortest decimal that reads back as the same float ("1e-05", not
 * "9.9999997473787516e-06"), as a double for jansson. */
static json_t *real_of(float x) {
  char buf[32];
  for (int prec = 6; prec <= 9; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
    if (strtof(buf, NULL) == x) break;
  }
  return json_real(strtod(buf, NULL));
}

static json_t *token_id(int id) { return id >= 0 ? json_integer(id) : json_null(); }

static json_t *rope_scaling_json(const duet_config *c) {
  switch (c->rope_scaling.kind) {
  case DUET_ROPE_SCALING_LINEAR:
    return json_pack("{s:s, s:s, s:o}", "rope_type", "linear", "type", "linear", "factor", real_of(c->rope_scaling.factor));
  case DUET_ROPE_SCALING_LLAMA3:
    return json_pack("{s:s, s:o, s:o, s:o, s:i}", "rope_type", "llama3", "factor", real_of(c->rope_scaling.factor),
                     "low_freq_factor", real_of(c->rope_scaling.low_freq_factor), "high_freq_factor",
                     real_of(c->rope_scaling.high_freq_factor), "original_max_position_embeddings",
                     c->rope_scaling.original_max_pos);
  default: return json_null();
  }
}

static json_t *config_json(const duet_config *c) {
  int a = arch_index(c->arch);
  json_t *j = json_pack("{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:b, s:s}", "architectures",
                        ARCHS[a].class_name, "model_type", c->arch, "hidden_size", c->dim, "intermediate_size", c->hidden,
                        "num_hidden_layers", c->n_layers, "num_attention_heads", c->n_heads, "num_key_value_heads",
                        c->n_kv_heads, "head_dim", c->head_dim, "vocab_size", c->vocab, "max_position_embeddings",
                        c->max_pos, "rms_norm_eps", real_of(c->norm_eps), "rope_theta", real_of(c->rope_theta),
                        "tie_word_embeddings", c->tied, "hidden_act", "silu");
  if (!j) return NULL;
  json_object_set_new(j, "rope_scaling", rope_scaling_json(c));
  json_object_set_new(j, "bos_token_id", token_id(c->bos_id));
  json_t *eos = token_id(c->eos_id);
  if (c->n_eos > 1) {
    json_decref(eos), eos = json_array();
    for (int i = 0; i < c->n_eos; i++) json_array_append_new(eos, json_integer(c->eos_ids[i]));
  }
  json_object_set_new(j, "eos_token_id", eos);
  json_object_set_new(j, "torch_dtype", json_string(DTYPE_NAMES[c->dtype]));
  if (a != 1) json_object_set_new(j, "attention_bias", json_false()); /* qwen2's biases are implicit */
  if (a == 0) json_object_set_new(j, "mlp_bias", json_false());
  if (a == 1) json_object_set_new(j, "use_sliding_window", json_false());
  json_object_set_new(j, "attention_dropout", json_real(0.0));
  json_object_set_new(j, "initializer_range", json_real(0.02));
  json_object_set_new(j, "use_cache", json_true());
  /* Not a transformers key: transformers keeps it as an attribute and
   * computes NeoX RoPE regardless, so only "rope_neox" models give the same
   * results there. */
  json_object_set_new(j, "duet_position_encoding", json_string(POS_NAMES[c->pos]));
  return j;
}

int duet_config_write(const char *path, const duet_config *c) {
  int rc = duet_config_validate(c);
  if (rc < 0) return rc;
  json_t *j = config_json(c);
  char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
  json_decref(j);
  if (!s) return duet_error(DUET_ENOMEM, "%s: out of memory writing the config", path);
  size_t n = strlen(s);
  char *t = realloc(s, n + 2);
  if (!t) {
    free(s);
    return duet_error(DUET_ENOMEM, "%s: out of memory writing the config", path);
  }
  t[n] = '\n';
  rc = duet_write_file_atomic(path, t, n + 1);
  free(t);
  return rc;
}
