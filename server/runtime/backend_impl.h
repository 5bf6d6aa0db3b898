#ifndef DUET_RUNTIME_BACKEND_IMPL_H
#define DUET_RUNTIME_BACKEND_IMPL_H

/* Shared state of the three backend.h implementations (backend.c holds
 * the common part: in-flight bookkeeping so that every submitted request
 * gets exactly one finish, and delivery of worker messages to the
 * callbacks). Loop thread only. */

#include "server/runtime/backend.h"

typedef enum { DUET_BACKEND_LOCAL, DUET_BACKEND_SOCKET, DUET_BACKEND_SUPERVISED } duet_backend_kind;

typedef struct {
  uint64_t *keys; /* open addressing; 0 = empty, ids are stored +1 */
  int cap, n;
} duet_idset;

struct duet_backend {
  uv_loop_t *loop;
  duet_backend_callbacks cb;
  duet_backend_opts o;
  char *model_dir, *workers_addr, *hostfile, *worker_bin; /* owned copies */
  duet_backend_kind kind;
  duet_idset inflight;
  int ready, closing, state_reported;
  uint64_t last_progress_ms; /* loop time of the last token, finish or step (or of going busy) */
  uint64_t steps_seen;       /* prefill + decode steps in the job's last stats */
  void (*close_cb)(void *user);
  void *impl;
};

int duet_idset_add(duet_idset *s, uint64_t id);
int duet_idset_has(const duet_idset *s, uint64_t id);
void duet_idset_del(duet_idset *s, uint64_t id);

/* A whole message from the workers (header included): callbacks. */
void duet_backend_deliver(duet_backend *b, const uint8_t *msg, size_t len);
/* Finish every in-flight request with DUET_FINISH_ERROR (workers lost). */
void duet_backend_fail_all(duet_backend *b, const char *why);
void duet_backend_set_ready(duet_backend *b, int ready, const char *why);
/* Encode and record a request; the impl sends the message. */
int duet_backend_prepare(duet_backend *b, uint64_t id, const duet_request_msg *r, uint8_t **buf, size_t *len);
void duet_backend_closed(duet_backend *b); /* impl done closing: free and call close_cb */

/* in-process (backend_local.c) */
int duet_local_start(duet_backend *b);
int duet_local_send(duet_backend *b, uint8_t *buf, size_t len);
void duet_local_close(duet_backend *b);

/* Socket client (backend_socket.c), also used by the supervisor. */
typedef struct duet_sock_client duet_sock_client;
int duet_sock_client_new(duet_backend *b, int reconnect, void (*on_down)(duet_backend *b, const char *why),
                         duet_sock_client **out);
int duet_sock_client_connect(duet_sock_client *c, const char *addr);
int duet_sock_client_send(duet_sock_client *c, uint8_t *buf, size_t len);
int duet_sock_client_connected(const duet_sock_client *c);
/* Close the current connection (as if the peer had gone). */
void duet_sock_client_drop(duet_sock_client *c);
/* Send SHUTDOWN when connected (shutdown != 0), close, then done(b). */
void duet_sock_client_close(duet_sock_client *c, int shutdown, void (*done)(duet_backend *b));

/* Supervised (backend_supervised.c) */
int duet_supervised_start(duet_backend *b);
int duet_supervised_send(duet_backend *b, uint8_t *buf, size_t len);
void duet_supervised_close(duet_backend *b);

#endif
