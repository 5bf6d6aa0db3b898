/* duet-bench-ops: the engine/ops kernels alone, beside this machine's
 * sgemm peak and memory read bandwidth measured in the same run.
 *   duet-bench-ops [--quick]
 * Rows: linear (out = x W^T) for F32/BF16/F16 weights at decode (N = 1,
 * 4, 16) and prefill (N = 32, 512) batch sizes on a 2048x768 MLP-sized
 * matrix and a 32000x768 LM-head-sized one (larger than the L3), printed as
 * GB/s of weights read (share of read bandwidth) and GFLOP/s (share of
 * the sgemm peak); then attention forward + backward at a training shape.
 * Each figure is the best of several back-to-back calls. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/error.h"
#include "engine/machine_peak.h"
#include "engine/ops/attention.h"
#include "engine/ops/dtype.h"
#include "engine/ops/linear.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Best seconds per call of `calls` back-to-back calls, over `rounds`. */
static double time_linear(float *out, const float *x, const duet_matrix *W, int N, int rounds, int calls) {
  double best = 1e30;
  for (int r = 0; r < rounds; r++) {
    double t = now();
    for (int c = 0; c < calls; c++) duet_linear_forward(out, x, W, NULL, N);
    t = (now() - t) / calls;
    if (t < best) best = t;
  }
  return best;
}

static int bench_linear(int O, int K, const duet_machine_peak *mp, int quick) {
  int Ns[] = {1, 4, 16, 32, 512}, maxN = 512;
  float *w = malloc((size_t)O * K * 4), *x = malloc((size_t)maxN * K * 4), *out = malloc((size_t)maxN * O * 4);
  uint16_t *wb = malloc((size_t)O * K * 2), *wh = malloc((size_t)O * K * 2);
  if (!w || !x || !out || !wb || !wh) {
    free(w), free(x), free(out), free(wb), free(wh);
    return duet_error(DUET_ENOMEM, "duet-bench-ops: no memory for a %dx%d matrix", O, K);
  }
  for (long i = 0; i < (long)O * K; i++) {
    w[i] = (float)((i * 7919) % 2001 - 1000) * 1e-3f;
    wb[i] = duet_f32_to_bf16(w[i]), wh[i] = duet_f32_to_f16(w[i]);
  }
  for (long i = 0; i < (long)maxN * K; i++) x[i] = (float)(i % 13) * 0.01f;
  duet_matrix Ws[3] = {{DUET_F32, O, K, w}, {DUET_BF16, O, K, wb}, {DUET_F16, O, K, wh}};
  const char *names[3] = {"F32", "BF16", "F16"};
  for (size_t n = 0; n < sizeof Ns / sizeof Ns[0]; n++) {
    double f32_time = 0;
    for (int d = 0; d < 3; d++) {
      int N = Ns[n], big = N >= 32;
      double t = time_linear(out, x, &Ws[d], N, big ? 2 : quick ? 3 : 8, big ? 1 : 10);
      double bytes = (double)O * K * (d ? 2 : 4), gf = 2.0 * N * O * K / t / 1e9, gb = bytes / t / 1e9;
      if (!d) f32_time = t;
      printf("linear %5dx%-5d N=%-4d %-5s %9.3f ms %7.1f GB/s (%3.0f%% of read) %7.1f GFLOP/s (%3.0f%% of sgemm)",
             O, K, N, names[d], t * 1e3, gb, 100 * gb / mp->read_gbps, gf, 100 * gf / mp->sgemm_gflops);
      if (d) printf("  %.2fx F32", f32_time / t);
      printf("\n");
    }
  }
  free(w), free(x), free(out), free(wb), free(wh);
  return DUET_OK;
}

static int bench_attention(int B, int T, int nh, int nkv, int hd, const duet_machine_peak *mp) {
  long nq = (long)B * T * nh * hd, nk = (long)B * T * nkv * hd;
  float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *o = malloc(nq * 4);
  float *att = malloc((size_t)B * nh * T * T * 4), *dq = calloc(nq, 4), *dk = calloc(nk, 4), *dv = calloc(nk, 4);
  int rc = DUET_OK;
  if (!q || !k || !v || !o || !att || !dq || !dk || !dv) {
    rc = duet_error(DUET_ENOMEM, "duet-bench-ops: no memory for attention B=%d T=%d", B, T);
    goto done;
  }
  for (long i = 0; i < nq; i++) q[i] = (float)(i % 17) * 0.01f;
  for (long i = 0; i < nk; i++) k[i] = (float)(i % 13) * 0.01f, v[i] = (float)(i % 7) * 0.1f;
  double bf = 1e30, bb = 1e30;
  for (int r = 0; r < 5; r++) {
    double t = now();
    duet_attention_forward(o, att, q, k, v, B, T, nh, nkv, hd);
    t = now() - t, bf = t < bf ? t : bf;
    t = now();
    duet_attention_backward(dq, dk, dv, o, q, k, v, att, B, T, nh, nkv, hd);
    t = now() - t, bb = t < bb ? t : bb;
  }
  double fl = 2.0 * B * nh * (double)T * T * hd; /* causal half of QK^T and PV */
  printf("attention B=%d T=%d nh=%d nkv=%d hd=%d: forward %.2f ms %.1f GFLOP/s (%.0f%%), backward %.2f ms %.1f "
         "GFLOP/s (%.0f%%)\n",
         B, T, nh, nkv, hd, bf * 1e3, fl / bf / 1e9, 100 * fl / bf / 1e9 / mp->sgemm_gflops, bb * 1e3,
         2 * fl / bb / 1e9, 100 * 2 * fl / bb / 1e9 / mp->sgemm_gflops);
done:
  free(q), free(k), free(v), free(o), free(att), free(dq), free(dk), free(dv);
  return rc;
}

int main(int argc, char **argv) {
  int quick = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else {
      fprintf(stderr, "usage: duet-bench-ops [--quick]\n");
      return strcmp(argv[i], "-h") && strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  duet_machine_peak mp;
  int rc = duet_machine_peak_measure(&mp);
  if (rc == DUET_OK) {
    duet_machine_peak_print(stdout, &mp);
    rc = bench_linear(2048, 768, &mp, quick);
  }
  if (rc == DUET_OK) rc = bench_linear(32000, 768, &mp, quick);
  if (rc == DUET_OK) rc = bench_attention(8, 256, 6, 6, 48, &mp);
  if (rc == DUET_OK && !quick) rc = bench_attention(1, 1024, 12, 4, 64, &mp);
  if (rc) fprintf(stderr, "duet-bench-ops: %s\n", duet_last_error());
  return rc ? 1 : 0;
}
