#include "engine/machine_peak.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/big_alloc.h"
#include "engine/error.h"

double duet_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double duet_measure_sgemm_gflops(int n, int reps) {
  size_t nn = (size_t)n * (size_t)n;
  float *a = malloc(nn * sizeof(float)), *b = malloc(nn * sizeof(float)), *c = malloc(nn * sizeof(float));
  if (!a || !b || !c) {
    free(a), free(b), free(c);
    return duet_error(DUET_ENOMEM, "machine_peak: %d x %d sgemm buffers", n, n);
  }
  for (size_t i = 0; i < nn; i++) {
    a[i] = (float)(i % 7) * 0.01f;
    b[i] = (float)(i % 5) * 0.01f;
    c[i] = 0.f;
  }
  double best = 0;
  // one untimed call first: OpenBLAS starts its thread pool and faults in pages
  for (int r = -1; r < reps; r++) {
    double t0 = duet_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.f, a, n, b, n, 0.f, c, n);
    double dt = duet_now() - t0;
    double gf = 2.0 * n * (double)n * n / dt * 1e-9;
    if (r >= 0 && gf > best) best = gf;
  }
  free(a), free(b), free(c);
  return best;
}

// Sum of a float buffer, split over all threads; 8 independent accumulators
// per thread so the loop is bound by loads, not by the add latency.
static float read_pass(const float *x, size_t n) {
  float total = 0.f;
#pragma omp parallel reduction(+ : total)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    size_t lo = n / (size_t)nt * (size_t)t, hi = t == nt - 1 ? n : n / (size_t)nt * (size_t)(t + 1);
    float acc[16] = {0};
    size_t i = lo;
    for (; i + 16 <= hi; i += 16)
      for (int k = 0; k < 16; k++) acc[k] += x[i + k];
    for (; i < hi; i++) acc[0] += x[i];
    for (int k = 0; k < 16; k++) total += acc[k];
  }
  return total;
}

double duet_measure_read_gbps(size_t bytes, int reps) {
  size_t n = bytes / sizeof(float);
  float *x = duet_big_alloc(n * sizeof(float)); /* the pages the weights get */
  if (!x) return duet_error(DUET_ENOMEM, "machine_peak: %zu-byte read buffer", bytes);
  // write every page first so the timed passes read real memory, not the zero page
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) x[i] = (float)(i & 1023) * 1e-3f;
  double best = 0;
  volatile float sink = 0.f;
  for (int r = 0; r < reps; r++) {
    double t0 = duet_now();
    sink += read_pass(x, n);
    double gbps = (double)(n * sizeof(float)) / (duet_now() - t0) * 1e-9;
    if (gbps > best) best = gbps;
  }
  (void)sink;
  duet_big_free(x);
  return best;
}

int duet_machine_peak_measure(duet_machine_peak *out) {
  memset(out, 0, sizeof *out);
  out->threads = omp_get_max_threads();
  double g1 = duet_measure_sgemm_gflops(1024, 6);
  double g2 = duet_measure_sgemm_gflops(2048, 3);
  if (g1 < 0 || g2 < 0) return DUET_ENOMEM;
  out->sgemm_gflops = g1 > g2 ? g1 : g2;
  double bw = duet_measure_read_gbps((size_t)1 << 30, 5);
  if (bw < 0) return DUET_ENOMEM;
  out->read_gbps = bw;
  return DUET_OK;
}

double duet_machine_ridge(const duet_machine_peak *mp) {
  return mp->read_gbps > 0 ? mp->sgemm_gflops / mp->read_gbps : 0;
}

void duet_machine_peak_print(FILE *f, const duet_machine_peak *mp) {
  fprintf(f, "machine: sgemm peak %.1f GFLOP/s, memory read %.1f GB/s (%d threads), ridge %.1f FLOP/byte\n",
          mp->sgemm_gflops, mp->read_gbps, mp->threads, duet_machine_ridge(mp));
}
