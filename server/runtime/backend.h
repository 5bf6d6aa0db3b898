#ifndef DUET_BACKEND_H
#define DUET_BACKEND_H

/* What the front end (duetd) sees of the workers: submit id prompts, cancel
 * them, and get tokens, finishes, stats and up/down events back. Three
 * implementations share this interface:
 *   - in-process: the prefill and decode roles on threads inside duetd
 *     (the embedded default; no MPI);
 *   - socket: a connection to a duet-worker coordinator (duetd --workers);
 *   - supervised: duetd starts mpirun itself (uv_spawn), connects through
 *     the socket implementation and restarts the job with backoff when it
 *     dies.
 * Every callback runs on the caller's libuv loop thread; no call blocks. */

#include <stdint.h>
#include <uv.h>

#include "proto/message.h"

typedef struct duet_backend duet_backend;

typedef struct {
  void (*on_tokens)(uint64_t id, const duet_tokens_msg *t, void *user);
  /* Exactly one finish per submitted request, including when the workers
   * go down (reason DUET_FINISH_ERROR with a message). */
  void (*on_finish)(uint64_t id, const duet_finish_msg *f, void *user);
  void (*on_stats)(const duet_stats_msg *s, void *user);
  void (*on_state)(int ready, const char *why, void *user); /* up or down */
  void *user;
} duet_backend_callbacks;

typedef struct {
  const char *model_dir;
  /* in-process when workers_addr is NULL and n_prefill == 0 */
  const char *workers_addr;   /* "HOST:PORT" of a running coordinator */
  int n_prefill, n_decode, tp; /* > 0: start and supervise an MPI job */
  const char *hostfile;       /* passed to mpirun, may be NULL */
  const char *worker_bin;     /* path of duet-worker (default: beside duetd) */
  int kv_blocks;              /* per decode group; 0 = default */
  int to_f32;
  uint64_t stall_ms;          /* supervised: a job that emits no token for this long with
                                 requests in flight is hung: fail them, restart it (0: off) */
} duet_backend_opts;

int duet_backend_new(uv_loop_t *loop, const duet_backend_opts *o, const duet_backend_callbacks *cb,
                     duet_backend **out);
/* Returns DUET_EAGAIN when not ready (workers down), DUET_ENOSPC when full. */
int duet_backend_submit(duet_backend *b, uint64_t id, const duet_request_msg *r);
int duet_backend_cancel(duet_backend *b, uint64_t id);
int duet_backend_ready(const duet_backend *b);
/* Drain: shut the workers down; close_cb runs when everything is closed. */
void duet_backend_close(duet_backend *b, void (*close_cb)(void *user));

#endif
