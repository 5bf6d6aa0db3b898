#ifndef DUET_MACHINE_PEAK_H
#define DUET_MACHINE_PEAK_H

/* This machine's limits, measured in the benchmark's own run so that every
 * figure a benchmark prints can be read as a share of what the hardware
 * does right now (the machines are shared and datasheet numbers lie):
 *  - sgemm peak: best GFLOP/s of OpenBLAS cblas_sgemm on square float32
 *    matrices (n = 1024 and 2048), all cores;
 *  - memory read bandwidth: best GB/s (1e9 bytes/s) of a multi-threaded
 *    (OpenMP, all cores) sum over a buffer of at least 1 GiB, far larger
 *    than any cache.
 * Usage:
 *   duet_machine_peak mp;
 *   if (duet_machine_peak_measure(&mp) == DUET_OK) duet_machine_peak_print(stdout, &mp);
 *   share = achieved_gflops / mp.sgemm_gflops; */

#include <stddef.h>
#include <stdio.h>

typedef struct {
  double sgemm_gflops; /* best of the sizes tried */
  double read_gbps;    /* 1e9 bytes per second */
  int threads;         /* OpenMP threads used (= cores available) */
} duet_machine_peak;

/* Measure both (a few seconds). DUET_ENOMEM if the buffers cannot be had. */
int duet_machine_peak_measure(duet_machine_peak *out);

/* The two parts, for callers that want other sizes: best GFLOP/s of `reps`
 * n x n x n sgemm calls; best GB/s of `reps` passes reading `bytes`.
 * Both return a negative error code on allocation failure. */
double duet_measure_sgemm_gflops(int n, int reps);
double duet_measure_read_gbps(size_t bytes, int reps);

/* Ridge point of the roofline: FLOPs per byte where compute takes over. */
double duet_machine_ridge(const duet_machine_peak *mp);

/* "machine: sgemm peak 150.2 GFLOP/s, memory read 18.4 GB/s (2 threads)" */
void duet_machine_peak_print(FILE *f, const duet_machine_peak *mp);

/* Monotonic wall clock in seconds (for every benchmark's timings). */
double duet_now(void);

#endif
