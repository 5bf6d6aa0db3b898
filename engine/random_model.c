#include "engine/random_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/big_alloc.h"
#include "engine/error.h"
#include "engine/ops/dtype.h"

static uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

typedef struct {
  char *next; /* bump allocator over the arena, 64-byte aligned pieces */
  uint64_t seed;
  duet_dtype dtype;
} builder;

static void *take(builder *b, size_t bytes) {
  void *p = b->next;
  b->next += (bytes + 63) & ~(size_t)63;
  return p;
}

// A (rows, cols) matrix of uniform values with variance 1/cols; each value
// depends only on (seed, index), so the fill runs in parallel.
static duet_matrix random_matrix(builder *b, int rows, int cols) {
  duet_matrix w = {b->dtype, rows, cols, NULL};
  size_t n = (size_t)rows * cols;
  void *d = take(b, n * duet_dtype_size(b->dtype));
  float a = sqrtf(3.0f / (float)cols);
  uint64_t seed = b->seed++ * 0x100000001b3ull;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    float u = (float)(splitmix(seed ^ i) >> 40) * (1.0f / 16777216.0f); // [0, 1)
    float v = a * (2.0f * u - 1.0f);
    if (b->dtype == DUET_F32) ((float *)d)[i] = v;
    else if (b->dtype == DUET_BF16) ((uint16_t *)d)[i] = duet_f32_to_bf16(v);
    else ((uint16_t *)d)[i] = duet_f32_to_f16(v);
  }
  w.data = d;
  return w;
}

static const float *ones(builder *b, int n) {
  float *v = take(b, (size_t)n * sizeof(float));
  for (int i = 0; i < n; i++) v[i] = 1.0f;
  return v;
}

static size_t arena_bytes(const duet_config *c, size_t es) {
  size_t hd = (size_t)c->head_dim, D = (size_t)c->dim, pad = 64;
  size_t layer = (D * hd * c->n_heads * 2 + D * hd * c->n_kv_heads * 2 + 3 * D * c->hidden) * es + 2 * D * 4 + 7 * pad;
  return (size_t)c->n_layers * layer + (size_t)c->vocab * D * es * (c->tied ? 1 : 2) + D * 4 + 3 * pad;
}

int duet_random_model_new(const duet_config *cfg, duet_dtype dtype, uint64_t seed, duet_random_model **out) {
  *out = NULL;
  const duet_config *c = cfg;
  if (c->dim <= 0 || c->hidden <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 || c->head_dim <= 0 ||
      c->vocab <= 0 || c->n_heads % c->n_kv_heads || dtype < DUET_F32 || dtype > DUET_F16)
    return duet_error(DUET_EINVAL, "random model: bad shape (dim %d, hidden %d, layers %d, heads %d/%d, head_dim %d, vocab %d)",
                      c->dim, c->hidden, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->vocab);
  duet_random_model *rm = calloc(1, sizeof *rm);
  duet_layer *layers = calloc((size_t)c->n_layers, sizeof *layers);
  size_t bytes = arena_bytes(c, duet_dtype_size(dtype));
  void *arena = duet_big_alloc(bytes);
  if (!rm || !layers || !arena) {
    free(rm), free(layers), duet_big_free(arena);
    return duet_error(DUET_ENOMEM, "random model: %zu MiB", bytes >> 20);
  }
  rm->arena = arena;
  duet_model *m = &rm->model;
  m->cfg = *c;
  m->cfg.dtype = dtype;
  m->tp_rank = 0, m->tp_size = 1;
  m->n_heads_local = c->n_heads, m->n_kv_heads_local = c->n_kv_heads, m->hidden_local = c->hidden;
  m->layers = layers;
  builder b = {arena, seed, dtype};
  int hd = c->head_dim;
  m->embed = random_matrix(&b, c->vocab, c->dim);
  for (int l = 0; l < c->n_layers; l++) {
    duet_layer *L = &layers[l];
    L->attn_norm = ones(&b, c->dim), L->mlp_norm = ones(&b, c->dim);
    L->wq = random_matrix(&b, c->n_heads * hd, c->dim);
    L->wk = random_matrix(&b, c->n_kv_heads * hd, c->dim);
    L->wv = random_matrix(&b, c->n_kv_heads * hd, c->dim);
    L->wo = random_matrix(&b, c->dim, c->n_heads * hd);
    L->w_gate = random_matrix(&b, c->hidden, c->dim);
    L->w_up = random_matrix(&b, c->hidden, c->dim);
    L->w_down = random_matrix(&b, c->dim, c->hidden);
  }
  m->final_norm = ones(&b, c->dim);
  m->lm_head = c->tied ? m->embed : random_matrix(&b, c->vocab, c->dim);
  *out = rm;
  return DUET_OK;
}

void duet_random_model_free(duet_random_model *rm) {
  if (!rm) return;
  free(rm->model.layers);
  duet_big_free(rm->arena);
  free(rm);
}

int64_t duet_model_nonembed_params(const duet_config *c) {
  int64_t D = c->dim, hd = c->head_dim;
  int64_t layer = D * hd * c->n_heads * 2 + D * hd * c->n_kv_heads * 2 + 3 * D * c->hidden + 2 * D;
  if (c->qkv_bias) layer += hd * (c->n_heads + 2 * c->n_kv_heads);
  if (c->qk_norm) layer += 2 * hd;
  return layer * c->n_layers + D;
}

static int64_t matrix_bytes(const duet_matrix *w) { return (int64_t)w->rows * w->cols * (int64_t)duet_dtype_size(w->dtype); }

int64_t duet_model_decode_bytes(const duet_model *m) {
  int64_t total = matrix_bytes(&m->lm_head) + (int64_t)m->cfg.dim * (int64_t)duet_dtype_size(m->embed.dtype);
  for (int l = 0; l < m->cfg.n_layers; l++) {
    const duet_layer *L = &m->layers[l];
    const duet_matrix *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    for (int i = 0; i < 7; i++) total += matrix_bytes(ws[i]);
    total += 2 * (int64_t)m->cfg.dim * 4;
  }
  return total + (int64_t)m->cfg.dim * 4;
}
