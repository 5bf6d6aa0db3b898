#include "server/runtime/wire_ops.h"

#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "proto/wbuf.h"
#include "server/runtime/net.h"

#include <time.h>

static int trailing(const duet_rbuf *r, const char *what) {
  if (r->bad) return duet_error(DUET_EPROTO, "%s: payload truncated", what);
  if (duet_rbuf_left(r)) return duet_error(DUET_EPROTO, "%s: %zu trailing bytes", what, duet_rbuf_left(r));
  return DUET_OK;
}

int duet_op_encode_req(int kind, uint64_t id, int32_t arg, const duet_request_msg *r, uint8_t **out, size_t *len) {
  uint8_t *req;
  size_t rlen;
  int rc = duet_msg_encode_request(id, r, &req, &rlen);
  if (rc) return rc;
  duet_wbuf w;
  duet_wbuf_init(&w, rlen);
  duet_wbuf_i32(&w, arg);
  duet_wbuf_bytes(&w, req + DUET_MSG_HEADER_SIZE, rlen - DUET_MSG_HEADER_SIZE);
  free(req);
  return duet_wbuf_finish(&w, kind, id, out, len);
}

int duet_op_decode_req(const uint8_t *payload, size_t len, int32_t *arg, duet_request_msg *r) {
  if (len < 4) return duet_error(DUET_EPROTO, "request op truncated");
  memcpy(arg, payload, 4);
  return duet_msg_decode_request(payload + 4, len - 4, r);
}

int duet_op_encode_ints(int kind, uint64_t id, const int32_t *v, int n, uint8_t **out, size_t *len) {
  duet_wbuf w;
  duet_wbuf_init(&w, 4 * (size_t)n);
  for (int i = 0; i < n; i++) duet_wbuf_i32(&w, v[i]);
  return duet_wbuf_finish(&w, kind, id, out, len);
}

int duet_op_decode_ints(const uint8_t *payload, size_t len, int32_t *v, int n) {
  duet_rbuf r;
  duet_rbuf_init(&r, payload, len);
  for (int i = 0; i < n; i++) v[i] = duet_rbuf_i32(&r);
  return trailing(&r, "int op");
}

int duet_op_encode_first(uint64_t id, int32_t token, const float *logits, int vocab, uint8_t **out, size_t *len) {
  duet_wbuf w;
  duet_wbuf_init(&w, 8 + 4 * (size_t)vocab);
  duet_wbuf_i32(&w, token);
  duet_wbuf_i32(&w, vocab);
  duet_wbuf_bytes(&w, logits, 4 * (size_t)vocab);
  return duet_wbuf_finish(&w, DUET_OP_FIRST, id, out, len);
}

int duet_op_decode_first(const uint8_t *payload, size_t len, int vocab, int32_t *token, const float **logits) {
  duet_rbuf r;
  duet_rbuf_init(&r, payload, len);
  *token = duet_rbuf_i32(&r);
  int32_t v = duet_rbuf_i32(&r);
  if (r.bad || v != vocab) return duet_error(DUET_EPROTO, "first-token op: vocab %d, expected %d", v, vocab);
  const uint8_t *p = duet_rbuf_take(&r, 4 * (size_t)vocab);
  if ((uintptr_t)p % 4) return duet_error(DUET_EPROTO, "first-token op: logits not aligned");
  *logits = (const float *)p;
  return trailing(&r, "first-token op");
}

int duet_op_encode_chunk(uint64_t id, const duet_chunk_op *c, uint8_t **out, size_t *len) {
  duet_wbuf w;
  duet_wbuf_init(&w, 20 + 4 * (size_t)c->n);
  duet_wbuf_i32(&w, c->decode_group);
  duet_wbuf_i32(&w, c->pos);
  duet_wbuf_i32(&w, c->n);
  duet_wbuf_i32(&w, c->last);
  duet_wbuf_i32(&w, c->n_prompt);
  duet_wbuf_bytes(&w, c->tokens, 4 * (size_t)c->n);
  return duet_wbuf_finish(&w, DUET_OP_G_CHUNK, id, out, len);
}

int duet_op_decode_chunk(const uint8_t *payload, size_t len, duet_chunk_op *c) {
  duet_rbuf r;
  duet_rbuf_init(&r, payload, len);
  c->decode_group = duet_rbuf_i32(&r);
  c->pos = duet_rbuf_i32(&r);
  c->n = duet_rbuf_i32(&r);
  c->last = duet_rbuf_i32(&r);
  c->n_prompt = duet_rbuf_i32(&r);
  if (r.bad || c->n < 1 || c->pos < 0 || c->pos + c->n > c->n_prompt)
    return duet_error(DUET_EPROTO, "chunk op: bad range");
  const uint8_t *p = duet_rbuf_take(&r, 4 * (size_t)c->n);
  if ((uintptr_t)p % 4) return duet_error(DUET_EPROTO, "chunk op: tokens not aligned");
  c->tokens = (const int32_t *)p;
  return trailing(&r, "chunk op");
}

int duet_op_encode_step(const uint64_t *ids, const int32_t *tokens, int n, uint8_t **out, size_t *len) {
  duet_wbuf w;
  duet_wbuf_init(&w, 4 + 12 * (size_t)n);
  duet_wbuf_i32(&w, n);
  for (int i = 0; i < n; i++) {
    duet_wbuf_u64(&w, ids[i]);
    duet_wbuf_i32(&w, tokens[i]);
  }
  return duet_wbuf_finish(&w, DUET_OP_G_STEP, 0, out, len);
}

int duet_op_decode_step(const uint8_t *payload, size_t len, int max, uint64_t *ids, int32_t *tokens, int *n) {
  duet_rbuf r;
  duet_rbuf_init(&r, payload, len);
  *n = duet_rbuf_i32(&r);
  if (r.bad || *n < 1 || *n > max) return duet_error(DUET_EPROTO, "step op: %d sequences (max %d)", *n, max);
  for (int i = 0; i < *n; i++) {
    ids[i] = duet_rbuf_u64(&r);
    tokens[i] = duet_rbuf_i32(&r);
  }
  return trailing(&r, "step op");
}

int duet_op_encode_stats(const duet_group_stats *s, uint8_t **out, size_t *len) {
  duet_wbuf w;
  duet_wbuf_init(&w, sizeof *s);
  duet_wbuf_i32(&w, s->role);
  duet_wbuf_i32(&w, s->group);
  duet_wbuf_i32(&w, s->queued_tokens);
  duet_wbuf_i32(&w, s->active);
  duet_wbuf_i32(&w, s->waiting);
  duet_wbuf_i32(&w, s->blocks_used);
  duet_wbuf_i32(&w, s->blocks_free);
  duet_wbuf_u64(&w, s->kv_bytes);
  duet_wbuf_f64(&w, s->transfer_seconds);
  duet_wbuf_f64(&w, s->step_seconds);
  duet_wbuf_u64(&w, s->steps);
  return duet_wbuf_finish(&w, DUET_OP_STATS, 0, out, len);
}

int duet_op_decode_stats(const uint8_t *payload, size_t len, duet_group_stats *s) {
  duet_rbuf r;
  duet_rbuf_init(&r, payload, len);
  s->role = duet_rbuf_i32(&r);
  s->group = duet_rbuf_i32(&r);
  s->queued_tokens = duet_rbuf_i32(&r);
  s->active = duet_rbuf_i32(&r);
  s->waiting = duet_rbuf_i32(&r);
  s->blocks_used = duet_rbuf_i32(&r);
  s->blocks_free = duet_rbuf_i32(&r);
  s->kv_bytes = duet_rbuf_u64(&r);
  s->transfer_seconds = duet_rbuf_f64(&r);
  s->step_seconds = duet_rbuf_f64(&r);
  s->steps = duet_rbuf_u64(&r);
  if (!r.bad && (s->group < 0 || s->group >= DUET_MAX_GROUPS)) return duet_error(DUET_EPROTO, "stats op: bad group");
  return trailing(&r, "stats op");
}

double duet_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int duet_stats_due(duet_stats_clock *c) {
  double t = duet_now_s();
  if (t - c->last < 0.02 || (!c->dirty && t - c->last < 5.0)) return 0;
  c->last = t;
  c->dirty = 0;
  return 1;
}

void duet_stats_send(duet_net *net, const duet_group_stats *s) {
  uint8_t *buf;
  size_t len;
  if (duet_op_encode_stats(s, &buf, &len) == 0) net->send(net, 0, buf, len);
}
