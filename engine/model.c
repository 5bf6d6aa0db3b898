/* Loading a Hugging Face directory into a duet_model (whole, or one
 * tensor-parallel shard). Matrices stay in the checkpoint's dtype and,
 * where possible, point straight into the safetensors mmap: a BF16 model
 * costs its file size in page cache and almost nothing else. Copies are
 * made only for what cannot be a view: dtype conversion (opts->to_f32),
 * column slices of a shard (o_proj, down_proj), misaligned data, and the
 * norm and bias vectors, which are always float32. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/dtype.h"
#include "engine/big_alloc.h"
#include "engine/error.h"
#include "engine/json_file.h"
#include "engine/model.h"
#include "engine/safetensors.h"

struct duet_model_storage {
  duet_st_set *set;
  void **owned;
  int n_owned, cap_owned;
};

typedef struct {
  const char *dir;
  duet_model *m;
  int to_f32;
  int check_only; /* find and check each tensor's shape, load nothing */
} loader;

static void *own(loader *ld, size_t bytes) {
  duet_model_storage *s = ld->m->storage;
  if (s->n_owned == s->cap_owned) {
    int cap = s->cap_owned ? 2 * s->cap_owned : 64;
    void **o = realloc(s->owned, (size_t)cap * sizeof *o);
    if (!o) return NULL;
    s->owned = o;
    s->cap_owned = cap;
  }
  void *p = duet_big_alloc(bytes);
  if (p) s->owned[s->n_owned++] = p;
  return p;
}

/* The tensor `name`, checked to have shape (rows, cols), or (rows) when
 * cols is 0. */
static int find(loader *ld, const char *name, int rows, int cols, const duet_st_tensor **out) {
  const duet_st_tensor *t = duet_st_set_find(ld->m->storage->set, name);
  if (!t) return duet_error(DUET_ENOENT, "%s: tensor '%s' is missing from the checkpoint", ld->dir, name);
  int want_nd = cols ? 2 : 1;
  if (t->ndim != want_nd || t->shape[0] != rows || (cols && t->shape[1] != cols)) {
    char got[128] = "";
    for (int d = 0; d < t->ndim; d++)
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (cols)
      return duet_error(DUET_EFORMAT, "%s: tensor '%s' has shape [%s] but the config needs [%d, %d]", ld->dir, name, got,
                        rows, cols);
    return duet_error(DUET_EFORMAT, "%s: tensor '%s' has shape [%s] but the config needs [%d]", ld->dir, name, got, rows);
  }
  *out = t;
  return DUET_OK;
}

static int oom(loader *ld, const char *name, size_t bytes) {
  return duet_error(DUET_ENOMEM, "%s: out of memory (%zu bytes) for tensor '%s'", ld->dir, bytes, name);
}

/* Elements [off, off+n) of a 1-D tensor of length len, as owned float32. */
static int load_vector(loader *ld, const char *name, int len, int off, int n, const float **out) {
  const duet_st_tensor *t;
  int rc = find(ld, name, len, 0, &t);
  if (rc < 0 || ld->check_only) return rc;
  float *v = own(ld, (size_t)n * 4);
  if (!v) return oom(ld, name, (size_t)n * 4);
  duet_to_f32(t->dtype, (const char *)t->data + (size_t)off * duet_dtype_size(t->dtype), v, (size_t)n);
  *out = v;
  return DUET_OK;
}

typedef struct {
  int rows, cols;   /* of the whole tensor */
  int row0, nrows;  /* the slice to load */
  int col0, ncols;
} slice;

/* A slice of a 2-D tensor. A slice of whole rows is a view into the mmap
 * when the dtype stays and the data is aligned; anything else is copied
 * (and widened to float32 when ld->to_f32). */
static int load_matrix(loader *ld, const char *name, slice s, duet_matrix *out) {
  const duet_st_tensor *t;
  int rc = find(ld, name, s.rows, s.cols, &t);
  if (rc < 0 || ld->check_only) return rc;
  duet_dtype src_t = t->dtype, dst_t = ld->to_f32 ? DUET_F32 : src_t;
  size_t es = duet_dtype_size(src_t), ds = duet_dtype_size(dst_t);
  const char *src = (const char *)t->data + ((size_t)s.row0 * (size_t)s.cols + (size_t)s.col0) * es;
  out->dtype = dst_t;
  out->rows = s.nrows;
  out->cols = s.ncols;
  if (s.ncols == s.cols && src_t == dst_t && (uintptr_t)src % es == 0) {
    out->data = src;
    return DUET_OK;
  }
  size_t bytes = (size_t)s.nrows * (size_t)s.ncols * ds;
  char *dst = own(ld, bytes);
  if (!dst) return oom(ld, name, bytes);
  for (int r = 0; r < s.nrows; r++) {
    const char *row = src + (size_t)r * (size_t)s.cols * es;
    char *drow = dst + (size_t)r * (size_t)s.ncols * ds;
    if (dst_t == src_t) memcpy(drow, row, (size_t)s.ncols * es);
    else duet_to_f32(src_t, row, (float *)drow, (size_t)s.ncols);
  }
  out->data = dst;
  return DUET_OK;
}

static slice rows_of(int rows, int cols, int row0, int nrows) { return (slice){rows, cols, row0, nrows, 0, cols}; }
static slice cols_of(int rows, int cols, int col0, int ncols) { return (slice){rows, cols, 0, rows, col0, ncols}; }

static int load_attention(loader *ld, int i, duet_layer *L) {
  const duet_model *m = ld->m;
  const duet_config *c = &m->cfg;
  const int hd = c->head_dim, q_all = c->n_heads * hd, kv_all = c->n_kv_heads * hd;
  const int q0 = m->tp_rank * m->n_heads_local * hd, nq = m->n_heads_local * hd;
  const int k0 = m->tp_rank * m->n_kv_heads_local * hd, nk = m->n_kv_heads_local * hd;
  char name[160];
  int rc;
#define NAME(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", i, suffix), name)
  if ((rc = load_matrix(ld, NAME("self_attn.q_proj.weight"), rows_of(q_all, c->dim, q0, nq), &L->wq)) < 0) return rc;
  if ((rc = load_matrix(ld, NAME("self_attn.k_proj.weight"), rows_of(kv_all, c->dim, k0, nk), &L->wk)) < 0) return rc;
  if ((rc = load_matrix(ld, NAME("self_attn.v_proj.weight"), rows_of(kv_all, c->dim, k0, nk), &L->wv)) < 0) return rc;
  if ((rc = load_matrix(ld, NAME("self_attn.o_proj.weight"), cols_of(c->dim, q_all, q0, nq), &L->wo)) < 0) return rc;
  if (c->qkv_bias) {
    if ((rc = load_vector(ld, NAME("self_attn.q_proj.bias"), q_all, q0, nq, &L->bq)) < 0) return rc;
    if ((rc = load_vector(ld, NAME("self_attn.k_proj.bias"), kv_all, k0, nk, &L->bk)) < 0) return rc;
    if ((rc = load_vector(ld, NAME("self_attn.v_proj.bias"), kv_all, k0, nk, &L->bv)) < 0) return rc;
  }
  if (c->qk_norm) {
    if ((rc = load_vector(ld, NAME("self_attn.q_norm.weight"), hd, 0, hd, &L->q_norm)) < 0) return rc;
    if ((rc = load_vector(ld, NAME("self_attn.k_norm.weight"), hd, 0, hd, &L->k_norm)) < 0) return rc;
  }
  return load_vector(ld, NAME("input_layernorm.weight"), c->dim, 0, c->dim, &L->attn_norm);
}

static int load_mlp(loader *ld, int i, duet_layer *L) {
  const duet_model *m = ld->m;
  const duet_config *c = &m->cfg;
  const int h0 = m->tp_rank * m->hidden_local, nh = m->hidden_local;
  char name[160];
  int rc;
  if ((rc = load_matrix(ld, NAME("mlp.gate_proj.weight"), rows_of(c->hidden, c->dim, h0, nh), &L->w_gate)) < 0) return rc;
  if ((rc = load_matrix(ld, NAME("mlp.up_proj.weight"), rows_of(c->hidden, c->dim, h0, nh), &L->w_up)) < 0) return rc;
  if ((rc = load_matrix(ld, NAME("mlp.down_proj.weight"), cols_of(c->dim, c->hidden, h0, nh), &L->w_down)) < 0) return rc;
  return load_vector(ld, NAME("post_attention_layernorm.weight"), c->dim, 0, c->dim, &L->mlp_norm);
#undef NAME
}

static int setup_shard(const char *dir, const duet_load_opts *o, duet_model *m) {
  const duet_config *c = &m->cfg;
  int T = o->tp_size > 1 ? o->tp_size : 1, r = o->tp_size > 1 ? o->tp_rank : 0;
  if (o->tp_size < 0 || r < 0 || r >= T)
    return duet_error(DUET_EINVAL, "%s: tensor-parallel rank %d of %d is invalid", dir, o->tp_rank, o->tp_size);
  if (c->n_kv_heads % T)
    return duet_error(DUET_EINVAL, "%s: tensor-parallel size %d does not divide num_key_value_heads %d", dir, T,
                      c->n_kv_heads);
  if (c->hidden % T)
    return duet_error(DUET_EINVAL, "%s: tensor-parallel size %d does not divide intermediate_size %d", dir, T, c->hidden);
  m->tp_rank = r;
  m->tp_size = T;
  /* Whole kv heads per rank, and the q heads that share them, so that each
   * rank's grouped-query attention is self-contained. */
  m->n_kv_heads_local = c->n_kv_heads / T;
  m->n_heads_local = c->n_heads / T;
  m->hidden_local = c->hidden / T;
  return DUET_OK;
}

/* Refuse a config whose owned buffers could not fit in this machine's
 * memory before allocating any of them. */
static int check_memory(const char *dir, const duet_model *m, int to_f32) {
  const duet_config *c = &m->cfg;
  uint64_t hd = (uint64_t)c->head_dim, dim = (uint64_t)c->dim;
  uint64_t q = (uint64_t)m->n_heads_local * hd, kv = (uint64_t)m->n_kv_heads_local * hd, h = (uint64_t)m->hidden_local;
  uint64_t per_layer = dim * (2 * q + 2 * kv) + 3 * dim * h;
  uint64_t vecs = (uint64_t)c->n_layers * (2 * dim + 2 * hd + q + 2 * kv) + dim;
  uint64_t bytes = vecs * 4;
  if (to_f32) bytes += ((uint64_t)c->n_layers * per_layer + (c->tied ? 1 : 2) * (uint64_t)c->vocab * dim) * 4;
  else if (m->tp_size > 1) bytes += (uint64_t)c->n_layers * (dim * q + dim * h) * 4; /* o, down column slices */
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  uint64_t phys = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : UINT64_MAX;
  if (bytes > phys)
    return duet_error(DUET_ENOMEM, "%s: loading needs %.1f GiB of memory but this machine has %.1f GiB", dir,
                      (double)bytes / (1 << 30), (double)phys / (1 << 30));
  return DUET_OK;
}

static int load_weights(loader *ld) {
  duet_model *m = ld->m;
  const duet_config *c = &m->cfg;
  int rc;
  if ((rc = load_matrix(ld, "model.embed_tokens.weight", rows_of(c->vocab, c->dim, 0, c->vocab), &m->embed)) < 0) return rc;
  if (c->tied) m->lm_head = m->embed;
  else if ((rc = load_matrix(ld, "lm_head.weight", rows_of(c->vocab, c->dim, 0, c->vocab), &m->lm_head)) < 0) return rc;
  if ((rc = load_vector(ld, "model.norm.weight", c->dim, 0, c->dim, &m->final_norm)) < 0) return rc;
  for (int i = 0; i < c->n_layers; i++) {
    if ((rc = load_attention(ld, i, &m->layers[i])) < 0) return rc;
    if ((rc = load_mlp(ld, i, &m->layers[i])) < 0) return rc;
  }
  return DUET_OK;
}

int duet_config_add_generation_eos(const char *dir, duet_config *c) {
  char path[4096 + 32];
  snprintf(path, sizeof path, "%s/generation_config.json", dir);
  json_t *root = NULL;
  int rc = duet_json_load_file(path, 1 << 20, &root);
  if (rc == DUET_ENOENT) return DUET_OK;
  if (rc == DUET_OK)
    rc = json_is_object(root) ? duet_config_add_eos_ids(c, path, root)
                              : duet_error(DUET_EFORMAT, "%s: not a JSON object", path);
  json_decref(root);
  return rc;
}

static int load(const char *dir, const duet_load_opts *opts, int check_only, duet_model **out) {
  *out = NULL;
  duet_load_opts defaults = {0};
  if (!opts) opts = &defaults;
  duet_model *m = calloc(1, sizeof *m);
  if (!m || !(m->storage = calloc(1, sizeof *m->storage))) {
    free(m);
    return duet_error(DUET_ENOMEM, "%s: out of memory", dir);
  }
  char path[4096 + 32];
  snprintf(path, sizeof path, "%s/config.json", dir);
  int rc = duet_config_load(path, &m->cfg);
  if (rc == DUET_OK) rc = duet_config_add_generation_eos(dir, &m->cfg);
  if (rc == DUET_OK) rc = setup_shard(dir, opts, m);
  if (rc == DUET_OK) rc = check_memory(dir, m, opts->to_f32);
  if (rc == DUET_OK && !(m->layers = calloc((size_t)m->cfg.n_layers, sizeof *m->layers)))
    rc = duet_error(DUET_ENOMEM, "%s: out of memory", dir);
  if (rc == DUET_OK) rc = duet_safetensors_open_dir(dir, &m->storage->set);
  if (rc == DUET_OK) {
    loader ld = {dir, m, opts->to_f32, check_only};
    rc = load_weights(&ld);
  }
  if (rc < 0) {
    duet_model_free(m);
    return rc;
  }
  *out = m;
  return DUET_OK;
}

int duet_model_load(const char *dir, const duet_load_opts *opts, duet_model **out) {
  return load(dir, opts, 0, out);
}

int duet_model_check(const char *dir, const duet_load_opts *opts) {
  duet_model *m;
  int rc = load(dir, opts, 1, &m);
  duet_model_free(m);
  return rc;
}

void duet_model_free(duet_model *m) {
  if (!m) return;
  if (m->storage) {
    for (int i = 0; i < m->storage->n_owned; i++) duet_big_free(m->storage->owned[i]);
    free(m->storage->owned);
    duet_st_set_close(m->storage->set);
    free(m->storage);
  }
  free(m->layers);
  free(m);
}
