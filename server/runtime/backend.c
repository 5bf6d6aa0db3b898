#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "server/runtime/backend_impl.h"

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  return x ^ (x >> 33);
}

/* Open addressing with linear probing; deletion re-inserts the rest of
 * the cluster so lookups stay correct. */
static int slot(const duet_idset *s, uint64_t key) {
  int i = (int)(mix(key) & (uint64_t)(s->cap - 1));
  while (s->keys[i] && s->keys[i] != key) i = (i + 1) & (s->cap - 1);
  return i;
}

int duet_idset_add(duet_idset *s, uint64_t id) {
  if (2 * (s->n + 1) > s->cap) {
    duet_idset g = {calloc((size_t)(s->cap ? 2 * s->cap : 64), sizeof(uint64_t)), s->cap ? 2 * s->cap : 64, 0};
    if (!g.keys) return duet_error(DUET_ENOMEM, "backend: out of memory");
    for (int i = 0; i < s->cap; i++)
      if (s->keys[i]) g.keys[slot(&g, s->keys[i])] = s->keys[i], g.n++;
    free(s->keys);
    *s = g;
  }
  int i = slot(s, id + 1);
  if (!s->keys[i]) s->n++;
  s->keys[i] = id + 1;
  return DUET_OK;
}

int duet_idset_has(const duet_idset *s, uint64_t id) { return s->cap && s->keys[slot(s, id + 1)] == id + 1; }

void duet_idset_del(duet_idset *s, uint64_t id) {
  if (!duet_idset_has(s, id)) return;
  int i = slot(s, id + 1);
  s->keys[i] = 0;
  s->n--;
  for (int j = (i + 1) & (s->cap - 1); s->keys[j]; j = (j + 1) & (s->cap - 1)) {
    uint64_t k = s->keys[j];
    s->keys[j] = 0;
    s->keys[slot(s, k)] = k;
  }
}

void duet_backend_deliver(duet_backend *b, const uint8_t *msg, size_t len) {
  duet_msg_header h;
  if (duet_msg_header_decode(msg, len, &h) || len != DUET_MSG_HEADER_SIZE + (size_t)h.payload_len) return;
  const uint8_t *pl = msg + DUET_MSG_HEADER_SIZE;
  if (h.kind == DUET_MSG_TOKENS || h.kind == DUET_MSG_FINISH) b->last_progress_ms = uv_now(b->loop);
  if (h.kind == DUET_MSG_TOKENS) {
    duet_tokens_msg t;
    if (duet_idset_has(&b->inflight, h.request_id) && duet_msg_decode_tokens(pl, h.payload_len, &t) == 0 &&
        b->cb.on_tokens)
      b->cb.on_tokens(h.request_id, &t, b->cb.user);
  } else if (h.kind == DUET_MSG_FINISH) {
    duet_finish_msg f;
    if (duet_idset_has(&b->inflight, h.request_id) && duet_msg_decode_finish(pl, h.payload_len, &f) == 0) {
      duet_idset_del(&b->inflight, h.request_id);
      if (b->cb.on_finish) b->cb.on_finish(h.request_id, &f, b->cb.user);
    }
  } else if (h.kind == DUET_MSG_STATS) {
    duet_stats_msg s;
    if (duet_msg_decode_stats(pl, h.payload_len, &s) != 0) return;
    /* a step done is progress too: a long prompt's chunks produce no token
     * until the last one, and that must not read as a stalled job */
    if (s.prefill_steps + s.decode_steps != b->steps_seen) b->last_progress_ms = uv_now(b->loop);
    b->steps_seen = s.prefill_steps + s.decode_steps;
    if (b->cb.on_stats) b->cb.on_stats(&s, b->cb.user);
  }
}

void duet_backend_fail_all(duet_backend *b, const char *why) {
  duet_finish_msg f = {DUET_FINISH_ERROR, 0, 0, ""};
  strncpy(f.message, why, sizeof f.message - 1);
  /* Collect first: on_finish may submit again. */
  int n = 0;
  uint64_t *ids = malloc(sizeof(uint64_t) * (size_t)(b->inflight.n + 1));
  for (int i = 0; ids && i < b->inflight.cap; i++)
    if (b->inflight.keys[i]) ids[n++] = b->inflight.keys[i] - 1;
  free(b->inflight.keys);
  memset(&b->inflight, 0, sizeof b->inflight);
  for (int i = 0; i < n; i++)
    if (b->cb.on_finish) b->cb.on_finish(ids[i], &f, b->cb.user);
  free(ids);
}

void duet_backend_set_ready(duet_backend *b, int ready, const char *why) {
  /* Report changes; and the first word either way, so a start that fails
   * (bad model, mpirun missing) tells the front end why. */
  if (b->ready == ready && b->state_reported) return;
  b->state_reported = 1;
  b->ready = ready;
  if (b->cb.on_state) b->cb.on_state(ready, why, b->cb.user);
}

int duet_backend_prepare(duet_backend *b, uint64_t id, const duet_request_msg *r, uint8_t **buf, size_t *len) {
  if (b->closing || !b->ready) return duet_error(DUET_EAGAIN, "workers are not ready");
  if (duet_idset_has(&b->inflight, id)) return duet_error(DUET_EINVAL, "request id %llu already in flight", (unsigned long long)id);
  if (b->inflight.n >= 65536) return duet_error(DUET_ENOSPC, "too many requests in flight");
  int rc = duet_msg_encode_request(id, r, buf, len);
  if (rc) return rc;
  if (b->inflight.n == 0) b->last_progress_ms = uv_now(b->loop); /* idle until now: the clock starts here */
  rc = duet_idset_add(&b->inflight, id);
  if (rc) free(*buf);
  return rc;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int duet_backend_new(uv_loop_t *loop, const duet_backend_opts *o, const duet_backend_callbacks *cb,
                     duet_backend **out) {
  *out = NULL;
  if (!o->workers_addr && !o->model_dir) return duet_error(DUET_EINVAL, "backend: a model directory is required");
  duet_backend *b = calloc(1, sizeof *b);
  if (!b) return duet_error(DUET_ENOMEM, "backend: out of memory");
  b->loop = loop;
  b->cb = *cb;
  b->o = *o;
  b->o.model_dir = b->model_dir = dup_or_null(o->model_dir);
  b->o.workers_addr = b->workers_addr = dup_or_null(o->workers_addr);
  b->o.hostfile = b->hostfile = dup_or_null(o->hostfile);
  b->o.worker_bin = b->worker_bin = dup_or_null(o->worker_bin);
  int rc;
  if (o->workers_addr) {
    b->kind = DUET_BACKEND_SOCKET;
    duet_sock_client *c = NULL;
    rc = duet_sock_client_new(b, 1, NULL, &c);
    b->impl = c;
    if (!rc) rc = duet_sock_client_connect(c, o->workers_addr);
  } else if (o->n_prefill > 0 || o->n_decode > 0 || o->tp > 1) {
    b->kind = DUET_BACKEND_SUPERVISED;
    rc = duet_supervised_start(b);
  } else {
    b->kind = DUET_BACKEND_LOCAL;
    rc = duet_local_start(b);
  }
  if (rc) {
    /* Nothing was started that needs the loop (starts clean up after
     * themselves on failure), except a socket client's handle. */
    if (b->kind == DUET_BACKEND_SOCKET && b->impl) {
      b->closing = 1;
      duet_sock_client_close(b->impl, 0, duet_backend_closed);
      return rc;
    }
    duet_backend_closed(b);
    return rc;
  }
  *out = b;
  return DUET_OK;
}

int duet_backend_submit(duet_backend *b, uint64_t id, const duet_request_msg *r) {
  uint8_t *buf;
  size_t len;
  int rc = duet_backend_prepare(b, id, r, &buf, &len);
  if (rc) return rc;
  switch (b->kind) {
  case DUET_BACKEND_LOCAL: rc = duet_local_send(b, buf, len); break;
  case DUET_BACKEND_SOCKET: rc = duet_sock_client_send(b->impl, buf, len); break;
  case DUET_BACKEND_SUPERVISED: rc = duet_supervised_send(b, buf, len); break;
  }
  if (rc) duet_idset_del(&b->inflight, id);
  return rc;
}

int duet_backend_cancel(duet_backend *b, uint64_t id) {
  if (!duet_idset_has(&b->inflight, id)) return duet_error(DUET_ENOENT, "request %llu not in flight", (unsigned long long)id);
  uint8_t *buf;
  size_t len;
  int rc = duet_msg_encode_empty(DUET_MSG_CANCEL, id, &buf, &len);
  if (rc) return rc;
  switch (b->kind) {
  case DUET_BACKEND_LOCAL: return duet_local_send(b, buf, len);
  case DUET_BACKEND_SOCKET: return duet_sock_client_send(b->impl, buf, len);
  case DUET_BACKEND_SUPERVISED: return duet_supervised_send(b, buf, len);
  }
  return DUET_EINTERNAL;
}

int duet_backend_ready(const duet_backend *b) { return b->ready && !b->closing; }

void duet_backend_close(duet_backend *b, void (*close_cb)(void *user)) {
  if (b->closing) return;
  b->closing = 1;
  b->close_cb = close_cb;
  switch (b->kind) {
  case DUET_BACKEND_LOCAL: duet_local_close(b); break;
  case DUET_BACKEND_SOCKET: duet_sock_client_close(b->impl, 0, duet_backend_closed); break;
  case DUET_BACKEND_SUPERVISED: duet_supervised_close(b); break;
  }
}

void duet_backend_closed(duet_backend *b) {
  duet_backend_fail_all(b, "workers shut down");
  void (*cb)(void *) = b->close_cb;
  void *user = b->cb.user;
  free(b->model_dir);
  free(b->workers_addr);
  free(b->hostfile);
  free(b->worker_bin);
  free(b->inflight.keys);
  free(b);
  if (cb) cb(user);
}
