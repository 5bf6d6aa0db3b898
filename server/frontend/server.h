#ifndef DUET_FRONTEND_SERVER_H
#define DUET_FRONTEND_SERVER_H

/* The state of one duetd process, owned by its libuv loop thread: options,
 * the listening socket and the open connections, the backend, the
 * tokenizer and chat template, the generations in flight and the metrics. */

#include <openssl/ssl.h>
#include <stdint.h>
#include <uv.h>

#include "engine/model.h"
#include "server/frontend/metrics.h"
#include "server/frontend/opts.h"
#include "server/runtime/backend.h"

typedef struct duet_conn duet_conn;
typedef struct duet_job duet_job;
typedef struct duet_tokenizer duet_tokenizer;
typedef struct duet_chat_template duet_chat_template;

typedef struct {
  uint64_t key;
  void *val;
} duet_slot;

typedef struct duet_server {
  uv_loop_t *loop;
  duet_opts opts;
  uv_tcp_t listener;
  int listening;
  SSL_CTX *tls;
  duet_conn *conns; /* doubly linked */
  duet_backend *backend;
  int backend_ready;
  char backend_why[160];
  duet_tokenizer *tok;
  duet_chat_template *tmpl;
  char model_name[128];
  int ctx_len;      /* model context (max_position_embeddings) */
  int vocab;
  duet_config cfg;  /* config.json, with generation_config.json's EOS ids */
  uint64_t next_id; /* backend request ids */
  /* generation id -> choice, open addressing (key 0 = empty, ~0 = deleted) */
  duet_slot *gens;
  size_t gens_cap, gens_n, gens_used;
  int jobs;         /* jobs alive (waiting for the backend's finishes) */
  duet_metrics metrics;
  /* shutdown */
  int draining;
  uv_signal_t sigterm, sigint;
  uv_timer_t drain_timer;
  int exit_code;
} duet_server;

/* Loop clock in seconds (uv_now is ms; hrtime gives the token overhead
 * figures their resolution). */
double duet_now(void);

#endif
