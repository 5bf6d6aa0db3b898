#include "server/frontend/opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "server/frontend/cors.h"

void duet_opts_defaults(duet_opts *o) {
  memset(o, 0, sizeof *o);
  o->host = "127.0.0.1";
  o->port = 8000;
  o->max_body = 4u << 20;
  o->max_header = 16u << 10;
  o->max_tokens = 4096;
  o->max_streams = 128;
  o->max_conns = 4096;
  o->max_queued = 512;
  o->max_n = 16;
  o->max_pipeline = 16;
  o->idle_timeout = 60;
  o->slow_timeout = 30;
  o->drain_timeout = 30;
  o->stall_timeout = 60;
  o->retry_after = 1;
  o->tp = 1;
  o->api_key = getenv("DUET_API_KEY");
  o->allowed_origin = "*"; /* as vLLM: browser clients work out of the box */
}

void duet_opts_usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [--model DIR] [--host H] [--port P] [options]\n"
          "backend: (none: in-process) | --workers HOST:PORT |\n"
          "         --prefill P --decode D [--tp T] [--hostfile F] [--worker-bin PATH]\n"
          "         [--kv-blocks N] [--f32]\n"
          "serving: --served-model-name NAME --api-key KEY --tls-cert PEM --tls-key PEM\n"
          "         --allowed-origin ORIGIN (CORS; default *, none: off)\n"
          "limits:  --max-body B --max-header B --max-tokens N --max-streams N --max-conns N\n"
          "         --max-queued N --max-n N --max-pipeline N --idle-timeout S\n"
          "         --slow-timeout S --drain-timeout S --stall-timeout S --retry-after S\n"
          "         -v (log each request)\n",
          prog);
}

/* A table of flags keeps parsing to one loop: each entry says where the
 * value goes and of which kind it is. */
typedef enum { K_STR, K_INT, K_SIZE, K_SEC, K_SEC_OR_OFF, K_FLAG } kind; /* K_SEC_OR_OFF: 0 too */
typedef struct {
  const char *name;
  kind k;
  size_t off;
} flag;

#define F(n, k, field) {n, k, offsetof(duet_opts, field)}
static const flag FLAGS[] = {
    F("--host", K_STR, host),           F("--port", K_INT, port),
    F("--model", K_STR, model_dir),     F("--served-model-name", K_STR, served_name),
    F("--workers", K_STR, workers_addr), F("--prefill", K_INT, n_prefill),
    F("--decode", K_INT, n_decode),     F("--tp", K_INT, tp),
    F("--hostfile", K_STR, hostfile),   F("--worker-bin", K_STR, worker_bin),
    F("--kv-blocks", K_INT, kv_blocks), F("--f32", K_FLAG, to_f32),
    F("--tls-cert", K_STR, tls_cert),   F("--tls-key", K_STR, tls_key),
    F("--api-key", K_STR, api_key),     F("--max-body", K_SIZE, max_body),
    F("--max-header", K_SIZE, max_header), F("--max-tokens", K_INT, max_tokens),
    F("--max-streams", K_INT, max_streams), F("--max-conns", K_INT, max_conns),
    F("--max-queued", K_INT, max_queued), F("--max-n", K_INT, max_n),
    F("--max-pipeline", K_INT, max_pipeline), F("--idle-timeout", K_SEC, idle_timeout),
    F("--slow-timeout", K_SEC, slow_timeout), F("--drain-timeout", K_SEC, drain_timeout),
    F("--stall-timeout", K_SEC_OR_OFF, stall_timeout),
    F("--retry-after", K_INT, retry_after), F("-v", K_FLAG, verbose),
    F("--allowed-origin", K_STR, allowed_origin),
};
#undef F

static int set_value(duet_opts *o, const flag *f, const char *v) {
  char *end = NULL;
  void *dst = (char *)o + f->off;
  if (f->k == K_STR) {
    *(const char **)dst = v;
    return 0;
  }
  if (f->k == K_SEC || f->k == K_SEC_OR_OFF) {
    double d = strtod(v, &end);
    int off = f->k == K_SEC_OR_OFF && d == 0;
    if (!*v || *end || !(d > 0 || off) || d > 86400)
      return duet_error(DUET_EINVAL, "%s: expected seconds in (0, 86400]%s, got '%s'", f->name,
                        f->k == K_SEC_OR_OFF ? " or 0 (off)" : "", v);
    *(double *)dst = d;
    return 0;
  }
  long long x = strtoll(v, &end, 10);
  if (!*v || *end || x < 0 || x > (1LL << 40))
    return duet_error(DUET_EINVAL, "%s: expected a non-negative integer, got '%s'", f->name, v);
  if (f->k == K_SIZE)
    *(size_t *)dst = (size_t)x;
  else if (x > 1 << 30)
    return duet_error(DUET_EINVAL, "%s: %lld is too large", f->name, x);
  else
    *(int *)dst = (int)x;
  return 0;
}

static int check(const duet_opts *o) {
  if (o->port < 0 || o->port > 65535) return duet_error(DUET_EINVAL, "--port: %d is not a port", o->port);
  if ((o->tls_cert == NULL) != (o->tls_key == NULL))
    return duet_error(DUET_EINVAL, "--tls-cert and --tls-key go together");
  if ((o->n_prefill > 0) != (o->n_decode > 0))
    return duet_error(DUET_EINVAL, "--prefill and --decode go together");
  if (o->workers_addr && o->n_prefill > 0)
    return duet_error(DUET_EINVAL, "--workers and --prefill/--decode exclude each other");
  if (duet_cors_origin_ok(o->allowed_origin))
    return duet_error(DUET_EINVAL, "--allowed-origin: '%s' is not *, none or one origin (scheme://host[:port])",
                      o->allowed_origin);
  if (o->max_body < 16 || o->max_header < 256 || o->max_tokens < 1 || o->max_streams < 1 ||
      o->max_conns < 1 || o->max_queued < 1 || o->max_n < 1 || o->max_pipeline < 1)
    return duet_error(DUET_EINVAL, "a limit is below its minimum (body 16, header 256, others 1)");
  if (o->tp < 1) return duet_error(DUET_EINVAL, "--tp: %d ranks per shard group; at least 1", o->tp);
  return 0;
}

int duet_opts_parse(duet_opts *o, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      duet_opts_usage(argv[0]);
      return 1;
    }
    const flag *f = NULL;
    for (size_t j = 0; j < sizeof FLAGS / sizeof FLAGS[0]; j++)
      if (!strcmp(a, FLAGS[j].name)) f = &FLAGS[j];
    if (!f) return duet_error(DUET_EINVAL, "unknown option '%s' (see --help)", a);
    if (f->k == K_FLAG) {
      *(int *)((char *)o + f->off) = 1;
      continue;
    }
    if (i + 1 >= argc) return duet_error(DUET_EINVAL, "%s needs a value", a);
    int rc = set_value(o, f, argv[++i]);
    if (rc) return rc;
  }
  return check(o);
}
