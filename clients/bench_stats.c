#include "clients/bench_stats.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Linear interpolation between closest ranks (numpy's default), so the
 * figures compare with vLLM's. */
static double percentile(const double *sorted, int n, double q) {
  if (n == 0) return 0;
  double pos = q / 100.0 * (n - 1);
  int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

duet_dist duet_dist_of(double *v, int n) {
  duet_dist d = {0, 0, 0, 0};
  if (n == 0) return d;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  double sum = 0;
  for (int i = 0; i < n; i++) sum += v[i];
  d.mean = sum / n;
  d.median = percentile(v, n, 50);
  d.p90 = percentile(v, n, 90);
  d.p99 = percentile(v, n, 99);
  return d;
}

int duet_bench_parse_goodput(const char *spec, duet_bench_summary *s) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *tok = strtok(buf, " ,"); tok; tok = strtok(NULL, " ,")) {
    char *colon = strchr(tok, ':');
    char *end;
    double ms = colon ? strtod(colon + 1, &end) : -1;
    if (!colon || *end || !(ms > 0 && isfinite(ms)))
      return duet_error(DUET_EINVAL, "--goodput: expected NAME:MS, got '%s'", tok);
    *colon = 0;
    if (!strcmp(tok, "ttft")) s->slo_ttft = ms;
    else if (!strcmp(tok, "tpot")) s->slo_tpot = ms;
    else if (!strcmp(tok, "e2el")) s->slo_e2el = ms;
    else return duet_error(DUET_EINVAL, "--goodput: unknown metric '%s' (ttft, tpot, e2el)", tok);
  }
  return DUET_OK;
}

static double tpot_of(const duet_bench_result *r) {
  return r->output_tokens > 1 ? (r->e2el - r->ttft) / (r->output_tokens - 1) : 0;
}

static int meets_slo(const duet_bench_result *r, const duet_bench_summary *s) {
  return (!s->slo_ttft || r->ttft * 1e3 <= s->slo_ttft) &&
         (!s->slo_tpot || tpot_of(r) * 1e3 <= s->slo_tpot) &&
         (!s->slo_e2el || r->e2el * 1e3 <= s->slo_e2el);
}

int duet_bench_summarize(const duet_bench_result *r, int n, double duration, duet_bench_summary *s) {
  double *ttft = malloc(sizeof(double) * ((size_t)n + 1)), *tpot = malloc(sizeof(double) * ((size_t)n + 1));
  double *e2el = malloc(sizeof(double) * ((size_t)n + 1));
  long n_itl = 0;
  for (int i = 0; i < n; i++) n_itl += r[i].ok ? r[i].n_itl : 0;
  double *itl = malloc(sizeof(double) * (size_t)(n_itl + 1));
  if (!ttft || !tpot || !e2el || !itl) {
    free(ttft), free(tpot), free(e2el), free(itl);
    return duet_error(DUET_ENOMEM, "benchmark summary: out of memory for %d requests, %ld token gaps", n, n_itl);
  }
  int k = 0, k_tpot = 0, good = 0;
  long j = 0;
  s->completed = s->failed = 0;
  s->total_output = s->total_prompt = 0;
  for (int i = 0; i < n; i++) {
    if (!r[i].ok) { s->failed++; continue; }
    s->completed++;
    s->total_output += r[i].output_tokens;
    s->total_prompt += r[i].prompt_tokens > 0 ? r[i].prompt_tokens : 0;
    ttft[k] = r[i].ttft * 1e3;
    e2el[k++] = r[i].e2el * 1e3;
    if (r[i].output_tokens > 1) tpot[k_tpot++] = tpot_of(&r[i]) * 1e3;
    for (int t = 0; t < r[i].n_itl; t++) itl[j++] = r[i].itl[t] * 1e3;
    good += meets_slo(&r[i], s);
  }
  s->duration = duration;
  s->req_throughput = duration > 0 ? s->completed / duration : 0;
  s->output_throughput = duration > 0 ? s->total_output / duration : 0;
  s->total_token_throughput = duration > 0 ? (s->total_output + s->total_prompt) / duration : 0;
  s->ttft = duet_dist_of(ttft, k);
  s->e2el = duet_dist_of(e2el, k);
  s->tpot = duet_dist_of(tpot, k_tpot);
  s->itl = duet_dist_of(itl, (int)j);
  s->goodput = (s->slo_ttft || s->slo_tpot || s->slo_e2el) && duration > 0 ? good / duration : -1;
  free(ttft), free(tpot), free(e2el), free(itl);
  return DUET_OK;
}

void duet_bench_print(FILE *f, const duet_bench_summary *s) {
  fprintf(f, "============ Serving Benchmark Result ============\n");
  fprintf(f, "%-40s %10d\n", "Successful requests:", s->completed);
  fprintf(f, "%-40s %10d\n", "Failed requests:", s->failed);
  fprintf(f, "%-40s %10.2f\n", "Benchmark duration (s):", s->duration);
  fprintf(f, "%-40s %10ld\n", "Total input tokens:", s->total_prompt);
  fprintf(f, "%-40s %10ld\n", "Total generated tokens:", s->total_output);
  fprintf(f, "%-40s %10.2f\n", "Request throughput (req/s):", s->req_throughput);
  if (s->goodput >= 0) fprintf(f, "%-40s %10.2f\n", "Request goodput (req/s):", s->goodput);
  fprintf(f, "%-40s %10.2f\n", "Output token throughput (tok/s):", s->output_throughput);
  fprintf(f, "%-40s %10.2f\n", "Total token throughput (tok/s):", s->total_token_throughput);
  const struct { const char *title, *abbr; const duet_dist *d; } rows[] = {
      {"Time to First Token", "TTFT", &s->ttft},
      {"Time per Output Token (excl. 1st token)", "TPOT", &s->tpot},
      {"Inter-token Latency", "ITL", &s->itl},
      {"End-to-end Latency", "E2EL", &s->e2el}};
  static const char *stat_names[] = {"Mean", "Median", "P90", "P99"};
  for (int i = 0; i < 4; i++) {
    const double v[] = {rows[i].d->mean, rows[i].d->median, rows[i].d->p90, rows[i].d->p99};
    fprintf(f, "%s\n", rows[i].title);
    for (int k = 0; k < 4; k++) {
      char label[64];
      snprintf(label, sizeof label, "%s %s (ms):", stat_names[k], rows[i].abbr);
      fprintf(f, "%-40s %10.2f\n", label, v[k]);
    }
  }
  fprintf(f, "==================================================\n");
}

static json_t *dist_json(const duet_dist *d) {
  return json_pack("{s:f,s:f,s:f,s:f}", "mean", d->mean, "median", d->median, "p90", d->p90,
                   "p99", d->p99);
}

char *duet_bench_json(const duet_bench_summary *s) {
  json_t *o = json_pack("{s:i,s:i,s:f,s:I,s:I,s:f,s:f,s:f}", "completed", s->completed, "failed",
                        s->failed, "duration_s", s->duration, "total_input_tokens",
                        (json_int_t)s->total_prompt, "total_output_tokens",
                        (json_int_t)s->total_output, "request_throughput", s->req_throughput,
                        "output_throughput", s->output_throughput, "total_token_throughput",
                        s->total_token_throughput);
  json_object_set_new(o, "ttft_ms", dist_json(&s->ttft));
  json_object_set_new(o, "tpot_ms", dist_json(&s->tpot));
  json_object_set_new(o, "itl_ms", dist_json(&s->itl));
  json_object_set_new(o, "e2el_ms", dist_json(&s->e2el));
  if (s->goodput >= 0) {
    json_object_set_new(o, "request_goodput", json_real(s->goodput));
    json_object_set_new(o, "goodput_slo_ms", json_pack("{s:f,s:f,s:f}", "ttft", s->slo_ttft,
                                                       "tpot", s->slo_tpot, "e2el", s->slo_e2el));
  }
  char *out = json_dumps(o, JSON_INDENT(2));
  json_decref(o);
  return out;
}
