#include "engine/roofline.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/ops/attention.h"
#include "engine/ops/linear.h"
#include "engine/ops/swiglu.h"
#include "engine/paged_attention.h"
#include "engine/random_model.h"
#include "engine/svg_plot.h"

/* MLP_COPIES layers of weights (151 MB in F32, 75 MB in BF16) and MAX_BT
 * tokens of KV (200 MB) are cycled through so each measured call reads
 * its data from memory, not from the 32 MB L3 the previous call filled. */
enum { DIM = 768, HIDDEN = 2048, NH = 12, HD = 64, MAX_N = 512, MAX_T = 2048, MAX_BT = 32768, MAX_PTS = 64, MLP_COPIES = 8 };

typedef struct {
  double x[MAX_PTS], y[MAX_PTS];
  int n;
} series;

typedef struct {
  json_t *points;
  series mlp[2], dec, pre;
  int quick;
} roof;

static void fill(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = (float)((i * 2654435761u) % 2001) / 1000.f - 1.f;
}

static void add(roof *r, series *s, const char *kind, const char *dtype, int batch, int ctx, double flops, double bytes,
                double sec) {
  double ai = flops / bytes, gf = flops / sec * 1e-9;
  if (s->n < MAX_PTS) s->x[s->n] = ai, s->y[s->n] = gf, s->n++;
  json_array_append_new(r->points, json_pack("{s:s,s:s,s:i,s:i,s:f,s:f,s:f,s:f}", "kind", kind, "dtype", dtype, "batch",
                                             batch, "context", ctx, "flops", flops, "bytes", bytes, "intensity", ai,
                                             "gflops", gf));
  printf("roofline %-17s %-4s batch %4d ctx %5d: %7.2f FLOP/B %8.1f GFLOP/s\n", kind, dtype, batch, ctx, ai, gf);
}

/* The three products and the gate of one MLP: x (N,D) -> out (N,D). */
static int mlp(const duet_layer *L, const float *x, float *g, float *u, float *out, int N) {
  int rc;
  if ((rc = duet_linear_forward(g, x, &L->w_gate, NULL, N)) < 0) return rc;
  if ((rc = duet_linear_forward(u, x, &L->w_up, NULL, N)) < 0) return rc;
  duet_swiglu_forward(g, g, u, (long)N * HIDDEN);
  return duet_linear_forward(out, g, &L->w_down, NULL, N);
}

/* Seconds per call, best over repetitions filling about `budget` s. */
#define BEST_TIME(budget, call)                                  \
  ({                                                             \
    double best_ = 1e30, start_ = duet_now();                    \
    for (int rep_ = 0; rep_ < 3 || duet_now() - start_ < (budget); rep_++) { \
      double t0_ = duet_now();                                   \
      call;                                                      \
      double dt_ = duet_now() - t0_;                             \
      if (dt_ < best_) best_ = dt_;                              \
    }                                                            \
    best_;                                                       \
  })

static int run_mlp(roof *r, duet_dtype dt) {
  duet_config c = {.dim = DIM, .hidden = HIDDEN, .n_layers = MLP_COPIES, .n_heads = NH, .n_kv_heads = NH, .head_dim = HD, .vocab = 8};
  duet_random_model *rm;
  int rc = duet_random_model_new(&c, dt, 7, &rm);
  if (rc < 0) return rc;
  float *x = malloc(sizeof(float) * MAX_N * DIM), *out = malloc(sizeof(float) * MAX_N * DIM);
  float *g = malloc(sizeof(float) * MAX_N * HIDDEN), *u = malloc(sizeof(float) * MAX_N * HIDDEN);
  if (!x || !out || !g || !u) rc = duet_error(DUET_ENOMEM, "roofline MLP buffers");
  else fill(x, (size_t)MAX_N * DIM);
  const duet_layer *L = rm->model.layers;
  int next = 0;
  double wbytes = 3.0 * DIM * HIDDEN * (dt == DUET_F32 ? 4 : 2);
  for (int N = 1; N <= MAX_N && rc == DUET_OK; N *= 2) {
    double sec = BEST_TIME(r->quick ? 0.02 : 0.15, rc = mlp(&L[next++ % MLP_COPIES], x, g, u, out, N));
    add(r, &r->mlp[dt == DUET_F32 ? 0 : 1], "mlp", dt == DUET_F32 ? "F32" : "BF16", N, 0, 6.0 * N * DIM * HIDDEN,
        wbytes + 8.0 * N * DIM, sec);
  }
  free(x), free(out), free(g), free(u);
  duet_random_model_free(rm);
  return rc;
}

/* Decode attention over the paged cache: B sequences of T tokens each. */
static int run_decode_attention(roof *r) {
  duet_kv_pool *pool;
  int rc = duet_kv_pool_new(MAX_BT / 16, 16, 1, NH, HD, &pool);
  if (rc < 0) return rc;
  for (int b = 0; b < MAX_BT / 16; b++) fill(duet_kv_layer_data(pool, b, 0), duet_kv_layer_floats(pool));
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  float *q = malloc(sizeof(float) * 32 * NH * HD), *out = malloc(sizeof(float) * 32 * NH * HD);
  float *scratch = malloc(sizeof(float) * (size_t)threads * NH * MAX_T);
  duet_kv_seq *seqs = calloc(MAX_BT / 128, sizeof *seqs), **sp = calloc(MAX_BT / 128, sizeof *sp);
  if (!q || !out || !scratch || !seqs || !sp) rc = duet_error(DUET_ENOMEM, "roofline attention buffers");
  else fill(q, 32 * NH * HD);
  int batches[] = {1, 8, 32}, ctxs[] = {128, 512, 2048};
  for (int bi = 0; bi < 3 && rc == DUET_OK; bi++)
    for (int ti = 0; ti < 3 && rc == DUET_OK; ti++) {
      int B = batches[bi], T = ctxs[ti], sets = MAX_BT / (B * T), next = 0;
      if (sets < 1) continue;
      for (int i = 0; i < sets * B && rc == DUET_OK; i++) { // `sets` batches of B sequences, used in turn
        duet_kv_seq_init(&seqs[i]), sp[i] = &seqs[i];
        rc = duet_kv_seq_reserve(pool, &seqs[i], T);
        seqs[i].n_tokens = T;
      }
      double sec = BEST_TIME(r->quick ? 0.02 : 0.1, duet_paged_attention_decode(out, q, pool, sp + (size_t)(next++ % sets) * B, B, 0, NH, NH, HD, scratch, threads, MAX_T));
      add(r, &r->dec, "attention_decode", "F32", B, T, 4.0 * B * NH * HD * T, 8.0 * B * T * NH * HD + 8.0 * B * NH * HD, sec);
      for (int i = 0; i < sets * B; i++) duet_kv_seq_release(pool, &seqs[i]);
    }
  free(seqs), free(sp);
  free(q), free(out), free(scratch);
  duet_kv_pool_free(pool);
  return rc;
}

/* Causal prefill attention of T tokens on contiguous q, k, v. */
static int run_prefill_attention(roof *r) {
  int rc = DUET_OK, maxT = 1024;
  size_t n = (size_t)maxT * NH * HD;
  float *q = malloc(sizeof(float) * n), *k = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
  float *out = malloc(sizeof(float) * n);
  if (!q || !k || !v || !out) rc = duet_error(DUET_ENOMEM, "roofline attention buffers");
  else fill(q, n), fill(k, n), fill(v, n);
  for (int T = 64; T <= maxT && rc == DUET_OK; T *= 2) {
    double sec = BEST_TIME(r->quick ? 0.02 : 0.15, rc = duet_attention_chunk_forward(out, q, T, k, v, T, NH, NH, HD));
    add(r, &r->pre, "attention_prefill", "F32", 1, T, 4.0 * NH * HD * T * (T + 1) / 2, 16.0 * T * NH * HD, sec);
  }
  free(q), free(k), free(v), free(out);
  return rc;
}

static int plot(const roof *r, const duet_machine_peak *mp, const char *path) {
  char title[160];
  snprintf(title, sizeof title, "Roofline (measured): sgemm peak %.0f GFLOP/s, read %.1f GB/s, %d threads", mp->sgemm_gflops,
           mp->read_gbps, mp->threads);
  duet_plot *p = duet_plot_new(title, "arithmetic intensity (FLOP/byte)", "achieved GFLOP/s");
  if (!p) return duet_error(DUET_ENOMEM, "plot");
  duet_plot_set_log(p, 1, 1);
  series line = {.n = 0};
  for (int i = 0; i <= 40; i++) { // 0.1 .. 1000 FLOP/byte, 10 points a decade
    double ai = pow(10, -1 + 0.1 * i);
    line.x[line.n] = ai, line.y[line.n] = fmin(mp->sgemm_gflops, mp->read_gbps * ai), line.n++;
  }
  int rc = duet_plot_add(p, "roofline: min(peak, bandwidth x intensity)", line.x, line.y, line.n, DUET_PLOT_LINE);
  const series *s[] = {&r->mlp[0], &r->mlp[1], &r->dec, &r->pre};
  // decode attention's points share one intensity: points, not a line
  duet_plot_style styles[] = {DUET_PLOT_LINE_POINTS, DUET_PLOT_LINE_POINTS, DUET_PLOT_POINTS, DUET_PLOT_LINE_POINTS};
  const char *names[] = {"MLP, F32 weights (batch 1..512)", "MLP, BF16 weights (batch 1..512)",
                         "attention decode, paged (batch 1..32, ctx 128..2048)", "attention prefill, causal (T 64..1024)"};
  for (int i = 0; i < 4 && rc == DUET_OK; i++) rc = duet_plot_add(p, names[i], s[i]->x, s[i]->y, s[i]->n, styles[i]);
  char label[64];
  snprintf(label, sizeof label, "ridge: %.1f FLOP/byte", duet_machine_ridge(mp));
  if (rc == DUET_OK) rc = duet_plot_mark(p, duet_machine_ridge(mp), mp->sgemm_gflops, label);
  if (rc == DUET_OK) rc = duet_plot_save(p, path);
  duet_plot_free(p);
  return rc;
}

int duet_roofline_run(const duet_machine_peak *mp, const char *svg_path, int quick, json_t **points) {
  roof *r = calloc(1, sizeof *r);
  if (!r) return duet_error(DUET_ENOMEM, "roofline");
  r->points = json_array();
  r->quick = quick;
  int rc = run_mlp(r, DUET_F32);
  if (rc == DUET_OK) rc = run_mlp(r, DUET_BF16);
  if (rc == DUET_OK) rc = run_decode_attention(r);
  if (rc == DUET_OK) rc = run_prefill_attention(r);
  // measured again after the points: the roofline is the better of the two
  // (a shared machine's busy moment must not put points above the roof)
  duet_machine_peak best = *mp, end;
  if (rc == DUET_OK && duet_machine_peak_measure(&end) == DUET_OK) {
    if (end.sgemm_gflops > best.sgemm_gflops) best.sgemm_gflops = end.sgemm_gflops;
    if (end.read_gbps > best.read_gbps) best.read_gbps = end.read_gbps;
    printf("roofline limits: sgemm %.1f GFLOP/s, read %.1f GB/s (better of before and after)\n", best.sgemm_gflops,
           best.read_gbps);
  }
  if (rc == DUET_OK) rc = plot(r, &best, svg_path);
  if (rc == DUET_OK) *points = r->points;
  else json_decref(r->points);
  free(r);
  return rc;
}
