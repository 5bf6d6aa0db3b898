#ifndef DUET_FRONTEND_OPTS_H
#define DUET_FRONTEND_OPTS_H

/* duetd's command line: where to listen, which backend, and every limit.
 * Each limit has a default sane for one small machine; all are flags so an
 * operator can tighten or loosen them without a rebuild. */

#include <stddef.h>

typedef struct {
  const char *host;          /* --host, default 127.0.0.1 */
  int port;                  /* --port, default 8000 */
  const char *model_dir;     /* --model, default: the bundled models/ */
  const char *served_name;   /* --served-model-name, default basename(model) */
  const char *workers_addr;  /* --workers HOST:PORT */
  int n_prefill, n_decode, tp; /* --prefill --decode --tp: supervised MPI job */
  const char *hostfile;      /* --hostfile */
  const char *worker_bin;    /* --worker-bin */
  int kv_blocks;             /* --kv-blocks */
  int to_f32;                /* --f32 */
  const char *tls_cert, *tls_key; /* --tls-cert --tls-key */
  const char *api_key;       /* --api-key (or env DUET_API_KEY) */
  const char *allowed_origin; /* --allowed-origin for CORS, default "*"; "none": no CORS */
  /* limits */
  size_t max_body;           /* --max-body bytes (413 over it) */
  size_t max_header;         /* --max-header bytes of request line + headers (431) */
  int max_tokens;            /* --max-tokens cap on a request's max_tokens */
  int max_streams;           /* --max-streams concurrent HTTP/2 streams per connection */
  int max_conns;             /* --max-conns open connections */
  int max_queued;            /* --max-queued generations in flight (429 over it) */
  int max_n;                 /* --max-n choices x prompts per request */
  int max_pipeline;          /* --max-pipeline HTTP/1.1 requests queued per connection */
  double idle_timeout;       /* --idle-timeout seconds without a request */
  double slow_timeout;       /* --slow-timeout seconds a client may stall a read or write */
  double drain_timeout;      /* --drain-timeout seconds to finish in-flight on SIGTERM */
  double stall_timeout;      /* --stall-timeout seconds a worker job may go without a token (0: off) */
  int retry_after;           /* --retry-after seconds, for 429/503 */
  int verbose;               /* -v */
} duet_opts;

void duet_opts_defaults(duet_opts *o);
/* Parses argv; on a bad flag returns DUET_EINVAL naming it. --help prints
 * usage and returns 1. */
int duet_opts_parse(duet_opts *o, int argc, char **argv);
void duet_opts_usage(const char *prog);

#endif
