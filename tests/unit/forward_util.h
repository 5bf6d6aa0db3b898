// Shared by the forward tests: check macros, fixture loading, and a small
// driver around duet_prefill / duet_decode (header-only: each test is one
// program).
#ifndef DUET_TEST_FORWARD_UTIL_H
#define DUET_TEST_FORWARD_UTIL_H

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "tests/unit/unit_check.h"
#include "engine/forward.h"
#include "engine/kv_cache.h"
#include "engine/model.h"


/* A fixture of tests/fixtures/gen_model_fixtures.py: prompt, 32 greedy ids
 * and the reference logits (n_pos, vocab) of prompt + greedy[:-1]. */
typedef struct {
  int prompt[64], n_prompt;
  int greedy[64], n_greedy;
  int n_pos, vocab;
  float *logits;
} fixture;

static inline int read_ids(json_t *a, int *out, int max) {
  int n = 0;
  for (size_t i = 0; i < json_array_size(a) && n < max; i++) out[n++] = (int)json_integer_value(json_array_get(a, i));
  return n;
}

static inline int fixture_load(const char *dir, fixture *f) {
  char path[512];
  memset(f, 0, sizeof *f);
  snprintf(path, sizeof path, "%s/expected.json", dir);
  json_t *j = json_load_file(path, 0, NULL);
  if (!j) return fprintf(stderr, "cannot read %s\n", path), -1;
  f->n_prompt = read_ids(json_object_get(j, "prompt"), f->prompt, 64);
  f->n_greedy = read_ids(json_object_get(j, "greedy"), f->greedy, 64);
  f->n_pos = (int)json_integer_value(json_object_get(j, "n_pos"));
  f->vocab = (int)json_integer_value(json_object_get(j, "vocab"));
  json_decref(j);
  size_t n = (size_t)f->n_pos * (size_t)f->vocab;
  snprintf(path, sizeof path, "%s/logits.f32", dir);
  FILE *fp = fopen(path, "rb");
  f->logits = malloc(n * sizeof(float) + 1);
  size_t got = fp && f->logits ? fread(f->logits, sizeof(float), n, fp) : 0;
  if (fp) fclose(fp);
  if (got != n || f->n_pos != f->n_prompt + f->n_greedy - 1)
    return fprintf(stderr, "bad fixture in %s\n", dir), free(f->logits), -1;
  return 0;
}

/* max |a-b| / max(1, max|ref|) over a row: the exactness measure of the
 * issue (within 1e-4 against PyTorch). */
static inline double rel_err(const float *a, const float *ref, int n) {
  double d = 0, m = 1;
  for (int i = 0; i < n; i++) {
    d = fmax(d, fabs((double)a[i] - ref[i]));
    m = fmax(m, fabs((double)ref[i]));
  }
  return d / m;
}

static inline int argmax(const float *x, int n) {
  int b = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[b]) b = i;
  return b;
}

/* Everything one model needs to run: a pool, a workspace, and logits. */
typedef struct {
  duet_model *m;
  duet_kv_pool *pool;
  duet_workspace *ws;
  float *logits; /* (max_tokens, vocab) */
} runner;

static inline int runner_new(runner *r, duet_model *m, int n_blocks, int block_size, int max_tokens) {
  memset(r, 0, sizeof *r);
  r->m = m;
  int rc = duet_kv_pool_new(n_blocks, block_size, m->cfg.n_layers, m->n_kv_heads_local, m->cfg.head_dim, &r->pool);
  if (rc == DUET_OK) rc = duet_workspace_new(m, max_tokens, &r->ws);
  r->logits = malloc((size_t)max_tokens * (size_t)m->cfg.vocab * sizeof(float));
  return rc == DUET_OK && !r->logits ? DUET_ENOMEM : rc;
}

static inline void runner_free(runner *r) {
  duet_workspace_free(r->ws);
  duet_kv_pool_free(r->pool);
  free(r->logits);
}

/* Logits (n, vocab) of every position of ids, recomputed from scratch in a
 * fresh sequence (one prefill). */
static inline int full_recompute(runner *r, const int *ids, int n, float *out) {
  duet_kv_seq s;
  duet_kv_seq_init(&s);
  int rc = duet_prefill(r->m, r->pool, &s, ids, n, out, 1, r->ws, NULL);
  duet_kv_seq_release(r->pool, &s);
  return rc;
}

#endif
