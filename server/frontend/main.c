/* duetd: the HTTP front end. Loads the tokenizer and chat template of the
 * model, starts the backend (in-process, --workers, or a supervised MPI
 * job), listens, and runs one libuv loop until drained. */

#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/error.h"
#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/threads.h"
#include "engine/tokenizer.h"
#include "server/frontend/chat.h"
#include "server/frontend/drain.h"
#include "server/frontend/generate.h"
#include "server/frontend/listener.h"
#include "server/frontend/tls.h"

static void on_tokens(uint64_t id, const duet_tokens_msg *t, void *u) { duet_gen_tokens(u, id, t); }
static void on_finish(uint64_t id, const duet_finish_msg *f, void *u) { duet_gen_finish(u, id, f); }

static void on_stats(const duet_stats_msg *st, void *u) {
  duet_server *s = u;
  s->metrics.stats = *st;
  s->metrics.have_stats = 1;
}

static void on_state(int ready, const char *why, void *u) {
  duet_server *s = u;
  if (s->backend_ready && !ready) s->metrics.backend_downs++;
  s->backend_ready = ready;
  snprintf(s->backend_why, sizeof s->backend_why, "%s", why ? why : "");
  fprintf(stderr, "duetd: workers %s%s%s\n", ready ? "ready" : "down", why && *why ? ": " : "", why ? why : "");
}

/* dir/config.json, or the first (by name) subdirectory that has one.
 * Paths that do not fit buf are skipped. */
static int find_model(const char *dir, char *buf, size_t cap) {
  if (snprintf(buf, cap, "%s/config.json", dir) < (int)cap && access(buf, R_OK) == 0)
    return snprintf(buf, cap, "%s", dir) < (int)cap ? 0 : -1;
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort), found = -1;
  for (int i = 0; i < n; i++) {
    const char *d = names[i]->d_name;
    if (found < 0 && d[0] != '.' && snprintf(buf, cap, "%s/%s/config.json", dir, d) < (int)cap &&
        access(buf, R_OK) == 0)
      found = snprintf(buf, cap, "%s/%s", dir, d) < (int)cap ? 0 : -1;
    free(names[i]);
  }
  if (n >= 0) free(names);
  return found;
}

/* Without --model: the bundled model (models/NAME/), next to the build
 * (BUILD/bin/../../models) or the install (bin/../share/duet/models). */
static const char *default_model(char *buf, size_t cap) {
  char exe[PATH_MAX], base[PATH_MAX + 32];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return NULL;
  exe[n] = 0;
  const char *dir = dirname(exe);
  static const char *rel[] = {"../../models", "../models", "../share/duet/models"};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    if (snprintf(base, sizeof base, "%s/%s", dir, rel[i]) < (int)sizeof base && find_model(base, buf, cap) == 0)
      return buf;
  }
  return NULL;
}

static int load_model_side(duet_server *s) {
  char path[PATH_MAX];
  duet_config cfg;
  snprintf(path, sizeof path, "%s/config.json", s->opts.model_dir);
  int rc = duet_config_load(path, &cfg);
  if (rc == DUET_OK) rc = duet_config_add_generation_eos(s->opts.model_dir, &cfg);
  if (rc < 0) return rc;
  s->cfg = cfg;
  s->ctx_len = cfg.max_pos;
  /* a KV pool smaller than one context (the default holds at least one)
   * caps every request's length: refuse what it cannot hold with a 400
   * up front, as for the context, rather than fail it in the workers */
  long pool_tokens = (long)s->opts.kv_blocks * DUET_KV_BLOCK_TOKENS;
  if (s->opts.kv_blocks > 0 && !s->opts.workers_addr && pool_tokens < s->ctx_len) {
    fprintf(stderr, "duetd: --kv-blocks %d holds %ld tokens: requests are limited to that (the model's context is %d)\n",
            s->opts.kv_blocks, pool_tokens, s->ctx_len);
    s->ctx_len = (int)pool_tokens;
  }
  s->vocab = cfg.vocab;
  if ((rc = duet_tokenizer_load(s->opts.model_dir, &s->tok)) < 0) return rc;
  if (duet_chat_load(s) < 0)
    fprintf(stderr, "duetd: no chat template (%s): /v1/chat/completions will answer 400\n", duet_last_error());
  const char *name = s->opts.served_name;
  if (!name) {
    snprintf(path, sizeof path, "%s", s->opts.model_dir);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') path[--n] = 0;
    name = basename(path);
  }
  if (strlen(name) >= sizeof s->model_name || strpbrk(name, "\"\\\n"))
    return duet_error(DUET_EINVAL, "--served-model-name: '%s' is too long or has quotes", name);
  snprintf(s->model_name, sizeof s->model_name, "%s", name);
  return 0;
}

static int start(duet_server *s) {
  int rc = load_model_side(s);
  if (rc < 0) return rc;
  if (s->opts.tls_cert && (rc = duet_tls_ctx_new(s->opts.tls_cert, s->opts.tls_key, &s->tls)) < 0) return rc;
  duet_backend_opts bo = {
      .model_dir = s->opts.model_dir, .workers_addr = s->opts.workers_addr, .n_prefill = s->opts.n_prefill,
      .n_decode = s->opts.n_decode, .tp = s->opts.tp ? s->opts.tp : 1, .hostfile = s->opts.hostfile,
      .worker_bin = s->opts.worker_bin, .kv_blocks = s->opts.kv_blocks, .to_f32 = s->opts.to_f32,
      .stall_ms = (uint64_t)(s->opts.stall_timeout * 1000)};
  duet_backend_callbacks cb = {on_tokens, on_finish, on_stats, on_state, s};
  if ((rc = duet_backend_new(s->loop, &bo, &cb, &s->backend)) < 0) return rc;
  s->backend_ready = duet_backend_ready(s->backend);
  if ((rc = duet_listener_start(s)) < 0) return rc;
  duet_drain_install(s);
  fprintf(stderr, "duetd: listening on %s://%s:%d, model '%s' (context %d)\n", s->tls ? "https" : "http",
          s->opts.host, s->opts.port, s->model_name, s->ctx_len);
  return 0;
}

int main(int argc, char **argv) {
  static duet_server srv;
  duet_threads_init(argv); /* short OpenMP spin: see engine/threads.h; before MPI_Init */
  duet_server *s = &srv;
  duet_opts_defaults(&s->opts);
  int rc = duet_opts_parse(&s->opts, argc, argv);
  if (rc == 1) return 0;
  if (rc < 0) {
    fprintf(stderr, "duetd: %s\n", duet_last_error());
    return 2;
  }
  char model_buf[PATH_MAX];
  if (!s->opts.model_dir && !(s->opts.model_dir = default_model(model_buf, sizeof model_buf))) {
    fprintf(stderr, "duetd: no --model given and no bundled model found (models/NAME/config.json)\n");
    return 2;
  }
  s->loop = uv_default_loop();
  duet_metrics_init(&s->metrics);
  if ((rc = start(s)) < 0) {
    fprintf(stderr, "duetd: %s\n", duet_last_error());
    return 1;
  }
  uv_run(s->loop, UV_RUN_DEFAULT);
  fprintf(stderr, "duetd: stopped\n");
  duet_chat_unload(s);
  duet_tokenizer_free(s->tok);
  if (s->tls) SSL_CTX_free(s->tls);
  free(s->gens);
  return 0;
}
