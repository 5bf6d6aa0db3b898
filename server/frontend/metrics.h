#ifndef DUET_FRONTEND_METRICS_H
#define DUET_FRONTEND_METRICS_H

/* duetd's counters and histograms, rendered in Prometheus text format for
 * GET /metrics. The loop thread is the only writer, so no atomics. Worker
 * figures (queues, KV blocks, KV bytes moved) are the latest stats message
 * the backend forwarded. */

#include <stdint.h>

#include "proto/message.h"

#define DUET_HIST_BUCKETS 14
typedef struct {
  uint64_t counts[DUET_HIST_BUCKETS + 1]; /* last one: +Inf */
  double sum;
  uint64_t n;
} duet_hist;

/* Front-end time per streamed token event (from the backend's callback to
 * the bytes handed to the socket), the last N kept for quantiles. */
#define DUET_OVERHEAD_SAMPLES 4096

typedef struct {
  uint64_t responses[600];   /* by HTTP status */
  uint64_t prompt_tokens, generation_tokens;
  uint64_t cancels;          /* client disconnects / resets that cancelled work */
  uint64_t connections_total;
  int connections_open;
  int requests_running;      /* generations submitted and not finished */
  duet_hist ttft, tpot, e2e; /* seconds */
  int have_stats;
  duet_stats_msg stats;
  int backend_ready;
  uint64_t backend_downs;
  double overhead[DUET_OVERHEAD_SAMPLES];
  uint64_t n_overhead;
} duet_metrics;

void duet_metrics_init(duet_metrics *m);
void duet_hist_observe(duet_hist *h, double seconds);
void duet_metrics_overhead(duet_metrics *m, double seconds);
/* Renders everything; returns a malloc'd NUL-terminated string. */
char *duet_metrics_render(const duet_metrics *m, const char *model);

#endif
