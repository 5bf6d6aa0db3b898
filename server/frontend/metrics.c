#include "server/frontend/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Latency buckets from 1 ms to 60 s: TTFT, TPOT and e2e all fit in them. */
static const double BUCKETS[DUET_HIST_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                  0.25,  0.5,    1,     2.5,  5,     10,  60};

void duet_metrics_init(duet_metrics *m) { memset(m, 0, sizeof *m); }

void duet_hist_observe(duet_hist *h, double s) {
  int i = 0;
  while (i < DUET_HIST_BUCKETS && s > BUCKETS[i]) i++;
  h->counts[i]++;
  h->sum += s;
  h->n++;
}

void duet_metrics_overhead(duet_metrics *m, double s) {
  m->overhead[m->n_overhead++ % DUET_OVERHEAD_SAMPLES] = s;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct {
  char *p;
  size_t len, cap;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->p && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 8192;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) return;
    b->p = q;
    b->cap = cap;
  }
}

static void hist(sbuf *b, const char *name, const char *help, const duet_hist *h) {
  put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  uint64_t cum = 0;
  for (int i = 0; i < DUET_HIST_BUCKETS; i++) {
    cum += h->counts[i];
    put(b, "%s_bucket{le=\"%g\"} %llu\n", name, BUCKETS[i], (unsigned long long)cum);
  }
  cum += h->counts[DUET_HIST_BUCKETS];
  put(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)cum,
      name, h->sum, name, (unsigned long long)h->n);
}

static void gauge(sbuf *b, const char *name, const char *type, const char *help, double v) {
  put(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

/* Per-group worker gauges: one labelled sample per group. */
static void groups(sbuf *b, const char *name, const char *help, const char *role, const int32_t *v,
                   int n) {
  put(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
  for (int g = 0; g < n && g < DUET_MAX_GROUPS; g++) put(b, "%s{%s=\"%d\"} %d\n", name, role, g, v[g]);
}

static void worker_stats(sbuf *b, const duet_stats_msg *s) {
  groups(b, "duet_prefill_queued_tokens", "Prompt tokens waiting per prefill group.", "prefill_group",
         s->prefill_queued_tokens, s->n_prefill_groups);
  groups(b, "duet_prefill_active", "Sequences being prefilled per group.", "prefill_group",
         s->prefill_active, s->n_prefill_groups);
  groups(b, "duet_decode_active", "Sequences decoding per group.", "decode_group", s->decode_active,
         s->n_decode_groups);
  groups(b, "duet_decode_waiting", "Sequences waiting to join a decode batch.", "decode_group",
         s->decode_waiting, s->n_decode_groups);
  groups(b, "duet_kv_blocks_used", "KV cache blocks in use per decode group.", "decode_group",
         s->kv_blocks_used, s->n_decode_groups);
  groups(b, "duet_kv_blocks_free", "KV cache blocks free per decode group.", "decode_group",
         s->kv_blocks_free, s->n_decode_groups);
  gauge(b, "duet_kv_bytes_transferred_total", "counter", "KV bytes moved prefill -> decode.",
        (double)s->kv_bytes_moved);
  gauge(b, "duet_kv_transfer_seconds_total", "counter", "Time spent moving KV blocks.",
        s->kv_transfer_seconds);
  gauge(b, "duet_decode_steps_total", "counter", "Decode steps run.", (double)s->decode_steps);
  gauge(b, "duet_prefill_steps_total", "counter", "Prefill steps run.", (double)s->prefill_steps);
}

static void overhead(sbuf *b, const duet_metrics *m) {
  static const char *name = "duet_token_overhead_seconds";
  put(b, "# HELP %s Front-end time per streamed token event, backend callback to socket write (last %d).\n"
      "# TYPE %s summary\n", name, DUET_OVERHEAD_SAMPLES, name);
  size_t n = m->n_overhead < DUET_OVERHEAD_SAMPLES ? (size_t)m->n_overhead : DUET_OVERHEAD_SAMPLES;
  double *v = n ? malloc(n * sizeof *v) : NULL;
  if (v) {
    memcpy(v, m->overhead, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_double);
    static const double q[] = {0.5, 0.9, 0.99};
    for (int i = 0; i < 3; i++) put(b, "%s{quantile=\"%g\"} %.9f\n", name, q[i], v[(size_t)(q[i] * (n - 1))]);
    free(v);
  }
  put(b, "%s_count %llu\n", name, (unsigned long long)m->n_overhead);
}

char *duet_metrics_render(const duet_metrics *m, const char *model) {
  sbuf b = {0};
  put(&b, "# HELP duet_requests_total HTTP responses by status code.\n# TYPE duet_requests_total counter\n");
  for (int s = 100; s < 600; s++)
    if (m->responses[s]) put(&b, "duet_requests_total{code=\"%d\"} %llu\n", s, (unsigned long long)m->responses[s]);
  gauge(&b, "duet_prompt_tokens_total", "counter", "Prompt tokens processed.", (double)m->prompt_tokens);
  gauge(&b, "duet_generation_tokens_total", "counter", "Tokens generated.", (double)m->generation_tokens);
  gauge(&b, "duet_cancels_total", "counter", "Generations cancelled by a client going away.", (double)m->cancels);
  gauge(&b, "duet_connections_total", "counter", "Connections accepted.", (double)m->connections_total);
  gauge(&b, "duet_connections_open", "gauge", "Connections open.", m->connections_open);
  gauge(&b, "duet_requests_running", "gauge", "Generations in flight (queued or running).", m->requests_running);
  gauge(&b, "duet_backend_ready", "gauge", "1 when the workers are up.", m->backend_ready);
  gauge(&b, "duet_backend_down_total", "counter", "Times the workers went down.", (double)m->backend_downs);
  hist(&b, "duet_time_to_first_token_seconds", "Time to first token.", &m->ttft);
  hist(&b, "duet_time_per_output_token_seconds", "Mean time per output token after the first.", &m->tpot);
  hist(&b, "duet_e2e_request_latency_seconds", "End-to-end request latency.", &m->e2e);
  overhead(&b, m);
  if (m->have_stats) worker_stats(&b, &m->stats);
  put(&b, "# HELP duet_model_info The served model.\n# TYPE duet_model_info gauge\n");
  put(&b, "duet_model_info{model=\"%s\"} 1\n", model);
  return b.p;
}
