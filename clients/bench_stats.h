#ifndef DUET_BENCH_STATS_H
#define DUET_BENCH_STATS_H

/* Serving metrics as `vllm bench serve` defines them, over the requests of
 * one benchmark run: TTFT (request sent -> first token), TPOT ((E2EL -
 * TTFT) / (output tokens - 1)), ITL (gaps between successive token
 * events), E2EL (end to end); goodput = requests per second that meet every
 * given SLO (DistServe). */

#include <stdio.h>

typedef struct {
  int ok;
  double ttft, e2el;   /* seconds */
  int output_tokens, prompt_tokens;
  double *itl;         /* gaps between token events, seconds */
  int n_itl;
} duet_bench_result;

typedef struct {
  double mean, median, p90, p99;
} duet_dist;

typedef struct {
  int completed, failed;
  double duration;
  double req_throughput, output_throughput, total_token_throughput;
  long total_output, total_prompt;
  duet_dist ttft, tpot, itl, e2el; /* milliseconds */
  double goodput;                  /* requests/s meeting all SLOs; -1 if no SLO given */
  double slo_ttft, slo_tpot, slo_e2el; /* ms, 0 = not set */
} duet_bench_summary;

/* Distribution of n values (sorted in place). */
duet_dist duet_dist_of(double *v, int n);
/* Parse "ttft:MS tpot:MS e2el:MS" (space or comma separated) into s. */
int duet_bench_parse_goodput(const char *spec, duet_bench_summary *s);
/* DUET_ENOMEM when the sorting buffers cannot be allocated. */
int duet_bench_summarize(const duet_bench_result *r, int n, double duration, duet_bench_summary *s);
void duet_bench_print(FILE *f, const duet_bench_summary *s);
/* The summary as a JSON object string (malloc'd). */
char *duet_bench_json(const duet_bench_summary *s);

#endif
