/* The supervised backend: duetd starts the MPI job itself
 *   mpirun -np 1+(P+D)*T --oversubscribe [--allow-run-as-root]
 *          [--hostfile F] duet-worker --prefill P --decode D --tp T
 *          --model DIR --listen 127.0.0.1:0 [--kv-blocks K] [--f32]
 * reads the coordinator's "DUET_WORKER_LISTENING HOST:PORT" line from the
 * job's stdout, and connects through the socket client. When the job
 * exits or the connection drops, every in-flight request fails at once,
 * the backend reports not-ready, and the job is restarted with a growing
 * delay (reset after a minute of good health). A job that stays up but
 * stops making progress (a rank stopped or wedged: no token, finish or
 * step for --stall-timeout while requests are in flight) is treated the same way:
 * its requests fail and it is killed, then restarted. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/error.h"
#include "engine/model.h"
#include "server/runtime/backend_impl.h"
#include "server/runtime/topo.h"

#define LISTEN_TAG "DUET_WORKER_LISTENING "

typedef struct {
  duet_backend *b;
  duet_sock_client *client;
  uv_process_t proc;
  uv_pipe_t out;
  uv_timer_t timer; /* restart delay, or the kill deadline when closing or stalled */
  uv_timer_t watch; /* stall watchdog, every second */
  int running, out_open, backoff_ms, closing, kill_stage;
  uint64_t started_ms;
  char line[512];
  size_t line_len;
} sup;

static void start_job(sup *s);

static void worker_path(const duet_backend *b, char *out, size_t n) {
  if (b->o.worker_bin) {
    snprintf(out, n, "%s", b->o.worker_bin);
    return;
  }
  /* Beside the running executable (duetd). */
  char exe[2048];
  ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[k > 0 ? k : 0] = 0;
  char *slash = strrchr(exe, '/');
  if (slash) slash[1] = 0;
  snprintf(out, n, "%sduet-worker", slash ? exe : "");
}

static void maybe_done(sup *s);

static void on_handle_closed(uv_handle_t *h) {
  (void)h;
}

static void on_client_closed(duet_backend *b) {
  sup *s = b->impl;
  s->client = NULL;
  maybe_done(s);
}

static void on_timer_closed(uv_handle_t *h) {
  sup *s = h->data;
  duet_backend *b = s->b;
  free(s);
  duet_backend_closed(b);
}

/* The two timers close one after the other: s is freed by the last. */
static void on_watch_closed(uv_handle_t *h) {
  sup *s = h->data;
  uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

/* Closing: free once the job has exited, the pipe and the client are
 * closed. */
static void maybe_done(sup *s) {
  if (!s->closing || s->running || s->out_open || s->client) return;
  if (!uv_is_closing((uv_handle_t *)&s->watch)) uv_close((uv_handle_t *)&s->watch, on_watch_closed);
}

static void on_restart(uv_timer_t *t) {
  sup *s = t->data;
  if (!s->closing) start_job(s);
}

static void on_pipe_closed(uv_handle_t *h) {
  sup *s = h->data;
  s->out_open = 0;
  maybe_done(s);
}

static void job_down(sup *s, const char *why) {
  duet_backend_fail_all(s->b, why);
  duet_backend_set_ready(s->b, 0, why);
}

static void on_job_exit(uv_process_t *p, int64_t status, int sig) {
  sup *s = p->data;
  s->running = 0;
  uv_close((uv_handle_t *)p, on_handle_closed);
  char why[200];
  snprintf(why, sizeof why, "worker job exited (status %lld, signal %d)", (long long)status, sig);
  job_down(s, why);
  if (s->closing) {
    uv_timer_stop(&s->timer);
    if (s->client) duet_sock_client_close(s->client, 0, on_client_closed);
    maybe_done(s);
    return;
  }
  /* The old coordinator may outlive mpirun for a moment: drop its
   * connection so the next job's can be made. */
  duet_sock_client_drop(s->client);
  if (uv_now(s->b->loop) - s->started_ms > 60000) s->backoff_ms = 500;
  fprintf(stderr, "duet: %s; restarting in %d ms\n", why, s->backoff_ms);
  uv_timer_start(&s->timer, on_restart, (uint64_t)s->backoff_ms, 0);
  s->backoff_ms = s->backoff_ms * 2 > 30000 ? 30000 : s->backoff_ms * 2;
}

static void on_kill_timer(uv_timer_t *t) {
  sup *s = t->data;
  if (!s->running) return;
  uv_process_kill(&s->proc, s->kill_stage++ ? SIGKILL : SIGTERM);
  uv_timer_start(&s->timer, on_kill_timer, 3000, 0);
}

/* TERM now, KILL 3 s later if the job lingers. */
static void kill_job(sup *s) {
  s->kill_stage = 0;
  on_kill_timer(&s->timer);
}

/* Requests in flight and no token, finish or step from the job for stall_ms:
 * a rank is stopped or wedged, and MPI will not notice (the job neither
 * exits nor drops the socket). Fail the requests now, report not-ready,
 * and kill the job (TERM, then KILL 3 s later); on_job_exit restarts it. */
static void on_watch(uv_timer_t *t) {
  sup *s = t->data;
  duet_backend *b = s->b;
  if (!s->running || s->closing || !b->ready || b->inflight.n == 0) return;
  uint64_t idle = uv_now(b->loop) - b->last_progress_ms;
  if (idle < b->o.stall_ms) return;
  char why[200];
  snprintf(why, sizeof why, "worker job stalled: no token for %.0f s with %d requests in flight; restarting it",
           (double)idle / 1000, b->inflight.n);
  fprintf(stderr, "duet: %s\n", why);
  job_down(s, why);
  kill_job(s);
}

/* The connection dropped while the job runs: the job is no use without
 * its coordinator's socket; stop it and let on_job_exit restart it. */
static void on_client_down(duet_backend *b, const char *why) {
  sup *s = b->impl;
  (void)why;
  /* a kill already under way (a stall) keeps its own schedule */
  if (s->running && (s->closing || !uv_is_active((uv_handle_t *)&s->timer))) kill_job(s);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

static void on_line(sup *s, const char *line) {
  const char *p = strstr(line, LISTEN_TAG);
  if (!p) {
    fprintf(stderr, "%s\n", line); /* pass the job's output on */
    return;
  }
  char addr[128];
  snprintf(addr, sizeof addr, "%s", p + strlen(LISTEN_TAG));
  addr[strcspn(addr, " \r\n")] = 0;
  if (s->client && duet_sock_client_connect(s->client, addr))
    fprintf(stderr, "duet: cannot connect to the workers at %s: %s\n", addr, duet_last_error());
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  sup *s = st->data;
  for (ssize_t i = 0; i < n; i++) {
    char c = buf->base[i];
    if (c == '\n' || s->line_len == sizeof s->line - 1) {
      s->line[s->line_len] = 0;
      on_line(s, s->line);
      s->line_len = 0;
    } else {
      s->line[s->line_len++] = c;
    }
  }
  free(buf->base);
  if (n < 0) uv_close((uv_handle_t *)st, on_pipe_closed);
}

static int build_args(sup *s, char **argv, char *store, size_t cap) {
  const duet_backend_opts *o = &s->b->o;
  int np = 1 + (o->n_prefill + o->n_decode) * (o->tp > 0 ? o->tp : 1), argc = 0;
  size_t used = 0;
#define ARG(...)                                                                   \
  do {                                                                             \
    int k = snprintf(store + used, cap - used, __VA_ARGS__);                       \
    if (k < 0 || (size_t)k >= cap - used) return duet_error(DUET_ERANGE, "worker command line too long"); \
    argv[argc++] = store + used;                                                   \
    used += (size_t)k + 1;                                                         \
  } while (0)
  ARG("mpirun");
  ARG("-np");
  ARG("%d", np);
  ARG("--oversubscribe");
  ARG("--bind-to");
  ARG("none"); /* Open MPI binds each rank to one core when ranks <= cores; BLAS wants them all */
  if (geteuid() == 0) ARG("--allow-run-as-root");
  if (o->hostfile) {
    ARG("--hostfile");
    ARG("%s", o->hostfile);
  }
  char bin[4096];
  worker_path(s->b, bin, sizeof bin);
  ARG("%s", bin);
  ARG("--prefill");
  ARG("%d", o->n_prefill);
  ARG("--decode");
  ARG("%d", o->n_decode);
  ARG("--tp");
  ARG("%d", o->tp > 0 ? o->tp : 1);
  ARG("--model");
  ARG("%s", o->model_dir);
  ARG("--listen");
  ARG("127.0.0.1:0");
  if (o->kv_blocks > 0) {
    ARG("--kv-blocks");
    ARG("%d", o->kv_blocks);
  }
  if (o->to_f32) ARG("--f32");
#undef ARG
  argv[argc] = NULL;
  return DUET_OK;
}

static void start_job(sup *s) {
  char *argv[32], store[8192];
  if (s->out_open) { /* the last job's output pipe is still closing */
    uv_timer_start(&s->timer, on_restart, 100, 0);
    return;
  }
  if (build_args(s, argv, store, sizeof store)) {
    job_down(s, duet_last_error());
    return;
  }
  uv_pipe_init(s->b->loop, &s->out, 0);
  s->out.data = s;
  uv_stdio_container_t io[3] = {{UV_IGNORE, {0}}, {UV_CREATE_PIPE | UV_WRITABLE_PIPE, {0}}, {UV_INHERIT_FD, {0}}};
  io[1].data.stream = (uv_stream_t *)&s->out;
  io[2].data.fd = 2;
  uv_process_options_t po = {0};
  po.exit_cb = on_job_exit;
  po.file = "mpirun";
  po.args = argv;
  po.stdio = io;
  po.stdio_count = 3;
  s->proc.data = s;
  s->line_len = 0;
  s->kill_stage = 0;
  int rc = uv_spawn(s->b->loop, &s->proc, &po);
  s->out_open = 1;
  if (rc) {
    uv_close((uv_handle_t *)&s->out, on_pipe_closed);
    uv_close((uv_handle_t *)&s->proc, on_handle_closed);
    char why[200];
    snprintf(why, sizeof why, "cannot start mpirun: %s", uv_strerror(rc));
    job_down(s, why);
    uv_timer_start(&s->timer, on_restart, (uint64_t)s->backoff_ms, 0);
    s->backoff_ms = s->backoff_ms * 2 > 30000 ? 30000 : s->backoff_ms * 2;
    return;
  }
  s->running = 1;
  s->started_ms = uv_now(s->b->loop);
  uv_read_start((uv_stream_t *)&s->out, on_alloc, on_read);
}

/* What the job's ranks would refuse (a --tp that does not divide the
 * model's heads, a misshapen tensor), refused here first: the job would
 * exit at once and be restarted forever while duetd answered 503, the
 * reason only in the job's log. With a hostfile the weights may live only
 * on the other hosts, so then only the config is checked. */
static int check_layout(const duet_backend *b) {
  if (b->o.n_prefill < 1 || b->o.n_decode < 1)
    return duet_error(DUET_EINVAL, "a worker job needs at least one prefill and one decode group (got %d and %d)",
                      b->o.n_prefill, b->o.n_decode);
  char path[4096 + 16];
  duet_config cfg;
  snprintf(path, sizeof path, "%s/config.json", b->o.model_dir);
  int rc = duet_config_load(path, &cfg);
  if (rc < 0) return rc;
  duet_topo t = {b->o.n_prefill, b->o.n_decode, b->o.tp > 1 ? b->o.tp : 1};
  if ((rc = duet_topo_validate(&t, duet_topo_size(&t), cfg.n_heads, cfg.n_kv_heads, cfg.hidden)) < 0) return rc;
  duet_load_opts lo = {b->o.to_f32, 0, t.tp};
  return b->o.hostfile ? DUET_OK : duet_model_check(b->o.model_dir, &lo);
}

int duet_supervised_start(duet_backend *b) {
  int rc = check_layout(b);
  if (rc < 0) return rc;
  sup *s = calloc(1, sizeof *s);
  if (!s) return duet_error(DUET_ENOMEM, "supervised backend: out of memory");
  s->b = b;
  s->backoff_ms = 500;
  b->impl = s;
  rc = duet_sock_client_new(b, 0, on_client_down, &s->client);
  if (rc) {
    free(s);
    b->impl = NULL;
    return rc;
  }
  uv_timer_init(b->loop, &s->timer);
  s->timer.data = s;
  uv_timer_init(b->loop, &s->watch);
  s->watch.data = s;
  if (b->o.stall_ms) uv_timer_start(&s->watch, on_watch, 1000, 1000);
  start_job(s);
  return DUET_OK;
}

int duet_supervised_send(duet_backend *b, uint8_t *buf, size_t len) {
  sup *s = b->impl;
  return duet_sock_client_send(s->client, buf, len);
}

/* Ask the job to drain (SHUTDOWN), then SIGTERM after 5 s, SIGKILL later. */
void duet_supervised_close(duet_backend *b) {
  sup *s = b->impl;
  s->closing = 1;
  uv_timer_stop(&s->timer);
  if (!s->running) {
    if (s->client) duet_sock_client_close(s->client, 0, on_client_closed);
    maybe_done(s);
    return;
  }
  uint8_t *buf;
  size_t len;
  if (duet_sock_client_connected(s->client) && duet_msg_encode_empty(DUET_MSG_SHUTDOWN, 0, &buf, &len) == 0)
    duet_sock_client_send(s->client, buf, len);
  uv_timer_start(&s->timer, on_kill_timer, 5000, 0);
}
