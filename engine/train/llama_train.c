#include "engine/train/llama_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/safetensors.h"
#include "engine/train/rng.h"

/* ---- parameter layout: one list drives allocation, load, save, init ---- */

typedef struct {
  duet_llama_train *m; /* NULL while only counting */
  long off;
  int n;
} layout;

static void add_param(layout *L, duet_tensor *t, const char *name, int rows, int cols) {
  long n = (long)rows * (cols ? cols : 1);
  if (L->m) {
    int shape[2] = {rows, cols};
    *t = duet_tensor_view(L->m->params + L->off, L->m->grads + L->off, cols ? 2 : 1, shape);
    duet_train_param *p = &L->m->info[L->n];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->t = t;
    p->offset = L->off;
    p->decay = cols != 0;
  }
  L->off += n;
  L->n++;
}

/* Walk every parameter in flat-buffer order (Hugging Face names). */
static void walk_params(layout *L, const duet_config *c) {
  duet_llama_train *m = L->m;
  duet_tensor dummy;
  char name[96];
  int q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
  add_param(L, m ? &m->embed : &dummy, "model.embed_tokens.weight", c->vocab, c->dim);
  for (int l = 0; l < c->n_layers; l++) {
    duet_train_layer *y = m ? &m->layers[l] : NULL;
#define P(field, suffix, rows, cols)                                       \
  snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);            \
  add_param(L, y ? &y->field : &dummy, name, rows, cols)
    P(attn_norm, "input_layernorm.weight", c->dim, 0);
    P(wq, "self_attn.q_proj.weight", q, c->dim);
    P(wk, "self_attn.k_proj.weight", kv, c->dim);
    P(wv, "self_attn.v_proj.weight", kv, c->dim);
    if (c->qkv_bias) {
      P(bq, "self_attn.q_proj.bias", q, 0);
      P(bk, "self_attn.k_proj.bias", kv, 0);
      P(bv, "self_attn.v_proj.bias", kv, 0);
    }
    if (c->qk_norm) {
      P(q_norm, "self_attn.q_norm.weight", c->head_dim, 0);
      P(k_norm, "self_attn.k_norm.weight", c->head_dim, 0);
    }
    P(wo, "self_attn.o_proj.weight", c->dim, q);
    P(mlp_norm, "post_attention_layernorm.weight", c->dim, 0);
    P(w_gate, "mlp.gate_proj.weight", c->hidden, c->dim);
    P(w_up, "mlp.up_proj.weight", c->hidden, c->dim);
    P(w_down, "mlp.down_proj.weight", c->dim, c->hidden);
#undef P
  }
  add_param(L, m ? &m->final_norm : &dummy, "model.norm.weight", c->dim, 0);
  if (!c->tied) add_param(L, m ? &m->lm_head : &dummy, "lm_head.weight", c->vocab, c->dim);
}

long duet_llama_train_count_params(const duet_config *c) {
  layout L = {0};
  walk_params(&L, c);
  return L.off;
}

static int check_config(const duet_config *c) {
  if (c->dim <= 0 || c->hidden <= 0 || c->n_layers <= 0 || c->vocab <= 0 || c->n_heads <= 0 || c->head_dim <= 0)
    return duet_error(DUET_EINVAL, "model shape: dim %d, hidden %d, layers %d, vocab %d, heads %d, head_dim %d must "
                      "all be positive", c->dim, c->hidden, c->n_layers, c->vocab, c->n_heads, c->head_dim);
  if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads != 0)
    return duet_error(DUET_EINVAL, "model shape: %d heads do not divide into %d kv heads", c->n_heads,
                      c->n_kv_heads);
  if (c->pos != DUET_POS_SINUSOIDAL && (c->head_dim % 2 != 0 || c->head_dim > DUET_ROPE_MAX_HD))
    return duet_error(DUET_EINVAL, "model shape: RoPE needs an even head_dim <= %d (have %d)", DUET_ROPE_MAX_HD,
                      c->head_dim);
  if (c->pos == DUET_POS_SINUSOIDAL && c->dim % 2 != 0)
    return duet_error(DUET_EINVAL, "model shape: sinusoidal positions need an even dim (have %d)", c->dim);
  return DUET_OK;
}

int duet_llama_train_new(const duet_config *cfg, duet_llama_train **out) {
  *out = NULL;
  int rc = check_config(cfg);
  if (rc < 0) return rc;
  duet_llama_train *m = calloc(1, sizeof *m);
  if (!m) return duet_error(DUET_ENOMEM, "training model: out of memory");
  m->cfg = *cfg;
  layout count = {0};
  walk_params(&count, cfg);
  m->n_params = count.off;
  m->params = calloc((size_t)count.off, sizeof(float));
  m->grads = calloc((size_t)count.off, sizeof(float));
  m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
  m->info = calloc((size_t)count.n, sizeof *m->info);
  if (!m->params || !m->grads || !m->layers || !m->info) {
    duet_llama_train_free(m);
    return duet_error(DUET_ENOMEM, "training model: cannot allocate %ld parameters (%.1f MB with gradients)",
                      count.off, count.off * 8.0 / 1e6);
  }
  layout L = {.m = m};
  walk_params(&L, cfg);
  m->n_info = L.n;
  if (cfg->tied) m->lm_head = m->embed;
  if (cfg->pos != DUET_POS_SINUSOIDAL && (rc = duet_rope_init_config(&m->rope, cfg)) < 0) {
    duet_llama_train_free(m);
    return rc;
  }
  *out = m;
  return DUET_OK;
}

void duet_llama_train_free(duet_llama_train *m) {
  if (!m) return;
  free(m->params);
  free(m->grads);
  free(m->layers);
  free(m->info);
  free(m);
}

void duet_llama_train_init_random(duet_llama_train *m, uint64_t seed) {
  duet_rng r;
  duet_rng_seed(&r, seed);
  float resid = 0.02f / sqrtf(2.0f * m->cfg.n_layers);
  for (int i = 0; i < m->n_info; i++) {
    duet_train_param *p = &m->info[i];
    float *w = m->params + p->offset;
    if (!p->decay) { /* norm weights 1, biases 0 */
      float v = strstr(p->name, ".bias") ? 0.0f : 1.0f;
      for (long j = 0; j < p->t->n; j++) w[j] = v;
      continue;
    }
    int is_resid = strstr(p->name, "o_proj") || strstr(p->name, "down_proj");
    float std = is_resid ? resid : 0.02f;
    for (long j = 0; j < p->t->n; j++) w[j] = std * duet_rng_normal(&r);
  }
}

/* ---- load / save as a Hugging Face directory ---- */

static int load_tensor(duet_llama_train *m, const duet_st_set *st, const duet_train_param *p) {
  const duet_st_tensor *s = duet_st_set_find(st, p->name);
  if (!s) return duet_error(DUET_ENOENT, "checkpoint: tensor %s is missing", p->name);
  long n = 1;
  for (int d = 0; d < s->ndim; d++) n *= s->shape[d];
  int same = s->ndim == p->t->ndim && n == p->t->n;
  for (int d = 0; same && d < s->ndim; d++) same = s->shape[d] == p->t->shape[d];
  if (!same) return duet_error(DUET_EFORMAT, "checkpoint: tensor %s has the wrong shape for config.json", p->name);
  duet_to_f32(s->dtype, s->data, m->params + p->offset, (size_t)n);
  return DUET_OK;
}

int duet_llama_train_load(const char *dir, duet_llama_train **out) {
  *out = NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  duet_config cfg;
  int rc = duet_config_load(path, &cfg);
  if (rc < 0) return rc;
  duet_st_set *st = NULL;
  if ((rc = duet_safetensors_open_dir(dir, &st)) < 0) return rc;
  duet_llama_train *m = NULL;
  rc = duet_llama_train_new(&cfg, &m);
  for (int i = 0; rc >= 0 && i < m->n_info; i++) rc = load_tensor(m, st, &m->info[i]);
  duet_st_set_close(st);
  if (rc < 0) {
    duet_llama_train_free(m);
    return rc;
  }
  *out = m;
  return DUET_OK;
}

int duet_llama_train_save(const duet_llama_train *m, const char *dir, duet_dtype dtype) {
  char path[4096];
  duet_config cfg = m->cfg;
  cfg.dtype = dtype;
  snprintf(path, sizeof path, "%s/config.json", dir);
  int rc = duet_config_write(path, &cfg);
  if (rc < 0) return rc;
  duet_st_tensor *ts = calloc((size_t)m->n_info, sizeof *ts);
  void *conv = dtype == DUET_F32 ? NULL : malloc((size_t)m->n_params * duet_dtype_size(dtype));
  if (!ts || (dtype != DUET_F32 && !conv)) {
    free(ts);
    free(conv);
    return duet_error(DUET_ENOMEM, "checkpoint: no memory to convert %ld parameters", m->n_params);
  }
  for (int i = 0; i < m->n_info; i++) {
    const duet_train_param *p = &m->info[i];
    ts[i].name = p->name;
    ts[i].dtype = dtype;
    ts[i].ndim = p->t->ndim;
    for (int d = 0; d < p->t->ndim; d++) ts[i].shape[d] = p->t->shape[d];
    if (conv) {
      char *dst = (char *)conv + p->offset * duet_dtype_size(dtype);
      duet_from_f32(dtype, m->params + p->offset, dst, (size_t)p->t->n);
      ts[i].data = dst;
    } else {
      ts[i].data = m->params + p->offset;
    }
  }
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  rc = duet_safetensors_write(path, ts, m->n_info, NULL);
  free(ts);
  free(conv);
  return rc;
}

/* ---- forward: short layer functions over the tape ---- */

size_t duet_llama_train_arena_bytes(const duet_config *c, int B, int T) {
  size_t N = (size_t)B * T, q = (size_t)c->n_heads * c->head_dim, kv = (size_t)c->n_kv_heads * c->head_dim;
  /* per layer and token, activations and their gradients (x2): norms, q/k/v
   * (+ q/k norms, rotated q/k), attention out, o_proj, residual, MLP */
  size_t per_tok = 2 * (6 * (size_t)c->dim + 4 * q + 6 * kv + 3 * (size_t)c->hidden) + 4 + 2 * c->n_heads;
  size_t per_layer = N * per_tok + (size_t)B * c->n_heads * T * T;
  size_t head = N * (2 * 3 * (size_t)c->dim + 2 * (size_t)c->vocab + 4);
  size_t nodes = (size_t)duet_llama_train_max_nodes(c);
  return (per_layer * c->n_layers + head) * sizeof(float) + nodes * 4 * 128 + N * sizeof(int) + (1 << 16);
}

/* 16 ops per layer at most, + 4 tensor-parallel f/g */
int duet_llama_train_max_nodes(const duet_config *c) { return 20 * c->n_layers + 16; }

/* x (N, C) -> x + o_proj(attention(rope(q), rope(k), v)) of rmsnorm(x) */
static duet_tensor *attention_block(duet_llama_train *m, duet_tape *t, int l, duet_tensor *x, const int *pos, int B,
                                    int T) {
  const duet_config *c = &m->cfg;
  duet_train_layer *y = &m->layers[l];
  duet_tensor *n = duet_ag_rmsnorm(t, x, &y->attn_norm, c->norm_eps);
  if (m->tp_enter) n = m->tp_enter(t, n, m->tp_ctx);
  int bias = c->qkv_bias;
  duet_tensor *q = duet_ag_linear(t, n, &y->wq, bias ? &y->bq : NULL); // (N, C) -> (N, nh*hd)
  duet_tensor *k = duet_ag_linear(t, n, &y->wk, bias ? &y->bk : NULL); // (N, C) -> (N, nkv*hd)
  duet_tensor *v = duet_ag_linear(t, n, &y->wv, bias ? &y->bv : NULL);
  if (c->qk_norm) {
    q = duet_ag_rmsnorm(t, q, &y->q_norm, c->norm_eps); /* per head */
    k = duet_ag_rmsnorm(t, k, &y->k_norm, c->norm_eps);
  }
  if (c->pos != DUET_POS_SINUSOIDAL) {
    q = duet_ag_rope(t, q, &m->rope, pos, c->n_heads);
    k = duet_ag_rope(t, k, &m->rope, pos, c->n_kv_heads);
  }
  duet_tensor *a = duet_ag_attention(t, q, k, v, B, T, c->n_heads, c->n_kv_heads);
  duet_tensor *o = duet_ag_linear(t, a, &y->wo, NULL); // (N, nh*hd) -> (N, C)
  if (m->tp_leave) o = m->tp_leave(t, o, m->tp_ctx);
  return duet_ag_add(t, x, o);
}

/* x (N, C) -> x + down(silu(gate(n)) * up(n)), n = rmsnorm(x) */
static duet_tensor *mlp_block(duet_llama_train *m, duet_tape *t, int l, duet_tensor *x) {
  duet_train_layer *y = &m->layers[l];
  duet_tensor *n = duet_ag_rmsnorm(t, x, &y->mlp_norm, m->cfg.norm_eps);
  if (m->tp_enter) n = m->tp_enter(t, n, m->tp_ctx);
  duet_tensor *g = duet_ag_linear(t, n, &y->w_gate, NULL); // (N, C) -> (N, H)
  duet_tensor *u = duet_ag_linear(t, n, &y->w_up, NULL);
  duet_tensor *h = duet_ag_swiglu(t, g, u);
  duet_tensor *d = duet_ag_linear(t, h, &y->w_down, NULL); // (N, H) -> (N, C)
  if (m->tp_leave) d = m->tp_leave(t, d, m->tp_ctx);
  return duet_ag_add(t, x, d);
}

duet_tensor *duet_llama_train_loss(duet_llama_train *m, duet_tape *t, const int *tokens, const int *targets, int B,
                                   int T) {
  return duet_llama_train_stage(m, t, NULL, tokens, targets, B, T, 1, 1);
}

duet_tensor *duet_llama_train_stage(duet_llama_train *m, duet_tape *t, duet_tensor *x, const int *tokens,
                                    const int *targets, int B, int T, int first, int last) {
  if (B <= 0 || T <= 0 || (!first && !x)) {
    duet_error(DUET_EINVAL, "training batch: B %d and T %d must be positive (and a later stage needs its input)", B,
               T);
    return NULL;
  }
  int N = B * T;
  int *pos = duet_arena_alloc(&t->arena, (size_t)N * sizeof(int));
  if (!pos) {
    duet_error(DUET_ENOMEM, "autograd arena full (positions)");
    return NULL;
  }
  for (int i = 0; i < N; i++) pos[i] = i % T;
  duet_tensor *h = x;
  if (first) h = duet_ag_embedding(t, tokens, N, &m->embed); // (N) -> (N, C)
  if (first && m->cfg.pos == DUET_POS_SINUSOIDAL) h = duet_ag_sinusoidal(t, h, pos);
  for (int l = 0; l < m->cfg.n_layers; l++) {
    h = attention_block(m, t, l, h, pos, B, T);
    h = mlp_block(m, t, l, h);
  }
  if (!last) return h;
  h = duet_ag_rmsnorm(t, h, &m->final_norm, m->cfg.norm_eps);
  duet_tensor *logits = duet_ag_linear(t, h, &m->lm_head, NULL); // (N, C) -> (N, V)
  return duet_ag_cross_entropy(t, logits, targets);
}

int duet_llama_train_grad(duet_llama_train *m, duet_tape *t, const int *tokens, const int *targets, int B, int T,
                          float dloss, int accumulate, float *loss) {
  if (!accumulate) memset(m->grads, 0, (size_t)m->n_params * sizeof(float));
  duet_tape_reset(t, 1);
  duet_tensor *l = duet_llama_train_loss(m, t, tokens, targets, B, T);
  if (!l) return t->err ? t->err : DUET_EINVAL;
  *loss = l->data[0];
  return duet_tape_backward(t, l, dloss);
}

void duet_llama_train_adamw_range(const duet_llama_train *m, float *p, const float *g, float *mom, float *vel, long lo,
                                  long hi, long t, float lr, const duet_adamw_hparams *hp) {
  for (int i = 0; i < m->n_info; i++) {
    const duet_train_param *q = &m->info[i];
    long a = q->offset > lo ? q->offset : lo, b = q->offset + q->t->n < hi ? q->offset + q->t->n : hi;
    if (a >= b) continue;
    duet_adamw_update(p + (a - lo), g + (a - lo), mom + (a - lo), vel + (a - lo), b - a, t, lr,
                      q->decay ? hp->weight_decay : 0.0f, hp);
  }
}

float duet_llama_train_adamw_step(duet_llama_train *m, duet_adamw *o, const duet_adamw_hparams *hp, int step,
                                  float grad_clip) {
  double norm = sqrt(duet_grad_sumsq(m->grads, m->n_params));
  duet_scale(m->grads, m->n_params, duet_clip_scale(norm, grad_clip));
  o->step++;
  duet_llama_train_adamw_range(m, m->params, m->grads, o->m, o->v, 0, m->n_params, o->step, duet_lr_at(hp, step), hp);
  return (float)norm;
}
