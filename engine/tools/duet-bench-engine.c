/* duet-bench-engine: prefill and decode speed of the engine on random-weight
 * models of the "15M" and "110M" shapes, in F32 and BF16, each figure beside
 * this machine's limit measured in the same run (sgemm peak, memory read
 * bandwidth); optionally a measured roofline of the MLP and attention.
 *
 *   duet-bench-engine [--shapes 15M,110M|none] [--json FILE] [--roofline FILE.svg] [--quick]
 *
 * Prefill: best of 5 rounds (after a warm-up); decode: best of 5 rounds x
 * 16 steps (after 2 warm-up steps each), each step one token for each of B
 * sequences of context 64; the sizes take turns round by round. Best-of,
 * like the limits: on this shared machine the slow runs measure the
 * neighbours (the JSON also has the median step). The limits are the best
 * of the machine probes before, after, and between the rounds (a short
 * sgemm after each prefill round, a read pass after each decode round),
 * so they sample the same moments as the figures.
 * prefill FLOPs = 2 x non-embedding params x tokens + causal attention
 *                 (4 x layers x heads x head_dim x T(T+1)/2) + the last
 *                 position's logits (2 x dim x vocab);
 * decode limit  = read bandwidth / weight bytes read per step (tokens/s at
 *                 batch 1; a step of batch B reads the weights once), or
 *                 the sgemm peak / FLOPs per token when that is lower (a
 *                 large batch is compute-bound: the roofline's other side);
 *                 decode FLOPs per token = 2 x non-embedding params + the
 *                 logits (2 x dim x vocab) + attention over DECODE_CTX + 1
 *                 positions (4 x layers x heads x head_dim x context). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/forward.h"
#include "engine/machine_peak.h"
#include "engine/random_model.h"
#include "engine/roofline.h"
#include "engine/threads.h"

#define DECODE_CTX 64  /* tokens of context each decoding sequence holds */
#define DECODE_STEPS 16
#define ROUNDS 5 /* of prefill and of decode, the sizes taking turns */
#define MAX_BATCH 32
#define MAX_PROMPT 512

static int quick;

static duet_config shape(const char *name) {
  duet_config c;
  memset(&c, 0, sizeof c);
  strcpy(c.arch, "llama");
  c.norm_eps = 1e-5f, c.rope_theta = 10000.f, c.max_pos = 2048, c.vocab = 32000, c.pos = DUET_POS_ROPE_NEOX;
  c.bos_id = 1, c.eos_id = 2;
  if (!strcmp(name, "15M")) c.dim = 288, c.n_layers = 6, c.n_heads = 6, c.hidden = 768, c.tied = 1;
  else if (!strcmp(name, "110M")) c.dim = 768, c.n_layers = 12, c.n_heads = 12, c.hidden = 2048, c.tied = 0;
  else return c; /* dim 0: unknown */
  c.n_kv_heads = c.n_heads, c.head_dim = c.dim / c.n_heads;
  return c;
}

typedef struct {
  duet_model *m;
  duet_kv_pool *pool;
  duet_workspace *ws;
  float *logits;
  int *tokens;
} bench;

static double prefill_flops(const duet_config *c, int T) {
  return 2.0 * (double)duet_model_nonembed_params(c) * T +
         4.0 * c->n_layers * c->n_heads * (double)c->head_dim * T * (T + 1) / 2 + 2.0 * c->dim * (double)c->vocab;
}

// One decoded token's FLOPs at the smallest context a measured step has.
static double decode_flops_per_token(const duet_config *c) {
  return 2.0 * (double)duet_model_nonembed_params(c) + 2.0 * c->dim * (double)c->vocab +
         4.0 * c->n_layers * c->n_heads * (double)c->head_dim * (DECODE_CTX + 1);
}

// Seconds of prefilling T tokens into a fresh sequence.
static int prefill_once(bench *b, int T, double *sec) {
  duet_kv_seq s;
  duet_kv_seq_init(&s);
  double t0 = duet_now();
  int rc = duet_prefill(b->m, b->pool, &s, b->tokens, T, b->logits, 0, b->ws, NULL);
  *sec = duet_now() - t0;
  duet_kv_seq_release(b->pool, &s);
  return rc;
}

/* The best sgemm and read bandwidth of short probes run between the
 * rounds: the limits must also sample the moments the figures did. */
static duet_machine_peak between;

static void probe_sgemm(void) { between.sgemm_gflops = fmax(between.sgemm_gflops, duet_measure_sgemm_gflops(1024, 2)); }

static void probe_read(void) {
  between.read_gbps = fmax(between.read_gbps, duet_measure_read_gbps((size_t)1 << 30, 2));
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// Step times of decoding B sequences of DECODE_CTX tokens together,
// appended to dt[*n...]. The context is prefilled once and its blocks
// copied to the other sequences.
static int bench_decode(bench *b, int B, double *dt, int *n) {
  duet_kv_seq seqs[MAX_BATCH], *sp[MAX_BATCH];
  int rc = DUET_OK, L = b->m->cfg.n_layers;
  for (int i = 0; i < B; i++) duet_kv_seq_init(&seqs[i]), sp[i] = &seqs[i];
  rc = duet_prefill(b->m, b->pool, &seqs[0], b->tokens, DECODE_CTX, NULL, 0, b->ws, NULL);
  for (int i = 1; i < B && rc == DUET_OK; i++) {
    rc = duet_kv_seq_reserve(b->pool, &seqs[i], DECODE_CTX);
    for (int k = 0; k < seqs[i].n_blocks && rc == DUET_OK; k++)
      for (int l = 0; l < L; l++)
        memcpy(duet_kv_layer_data(b->pool, seqs[i].blocks[k], l), duet_kv_layer_data(b->pool, seqs[0].blocks[k], l),
               duet_kv_layer_floats(b->pool) * sizeof(float));
    seqs[i].n_tokens = DECODE_CTX;
  }
  int steps = quick ? 5 : DECODE_STEPS;
  for (int k = -2; k < steps && rc == DUET_OK; k++) { /* two warm-up steps */
    double t0 = duet_now();
    rc = duet_decode(b->m, b->pool, sp, b->tokens + k + 2, B, b->logits, b->ws, NULL);
    if (k >= 0) dt[(*n)++] = duet_now() - t0;
  }
  for (int i = 0; i < B; i++) duet_kv_seq_release(b->pool, &seqs[i]);
  return rc;
}

/* A measured figure; its limit is computed at the end, from the machine's
 * best sgemm and bandwidth seen in this run (before, between the rounds and after). */
static json_t *add_row(json_t *rows, const char *shape_name, const char *dtype, const char *phase, int n, double tok_s,
                       double flops_per_token) {
  json_t *row = json_pack("{s:s,s:s,s:s,s:i,s:f,s:f}", "shape", shape_name, "dtype", dtype, "phase", phase, "n", n,
                          "tokens_per_s", tok_s, "flops_per_token", flops_per_token);
  json_array_append_new(rows, row);
  return row;
}

/* A row's limit in tokens/s and what it is: prefill is held by the sgemm
 * peak; decode by the bandwidth over the weight bytes (B tokens a step)
 * or, when lower, by the peak over its FLOPs (large batches). */
static double row_limit(json_t *r, const duet_machine_peak *mp, const char **what) {
  int n = (int)json_integer_value(json_object_get(r, "n"));
  double compute = mp->sgemm_gflops * 1e9 / json_real_value(json_object_get(r, "flops_per_token"));
  *what = "sgemm peak";
  if (json_string_value(json_object_get(r, "phase"))[0] == 'p') return compute;
  double bandwidth = mp->read_gbps * 1e9 / json_real_value(json_object_get(r, "bytes_per_step")) * n;
  if (bandwidth <= compute) *what = "bandwidth / weights";
  return fmin(bandwidth, compute);
}

// Print the table and add each row's limit and share to the JSON.
static void finish_rows(json_t *rows, const duet_machine_peak *mp) {
  size_t i;
  json_t *r;
  printf("%-5s %-5s %-8s %4s %12s %12s  %-20s %6s\n", "shape", "dtype", "phase", "n", "tokens/s", "limit", "limit is", "share");
  json_array_foreach(rows, i, r) {
    const char *what;
    double ts = json_real_value(json_object_get(r, "tokens_per_s")), limit = row_limit(r, mp, &what);
    printf("%-5s %-5s %-8s %4d %12.1f %12.1f  %-20s %5.1f%%\n", json_string_value(json_object_get(r, "shape")),
           json_string_value(json_object_get(r, "dtype")), json_string_value(json_object_get(r, "phase")),
           (int)json_integer_value(json_object_get(r, "n")), ts, limit, what, 100 * ts / limit);
    json_object_set_new(r, "limit_tokens_per_s", json_real(limit));
    json_object_set_new(r, "limit", json_string(what));
    json_object_set_new(r, "share", json_real(ts / limit));
  }
}

// tokens/s of a shape's decode at batch n in dtype dt, 0 if not measured
static double decode_rate(json_t *rows, const char *shape_name, const char *dt, int n) {
  size_t i;
  json_t *r;
  json_array_foreach(rows, i, r) {
    if (!strcmp(json_string_value(json_object_get(r, "shape")), shape_name) &&
        !strcmp(json_string_value(json_object_get(r, "dtype")), dt) &&
        !strcmp(json_string_value(json_object_get(r, "phase")), "decode") &&
        json_integer_value(json_object_get(r, "n")) == n)
      return json_real_value(json_object_get(r, "tokens_per_s"));
  }
  return 0;
}

/* The ratios between figures a reader compares (a larger batch against
 * batch 1, BF16 against F32 at batch 1), printed and added to root. */
static void print_ratios(json_t *rows, const char *shape_name, json_t *root) {
  double f1 = decode_rate(rows, shape_name, "F32", 1), f32 = decode_rate(rows, shape_name, "F32", 32);
  double b1 = decode_rate(rows, shape_name, "BF16", 1), b32 = decode_rate(rows, shape_name, "BF16", 32);
  if (!(f1 > 0 && b1 > 0)) return;
  printf("%s: decode batch 32 / batch 1 = %.2fx (F32), %.2fx (BF16); batch 1 BF16 / F32 = %.2fx\n", shape_name,
         f32 / f1, b32 / b1, b1 / f1);
  json_object_set_new(root, shape_name,
                      json_pack("{s:f,s:f,s:f}", "f32_batch32_over_batch1", f32 / f1, "bf16_batch32_over_batch1",
                                b32 / b1, "bf16_over_f32_batch1", b1 / f1));
}

/* Rounds over the prompt sizes in turn (a slow spell of this shared
 * machine hits every size alike), an sgemm probe after each; each figure
 * is the best round. */
static int prefill_rounds(bench *b, const char *name, const char *dn, json_t *rows) {
  int prompts[] = {128, 512}, rounds = quick ? 1 : ROUNDS, rc = DUET_OK;
  double best[2] = {1e30, 1e30}, sec;
  for (int i = 0; i < 2 && rc == DUET_OK; i++) rc = prefill_once(b, prompts[i], &sec); /* warm-up */
  for (int r = 0; r < rounds && rc == DUET_OK; r++) {
    for (int i = 0; i < 2 && rc == DUET_OK; i++)
      if ((rc = prefill_once(b, prompts[i], &sec)) == DUET_OK && sec < best[i]) best[i] = sec;
    probe_sgemm();
  }
  for (int i = 0; i < 2 && rc == DUET_OK; i++)
    add_row(rows, name, dn, "prefill", prompts[i], prompts[i] / best[i], prefill_flops(&b->m->cfg, prompts[i]) / prompts[i]);
  return rc;
}

/* The same for the batch sizes, a read probe after each round; each
 * figure is the best step (the median goes to the JSON). */
static int decode_rounds(bench *b, const char *name, const char *dn, json_t *rows) {
  int batches[] = {1, 8, 32}, n[3] = {0, 0, 0}, rounds = quick ? 1 : ROUNDS, rc = DUET_OK;
  double bytes = (double)duet_model_decode_bytes(b->m), step_s[3][ROUNDS * DECODE_STEPS];
  for (int r = 0; r < rounds && rc == DUET_OK; r++) {
    for (int i = 0; i < 3 && rc == DUET_OK; i++) rc = bench_decode(b, batches[i], step_s[i], &n[i]);
    probe_read();
  }
  for (int i = 0; i < 3 && rc == DUET_OK; i++) {
    qsort(step_s[i], (size_t)n[i], sizeof(double), cmp_double);
    json_t *row = add_row(rows, name, dn, "decode", batches[i], batches[i] / step_s[i][0], decode_flops_per_token(&b->m->cfg));
    json_object_set_new(row, "bytes_per_step", json_real(bytes));
    json_object_set_new(row, "median_tokens_per_s", json_real(batches[i] / step_s[i][n[i] / 2]));
  }
  return rc;
}

static int bench_model(const char *name, duet_dtype dt, json_t *rows) {
  duet_config c = shape(name);
  if (!c.dim) return duet_error(DUET_EINVAL, "unknown shape '%s' (15M or 110M)", name);
  duet_random_model *rm;
  int rc = duet_random_model_new(&c, dt, 42, &rm);
  if (rc < 0) return rc;
  bench b = {&rm->model, NULL, NULL, NULL, NULL};
  int blocks = (MAX_PROMPT + 15) / 16 + MAX_BATCH * ((DECODE_CTX + DECODE_STEPS + 2 + 15) / 16 + 1);
  rc = duet_kv_pool_new(blocks, 16, c.n_layers, c.n_kv_heads, c.head_dim, &b.pool);
  if (rc == DUET_OK) rc = duet_workspace_new(b.m, MAX_PROMPT, &b.ws);
  b.logits = malloc(sizeof(float) * MAX_BATCH * c.vocab);
  b.tokens = malloc(sizeof(int) * MAX_PROMPT);
  if (rc == DUET_OK && (!b.logits || !b.tokens)) rc = duet_error(DUET_ENOMEM, "bench buffers");
  for (int i = 0; b.tokens && i < MAX_PROMPT; i++) b.tokens[i] = (i * 7919 + 13) % c.vocab;
  const char *dn = dt == DUET_F32 ? "F32" : "BF16";
  if (rc == DUET_OK) rc = prefill_rounds(&b, name, dn, rows);
  if (rc == DUET_OK) rc = decode_rounds(&b, name, dn, rows);
  free(b.logits), free(b.tokens);
  duet_workspace_free(b.ws);
  duet_kv_pool_free(b.pool);
  duet_random_model_free(rm);
  return rc;
}

static void usage(FILE *f) {
  fprintf(f, "usage: duet-bench-engine [--shapes 15M,110M|none] [--json FILE] [--roofline FILE.svg] [--quick]\n"
             "  Prefill tokens/s at 128 and 512 prompt tokens and decode tokens/s at batch 1, 8, 32\n"
             "  (context %d), F32 and BF16 weights, as shares of this machine's sgemm peak and\n"
             "  memory read bandwidth measured in the same run. --roofline plots the MLP and the\n"
             "  attention measured alone against the measured roofline. --quick: fewer repetitions.\n",
          DECODE_CTX);
}

int main(int argc, char **argv) {
  duet_threads_init(argv);
  const char *json_path = NULL, *svg_path = NULL;
  char shapes[64] = "15M,110M";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    else if (!strcmp(argv[i], "--roofline") && i + 1 < argc) svg_path = argv[++i];
    else if (!strcmp(argv[i], "--shapes") && i + 1 < argc) snprintf(shapes, sizeof shapes, "%s", argv[++i]);
    else if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage(stdout), 0;
    else return fprintf(stderr, "duet-bench-engine: unknown or incomplete option '%s'\n", argv[i]), usage(stderr), 2;
  }
  /* every shape named is known before seconds go into measuring the machine */
  char check[64];
  int named = 0;
  snprintf(check, sizeof check, "%s", shapes);
  for (char *save = NULL, *s = strtok_r(check, ",", &save); s; s = strtok_r(NULL, ",", &save), named++)
    if (strcmp(s, "none") && !shape(s).dim)
      return fprintf(stderr, "duet-bench-engine: --shapes: unknown shape '%s' (15M, 110M or none)\n", s), 2;
  if (!named) return fprintf(stderr, "duet-bench-engine: --shapes: no shape named (15M, 110M or none)\n"), 2;
  duet_machine_peak mp;
  if (duet_machine_peak_measure(&mp) < 0) return fprintf(stderr, "duet-bench-engine: %s\n", duet_last_error()), 1;
  printf("before:  ");
  duet_machine_peak_print(stdout, &mp);
  printf("OpenMP wait policy: %s (set OMP_WAIT_POLICY=active or passive to choose)\n", duet_threads_wait_policy());
  json_t *rows = json_array();
  int rc = DUET_OK;
  for (char *save = NULL, *s = strtok_r(shapes, ",", &save); s && rc == DUET_OK; s = strtok_r(NULL, ",", &save)) {
    if (!strcmp(s, "none")) continue;
    rc = bench_model(s, DUET_F32, rows);
    if (rc == DUET_OK) rc = bench_model(s, DUET_BF16, rows);
  }
  // the machine is shared: measure again and keep the best of both, so a
  // share is never flattered by a limit measured in a busy moment
  duet_machine_peak end;
  if (rc == DUET_OK && json_array_size(rows) && duet_machine_peak_measure(&end) == DUET_OK) {
    printf("after:   ");
    duet_machine_peak_print(stdout, &end);
    printf("between: sgemm %.1f GFLOP/s, memory read %.1f GB/s (best probes between the rounds)\n",
           between.sgemm_gflops, between.read_gbps);
    mp.sgemm_gflops = fmax(mp.sgemm_gflops, fmax(end.sgemm_gflops, between.sgemm_gflops));
    mp.read_gbps = fmax(mp.read_gbps, fmax(end.read_gbps, between.read_gbps));
    printf("limits:  sgemm %.1f GFLOP/s, read %.1f GB/s (the best of before, between and after)\n", mp.sgemm_gflops,
           mp.read_gbps);
  }
  json_t *ratios = json_object();
  if (json_array_size(rows)) finish_rows(rows, &mp);
  print_ratios(rows, "15M", ratios);
  print_ratios(rows, "110M", ratios);
  json_t *roof = NULL;
  if (rc == DUET_OK && svg_path) rc = duet_roofline_run(&mp, svg_path, quick, &roof);
  if (rc == DUET_OK && json_path) {
    json_t *root = json_pack("{s:{s:f,s:f,s:i,s:s},s:o}", "machine", "sgemm_gflops", mp.sgemm_gflops, "read_gbps",
                             mp.read_gbps, "threads", mp.threads, "omp_wait_policy", duet_threads_wait_policy(),
                             "results", json_incref(rows));
    json_object_set(root, "ratios", ratios);
    if (roof) json_object_set(root, "roofline", roof);
    if (json_dump_file(root, json_path, JSON_INDENT(2)) != 0) rc = duet_error(DUET_EIO, "cannot write %s", json_path);
    json_decref(root);
  }
  json_decref(rows);
  json_decref(ratios);
  json_decref(roof);
  if (rc < 0) return fprintf(stderr, "duet-bench-engine: %s\n", duet_last_error()), 1;
  return 0;
}
