// The paged KV cache path against full recomputation: prefill in chunks and
// decode with a small block size (sequences cross blocks), a batch of
// sequences of different lengths decoded together against each decoded
// alone, tensor-parallel shards with an allreduce hook against the whole
// model, the layer_done hook, and every refusal leaving sequences unchanged.
#include <pthread.h>

#include "engine/ops/linear.h"
#include "forward_util.h"

#define TOL 2e-5 /* C against C: only summation order differs */

static duet_model *load(const char *name, int tp_rank, int tp_size) {
  char dir[256];
  snprintf(dir, sizeof dir, "fixtures/models/%s", name);
  duet_load_opts o = {.tp_rank = tp_rank, .tp_size = tp_size};
  duet_model *m = NULL;
  int rc = duet_model_load(dir, &o, &m);
  CHECK_OK(rc);
  return rc < 0 ? NULL : m;
}

static int test_ids[40] = {5, 17, 200, 3, 99, 42, 7, 180, 66, 13, 250, 31, 8, 144, 77, 9, 120, 55, 61, 2,
                           19, 28, 37, 46, 64, 73, 82, 91, 100, 109, 118, 127, 136, 145, 154, 163, 172, 181, 190, 199};

// Chunked prefill (chunks of `chunk`) then greedy decode, block size 4;
// every step's logits against a full recompute of the sequence so far.
static void chunked_vs_recompute(const char *name, int chunk) {
  duet_model *m = load(name, 0, 1);
  if (!m) return;
  runner r;
  CHECK_OK(runner_new(&r, m, 64, 4, 40));
  int V = m->cfg.vocab, n_prompt = 11, ids[40];
  memcpy(ids, test_ids, sizeof ids);
  float *lg = malloc(sizeof(float) * V), *full = malloc(sizeof(float) * 40 * V);
  duet_kv_seq s;
  duet_kv_seq_init(&s);
  for (int p = 0; p < n_prompt; p += chunk) {
    int n = n_prompt - p < chunk ? n_prompt - p : chunk;
    CHECK_OK(duet_prefill(m, r.pool, &s, ids + p, n, p + n == n_prompt ? lg : NULL, 0, r.ws, NULL));
  }
  CHECK(s.n_tokens == n_prompt && s.n_blocks == 3);
  double worst = 0;
  int n = n_prompt, same = 1;
  for (; n < 30; n++) {
    CHECK_OK(full_recompute(&r, ids, n, full));
    worst = fmax(worst, rel_err(lg, full + (size_t)(n - 1) * V, V));
    ids[n] = argmax(lg, V);
    same &= ids[n] == argmax(full + (size_t)(n - 1) * V, V);
    duet_kv_seq *sp = &s;
    CHECK_OK(duet_decode(m, r.pool, &sp, &ids[n], 1, lg, r.ws, NULL));
  }
  printf("%-16s chunk %d, block 4: paged vs recompute max rel err %.2e, tokens %s\n", name, chunk, worst,
         same ? "identical" : "DIFFERENT");
  CHECK(worst < TOL && same && s.n_tokens == 30 && s.n_blocks == 8);
  duet_kv_seq_release(r.pool, &s);
  free(lg), free(full);
  runner_free(&r);
  duet_model_free(m);
}

// S (<= MAX_S) sequences of lengths 1..17 decoded together for 8 steps
// equal the same sequences decoded one at a time: within TOL, and bit for
// bit up to DUET_LINEAR_ROW_MAX_N (above it the linear layers use the
// blocked kernel, whose sums are ordered differently).
enum { MAX_S = 12, BLOCKS = 128 };
static void batch_vs_alone(const char *name, int S) {
  enum { STEPS = 8 };
  duet_model *m = load(name, 0, 1);
  if (!m) return;
  runner r;
  CHECK_OK(runner_new(&r, m, BLOCKS, 4, 32));
  int V = m->cfg.vocab, len[MAX_S];
  for (int i = 0; i < S; i++) len[i] = 1 + (5 * i) % 17;
  float *alone = malloc(sizeof(float) * S * STEPS * V);
  int tok_alone[MAX_S][STEPS], tok[MAX_S];
  for (int i = 0; i < S; i++) { // alone
    duet_kv_seq s;
    duet_kv_seq_init(&s);
    CHECK_OK(duet_prefill(m, r.pool, &s, test_ids + i, len[i], r.logits, 0, r.ws, NULL));
    for (int k = 0; k < STEPS; k++) {
      int t = tok_alone[i][k] = argmax(r.logits, V);
      duet_kv_seq *sp = &s;
      CHECK_OK(duet_decode(m, r.pool, &sp, &t, 1, alone + ((size_t)i * STEPS + k) * V, r.ws, NULL));
      memcpy(r.logits, alone + ((size_t)i * STEPS + k) * V, sizeof(float) * V);
    }
    duet_kv_seq_release(r.pool, &s);
  }
  duet_kv_seq seqs[MAX_S], *sp[MAX_S];
  for (int i = 0; i < S; i++) { // together
    duet_kv_seq_init(&seqs[i]);
    sp[i] = &seqs[i];
    CHECK_OK(duet_prefill(m, r.pool, &seqs[i], test_ids + i, len[i], r.logits + (size_t)i * V, 0, r.ws, NULL));
  }
  double worst = 0;
  int same = 1;
  for (int k = 0; k < STEPS; k++) {
    for (int i = 0; i < S; i++) tok[i] = argmax(r.logits + (size_t)i * V, V), same &= tok[i] == tok_alone[i][k];
    CHECK_OK(duet_decode(m, r.pool, sp, tok, S, r.logits, r.ws, NULL));
    for (int i = 0; i < S; i++)
      worst = fmax(worst, rel_err(r.logits + (size_t)i * V, alone + ((size_t)i * STEPS + k) * V, V));
  }
  printf("%-16s batch of %d (lengths 1..17): together vs alone max rel err %.2e, tokens %s\n", name, S, worst,
         same ? "identical" : "DIFFERENT");
  CHECK(worst < TOL && same);
#if defined(__AVX2__) && defined(__FMA__)
  /* the vector kernels sum each output in one order for batches up to
   * DUET_LINEAR_ROW_MAX_N (linear.h): not close, the same bits */
  CHECK(S > DUET_LINEAR_ROW_MAX_N || worst == 0, "%s: batch of %d differs from alone (%.2e)", name, S, worst);
#endif
  for (int i = 0; i < S; i++) duet_kv_seq_release(r.pool, &seqs[i]);
  CHECK(duet_kv_free_count(r.pool) == BLOCKS);
  free(alone);
  runner_free(&r);
  duet_model_free(m);
}

static int layer_calls, layer_ok;
static void on_layer(int layer, int first_pos, int n, void *ctx) {
  int *expect = ctx; /* {next layer, first_pos, n} */
  layer_ok &= layer == expect[0] && first_pos == expect[1] && n == expect[2];
  expect[0]++;
  layer_calls++;
}

// Refusals: nothing changes in the sequences or the pool.
static void refusals(void) {
  duet_model *m = load("llama_gqa_tied", 0, 1);
  if (!m) return;
  runner r;
  CHECK_OK(runner_new(&r, m, 3, 4, 8));
  duet_kv_seq a, b, *ab[2] = {&a, &b}, *aa[2] = {&a, &a};
  duet_kv_seq_init(&a), duet_kv_seq_init(&b);
  CHECK(duet_prefill(m, r.pool, &a, test_ids, 9, NULL, 0, r.ws, NULL) == DUET_EINVAL); /* > max_tokens */
  int bad[2] = {3, 256};
  CHECK(duet_prefill(m, r.pool, &a, bad, 2, NULL, 0, r.ws, NULL) == DUET_ERANGE);
  CHECK(strstr(duet_last_error(), "256") != NULL);
  CHECK(a.n_tokens == 0 && a.n_blocks == 0 && duet_kv_free_count(r.pool) == 3);
  // layer_done: once per layer with the chunk's positions
  int expect[3] = {0, 0, 4};
  duet_forward_hooks h = {.layer_done = on_layer, .layer_done_ctx = expect};
  layer_ok = 1;
  CHECK_OK(duet_prefill(m, r.pool, &a, test_ids, 4, NULL, 0, r.ws, &h));
  expect[0] = 0, expect[1] = 4, expect[2] = 4;
  CHECK_OK(duet_prefill(m, r.pool, &b, test_ids, 4, NULL, 0, r.ws, NULL));
  CHECK_OK(duet_prefill(m, r.pool, &a, test_ids + 4, 4, NULL, 0, r.ws, &h));
  CHECK(layer_ok && layer_calls == 2 * m->cfg.n_layers);
  // a and b both at a block boundary, one block free: neither advances
  CHECK(duet_decode(m, r.pool, ab, test_ids, 2, r.logits, r.ws, NULL) == DUET_ENOSPC);
  CHECK(a.n_tokens == 8 && b.n_tokens == 4 && a.n_blocks == 2 && b.n_blocks == 1 && duet_kv_free_count(r.pool) == 0);
  CHECK(duet_decode(m, r.pool, aa, test_ids, 2, r.logits, r.ws, NULL) == DUET_EINVAL);
  CHECK(duet_prefill(m, r.pool, &b, test_ids, 1, NULL, 0, r.ws, NULL) == DUET_ENOSPC && b.n_tokens == 4);
  duet_kv_seq_release(r.pool, &a);
  CHECK_OK(duet_decode(m, r.pool, &ab[1], test_ids, 1, r.logits, r.ws, NULL));
  CHECK(b.n_tokens == 5 && b.n_blocks == 2);
  duet_kv_seq_release(r.pool, &b);
  // a pool or workspace made for another shape is refused, not overrun
  duet_kv_pool *other;
  CHECK_OK(duet_kv_pool_new(4, 4, m->cfg.n_layers, m->n_kv_heads_local + 1, m->cfg.head_dim, &other));
  CHECK(duet_prefill(m, other, &a, test_ids, 2, NULL, 0, r.ws, NULL) == DUET_EINVAL && a.n_tokens == 0);
  duet_kv_pool_free(other);
  CHECK_OK(duet_kv_pool_new(4, 4, m->cfg.n_layers - 1, m->n_kv_heads_local, m->cfg.head_dim, &other));
  CHECK(duet_decode(m, other, ab, test_ids, 1, NULL, r.ws, NULL) == DUET_EINVAL);
  duet_kv_pool_free(other);
  duet_model *q3 = load("qwen3_qknorm", 0, 1);
  if (q3) CHECK(duet_prefill(q3, r.pool, &a, test_ids, 2, NULL, 0, r.ws, NULL) == DUET_EINVAL);
  duet_model_free(q3);
  runner_free(&r);
  duet_model_free(m);
}

/* Tensor parallel: two shards, each in its own thread, with an allreduce
 * hook that sums the two partial outputs; logits equal the whole model's. */
typedef struct {
  pthread_barrier_t *bar;
  float **bufs; /* [2] published by each shard */
  float *sum;   /* scratch for the sum */
  int rank;
} tp_ctx;

static void tp_allreduce(float *buf, size_t n, void *ctx) {
  tp_ctx *c = ctx;
  c->bufs[c->rank] = buf;
  pthread_barrier_wait(c->bar);
  if (c->rank == 0)
    for (size_t i = 0; i < n; i++) c->sum[i] = c->bufs[0][i] + c->bufs[1][i];
  pthread_barrier_wait(c->bar);
  memcpy(buf, c->sum, n * sizeof(float));
  pthread_barrier_wait(c->bar); /* nobody overwrites sum before both copied */
}

typedef struct {
  duet_model *m;
  tp_ctx ctx;
  float *logits; /* (T, vocab) of the prompt then STEPS decode rows */
  int rc;
} tp_job;

enum { TP_PROMPT = 7, TP_STEPS = 5 };

static void *tp_run(void *arg) {
  tp_job *j = arg;
  runner r;
  int V = j->m->cfg.vocab;
  j->rc = runner_new(&r, j->m, 16, 4, 16);
  duet_forward_hooks h = {.allreduce = tp_allreduce, .allreduce_ctx = &j->ctx};
  duet_kv_seq s, *sp = &s;
  duet_kv_seq_init(&s);
  if (j->rc == DUET_OK) j->rc = duet_prefill(j->m, r.pool, &s, test_ids, TP_PROMPT, j->logits, 1, r.ws, &h);
  for (int k = 0; k < TP_STEPS && j->rc == DUET_OK; k++)
    j->rc = duet_decode(j->m, r.pool, &sp, &test_ids[TP_PROMPT + k], 1, j->logits + (size_t)(TP_PROMPT + k) * V, r.ws, &h);
  duet_kv_seq_release(r.pool, &s);
  runner_free(&r);
  return NULL;
}

static void tensor_parallel(const char *name) {
  duet_model *whole = load(name, 0, 1), *m0 = load(name, 0, 2), *m1 = load(name, 1, 2);
  if (!whole || !m0 || !m1) return duet_model_free(whole), duet_model_free(m0), duet_model_free(m1);
  int V = whole->cfg.vocab, T = TP_PROMPT + TP_STEPS;
  float *ref = malloc(sizeof(float) * T * V), *sum = malloc(sizeof(float) * 64 * whole->cfg.dim), *bufs[2];
  runner r;
  CHECK_OK(runner_new(&r, whole, 16, 4, 16));
  CHECK_OK(full_recompute(&r, test_ids, T, ref));
  runner_free(&r);
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, 2);
  tp_job jobs[2] = {{m0, {&bar, bufs, sum, 0}, malloc(sizeof(float) * T * V), 0},
                    {m1, {&bar, bufs, sum, 1}, malloc(sizeof(float) * T * V), 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, tp_run, &jobs[i]);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  CHECK_OK(jobs[0].rc);
  CHECK_OK(jobs[1].rc);
  double worst = 0;
  for (int t = 0; t < T; t++)
    for (int i = 0; i < 2; i++) worst = fmax(worst, rel_err(jobs[i].logits + (size_t)t * V, ref + (size_t)t * V, V));
  printf("%-16s tensor parallel 2 shards vs whole: max rel err %.2e\n", name, worst);
  CHECK(m0->n_heads_local * 2 == whole->cfg.n_heads && m0->hidden_local * 2 == whole->cfg.hidden);
  CHECK(worst < TOL);
  pthread_barrier_destroy(&bar);
  free(jobs[0].logits), free(jobs[1].logits), free(ref), free(sum);
  duet_model_free(whole), duet_model_free(m0), duet_model_free(m1);
}

int main(void) {
  chunked_vs_recompute("llama_gqa_tied", 3);
  chunked_vs_recompute("qwen3_qknorm", 4);
  chunked_vs_recompute("llama_bf16", 5);
  chunked_vs_recompute("llama_sinusoidal", 2);
  chunked_vs_recompute("llama_odd", 9); /* sizes off multiples of 8; chunk of 9 rows, then 2 */
  batch_vs_alone("llama_mha", 4);
  batch_vs_alone("llama_bf16", 4);
  batch_vs_alone("llama_odd", 4);
  batch_vs_alone("llama_odd", MAX_S);
  batch_vs_alone("llama_bf16", MAX_S);
  refusals();
  tensor_parallel("llama_gqa_tied");
  tensor_parallel("qwen2_bias");
  tensor_parallel("qwen3_qknorm");
  return finish();
}
