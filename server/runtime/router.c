#include "server/runtime/router.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/kv_cache.h"
#include "engine/sampler.h"
#include "server/runtime/wire_ops.h"

/* A message from decode held back until prefill's first token has gone
 * out: they come from different ranks, and MPI orders only per sender. */
typedef struct held {
  uint8_t *buf;
  size_t len;
  struct held *next;
} held;

typedef struct rreq {
  uint64_t id;
  int first_sent;
  held *held_head, **held_tail;
  int pg, dg;
  int n_prompt, blocks;
  int reserved, dispatched, cancelled, queued_counted;
  uint8_t *prefill_msg; /* the PREFILL op, sent once decode has reserved */
  size_t prefill_len;
  struct rreq *next;
} rreq;

#define BUCKETS 1024

struct duet_router {
  duet_router_opts o;
  rreq *bucket[BUCKETS];
  int n_live;
  int queued_tokens[DUET_MAX_GROUPS]; /* prompt tokens routed to each prefill group, not yet prefilled */
  int promised[DUET_MAX_GROUPS];      /* blocks routed to each decode group, not yet reserved */
  duet_group_stats prefill[DUET_MAX_GROUPS], decode[DUET_MAX_GROUPS];
  int have_decode_stats[DUET_MAX_GROUPS];
  duet_stats_clock clock;
  int shutdown;
};

int duet_router_new(const duet_router_opts *o, duet_router **out) {
  duet_router *r = calloc(1, sizeof *r);
  if (!r) return duet_error(DUET_ENOMEM, "router: out of memory");
  r->o = *o;
  if (!r->o.block_size) r->o.block_size = DUET_KV_BLOCK_TOKENS;
  *out = r;
  return DUET_OK;
}

static void rreq_free(rreq *q) {
  while (q->held_head) {
    held *h = q->held_head;
    q->held_head = h->next;
    free(h->buf);
    free(h);
  }
  free(q->prefill_msg);
  free(q);
}

void duet_router_free(duet_router *r) {
  if (!r) return;
  for (int b = 0; b < BUCKETS; b++)
    while (r->bucket[b]) {
      rreq *q = r->bucket[b];
      r->bucket[b] = q->next;
      rreq_free(q);
    }
  free(r);
}

static rreq *find(duet_router *r, uint64_t id) {
  for (rreq *q = r->bucket[id % BUCKETS]; q; q = q->next)
    if (q->id == id) return q;
  return NULL;
}

static void unqueue(duet_router *r, rreq *q) {
  if (q->queued_counted) r->queued_tokens[q->pg] -= q->n_prompt;
  q->queued_counted = 0;
  if (!q->reserved) r->promised[q->dg] -= q->blocks;
  q->reserved = 1;
}

static void drop(duet_router *r, rreq *q) {
  unqueue(r, q);
  for (rreq **pp = &r->bucket[q->id % BUCKETS]; *pp; pp = &(*pp)->next)
    if (*pp == q) {
      *pp = q->next;
      break;
    }
  r->n_live--;
  r->clock.dirty = 1;
  rreq_free(q);
}

static void client_finish(duet_router *r, uint64_t id, int reason, const char *msg) {
  duet_finish_msg f = {reason, 0, 0, ""};
  snprintf(f.message, sizeof f.message, "%s", msg);
  uint8_t *buf;
  size_t len;
  if (duet_msg_encode_finish(id, &f, &buf, &len) == 0) r->o.to_client(buf, len, r->o.ctx);
}

static int check_request(duet_router *r, const duet_request_msg *q) {
  if (q->n_prompt < 1) return duet_error(DUET_EINVAL, "prompt is empty");
  if (q->n_prompt >= r->o.max_pos)
    return duet_error(DUET_EINVAL, "prompt of %d tokens does not fit the model's context of %d", q->n_prompt,
                      r->o.max_pos);
  for (int i = 0; i < q->n_prompt; i++)
    if (q->prompt[i] < 0 || q->prompt[i] >= r->o.vocab)
      return duet_error(DUET_ERANGE, "prompt token %d at position %d is outside the vocabulary of %d", q->prompt[i],
                        i, r->o.vocab);
  if (q->max_tokens < 1) return duet_error(DUET_EINVAL, "max_tokens must be at least 1 (got %d)", q->max_tokens);
  return duet_sampling_validate(&q->sampling, r->o.vocab);
}

static int pick_decode(duet_router *r) {
  int best = 0;
  long best_free = LONG_MIN;
  for (int g = 0; g < r->o.topo.n_decode; g++) {
    long f = (r->have_decode_stats[g] ? r->decode[g].blocks_free : 1L << 30) - r->promised[g];
    if (f > best_free) {
      best_free = f;
      best = g;
    }
  }
  return best;
}

static int pick_prefill(duet_router *r) {
  int best = 0;
  for (int g = 1; g < r->o.topo.n_prefill; g++)
    if (r->queued_tokens[g] < r->queued_tokens[best]) best = g;
  return best;
}

static void on_request(duet_router *r, uint64_t id, const uint8_t *pl, size_t len) {
  duet_request_msg q;
  if (duet_msg_decode_request(pl, len, &q) || check_request(r, &q)) {
    client_finish(r, id, DUET_FINISH_ERROR, duet_last_error());
    return;
  }
  if (find(r, id)) {
    client_finish(r, id, DUET_FINISH_ERROR, "request id already in flight");
    return;
  }
  rreq *x = calloc(1, sizeof *x);
  if (!x) {
    client_finish(r, id, DUET_FINISH_ERROR, "coordinator out of memory");
    return;
  }
  x->id = id;
  x->held_tail = &x->held_head;
  x->n_prompt = q.n_prompt;
  x->pg = pick_prefill(r);
  x->dg = pick_decode(r);
  int room = r->o.max_pos - q.n_prompt, max_new = q.max_tokens < room ? q.max_tokens : room;
  x->blocks = (q.n_prompt + max_new + r->o.block_size - 1) / r->o.block_size;
  uint8_t *res;
  size_t rlen;
  if (duet_op_encode_req(DUET_OP_PREFILL, id, x->dg, &q, &x->prefill_msg, &x->prefill_len) ||
      duet_op_encode_req(DUET_OP_RESERVE, id, x->pg, &q, &res, &rlen)) {
    client_finish(r, id, DUET_FINISH_ERROR, duet_last_error());
    rreq_free(x);
    return;
  }
  x->next = r->bucket[id % BUCKETS];
  r->bucket[id % BUCKETS] = x;
  r->n_live++;
  r->queued_tokens[x->pg] += x->n_prompt;
  x->queued_counted = 1;
  r->promised[x->dg] += x->blocks;
  r->clock.dirty = 1;
  duet_net_send(r->o.net, duet_topo_decode_rank(&r->o.topo, x->dg, 0), res, rlen);
}

static void send_cancel(duet_router *r, rreq *x) {
  int32_t dispatched = x->dispatched;
  uint8_t *buf;
  size_t len;
  if (duet_op_encode_ints(DUET_OP_CANCEL, x->id, &dispatched, 1, &buf, &len) == 0)
    duet_net_send(r->o.net, duet_topo_decode_rank(&r->o.topo, x->dg, 0), buf, len);
  if (x->dispatched && duet_op_encode_ints(DUET_OP_CANCEL, x->id, &dispatched, 1, &buf, &len) == 0)
    duet_net_send(r->o.net, duet_topo_prefill_rank(&r->o.topo, x->pg, 0), buf, len);
}

static void cancel(duet_router *r, rreq *x) {
  if (x->cancelled) return;
  x->cancelled = 1;
  send_cancel(r, x);
}

void duet_router_cancel_all(duet_router *r) {
  for (int b = 0; b < BUCKETS; b++)
    for (rreq *x = r->bucket[b]; x; x = x->next) cancel(r, x);
}

int duet_router_in_flight(const duet_router *r) { return r->n_live; }

static void broadcast_shutdown(duet_router *r) {
  r->shutdown = 1;
  for (int g = 0; g < r->o.topo.n_prefill + r->o.topo.n_decode; g++) {
    uint8_t *buf;
    size_t len;
    int dest = g < r->o.topo.n_prefill ? duet_topo_prefill_rank(&r->o.topo, g, 0)
                                       : duet_topo_decode_rank(&r->o.topo, g - r->o.topo.n_prefill, 0);
    if (duet_msg_encode_empty(DUET_MSG_SHUTDOWN, 0, &buf, &len) == 0) duet_net_send(r->o.net, dest, buf, len);
  }
}

void duet_router_client_msg(duet_router *r, const duet_msg_header *h, const uint8_t *msg, size_t len) {
  const uint8_t *pl = msg + DUET_MSG_HEADER_SIZE;
  if (len != DUET_MSG_HEADER_SIZE + (size_t)h->payload_len) return;
  if (h->kind == DUET_MSG_REQUEST) {
    if (r->shutdown) client_finish(r, h->request_id, DUET_FINISH_ERROR, "workers are shutting down");
    else on_request(r, h->request_id, pl, h->payload_len);
  } else if (h->kind == DUET_MSG_CANCEL) {
    rreq *x = find(r, h->request_id);
    if (x) cancel(r, x);
  } else if (h->kind == DUET_MSG_SHUTDOWN) {
    broadcast_shutdown(r);
  }
}

static void on_reserved(duet_router *r, rreq *x) {
  if (x->reserved) return;
  r->promised[x->dg] -= x->blocks;
  x->reserved = 1;
  if (x->cancelled) return; /* decode was told "not dispatched" and frees at once */
  x->dispatched = 1;
  duet_net_send(r->o.net, duet_topo_prefill_rank(&r->o.topo, x->pg, 0), x->prefill_msg, x->prefill_len);
  x->prefill_msg = NULL;
}

static void on_group_stats(duet_router *r, const uint8_t *pl, size_t len) {
  duet_group_stats s;
  if (duet_op_decode_stats(pl, len, &s)) return;
  if (s.role == DUET_ROLE_PREFILL && s.group < r->o.topo.n_prefill) r->prefill[s.group] = s;
  if (s.role == DUET_ROLE_DECODE && s.group < r->o.topo.n_decode) {
    r->decode[s.group] = s;
    r->have_decode_stats[s.group] = 1;
  }
  r->clock.dirty = 1;
}

/* Forward held decode messages in order; a FINISH ends the request. */
static void flush_held(duet_router *r, rreq *x) {
  while (x->held_head) {
    held *h = x->held_head;
    x->held_head = h->next;
    duet_msg_header hh;
    duet_msg_header_decode(h->buf, h->len, &hh);
    r->o.to_client(h->buf, h->len, r->o.ctx);
    free(h);
    if (hh.kind == DUET_MSG_FINISH) {
      drop(r, x);
      return;
    }
  }
  x->held_tail = &x->held_head;
}

/* Decode's tokens and finish. Any decode token, or a finish counting
 * tokens, means prefill's first token exists: until it has been
 * forwarded, hold them. A finish with no tokens goes straight out. */
static void from_decode(duet_router *r, rreq *x, const duet_msg_header *h, uint8_t *buf, size_t len) {
  int must_wait = !x->first_sent;
  if (must_wait && h->kind == DUET_MSG_FINISH) {
    duet_finish_msg f;
    must_wait = duet_msg_decode_finish(buf + DUET_MSG_HEADER_SIZE, h->payload_len, &f) == 0 && f.completion_tokens > 0;
  }
  if (must_wait) {
    held *e = malloc(sizeof *e);
    if (e) {
      *e = (held){buf, len, NULL};
      *x->held_tail = e;
      x->held_tail = &e->next;
      return;
    }
  }
  r->o.to_client(buf, len, r->o.ctx);
  if (h->kind == DUET_MSG_FINISH) drop(r, x);
}

static void on_msg(void *self, int src, uint8_t *buf, size_t len) {
  duet_router *r = self;
  duet_msg_header h;
  duet_place from;
  if (duet_msg_header_decode(buf, len, &h) || len != DUET_MSG_HEADER_SIZE + (size_t)h.payload_len ||
      duet_topo_place(&r->o.topo, src, &from)) {
    free(buf);
    return;
  }
  const uint8_t *pl = buf + DUET_MSG_HEADER_SIZE;
  if (h.kind == DUET_OP_STATS) {
    on_group_stats(r, pl, h.payload_len);
    free(buf);
    return;
  }
  rreq *x = find(r, h.request_id);
  if (!x) {
    free(buf);
    return;
  }
  if (h.kind == DUET_OP_RESERVED) {
    on_reserved(r, x);
    free(buf);
  } else if (h.kind == DUET_MSG_TOKENS && from.kind == DUET_ROLE_PREFILL) {
    unqueue(r, x);
    r->o.to_client(buf, len, r->o.ctx);
    x->first_sent = 1;
    flush_held(r, x);
  } else if (h.kind == DUET_MSG_TOKENS || h.kind == DUET_MSG_FINISH) {
    from_decode(r, x, &h, buf, len);
  } else {
    free(buf);
  }
}

static void send_stats(duet_router *r) {
  duet_stats_msg s = {0};
  s.n_prefill_groups = r->o.topo.n_prefill;
  s.n_decode_groups = r->o.topo.n_decode;
  for (int g = 0; g < r->o.topo.n_prefill; g++) {
    s.prefill_queued_tokens[g] = r->queued_tokens[g];
    s.prefill_active[g] = r->prefill[g].active;
    s.prefill_step_seconds += r->prefill[g].step_seconds;
    s.prefill_steps += r->prefill[g].steps;
  }
  for (int g = 0; g < r->o.topo.n_decode; g++) {
    const duet_group_stats *d = &r->decode[g];
    s.decode_active[g] = d->active;
    s.decode_waiting[g] = d->waiting;
    s.kv_blocks_used[g] = d->blocks_used;
    s.kv_blocks_free[g] = d->blocks_free;
    s.kv_bytes_moved += d->kv_bytes;
    s.kv_transfer_seconds += d->transfer_seconds;
    s.decode_step_seconds += d->step_seconds;
    s.decode_steps += d->steps;
  }
  uint8_t *buf;
  size_t len;
  if (duet_msg_encode_stats(&s, &buf, &len) == 0) r->o.to_client(buf, len, r->o.ctx);
}

static int step(void *self) {
  duet_router *r = self;
  if (duet_stats_due(&r->clock)) send_stats(r);
  return 0;
}

static void *kv_target(void *self, int src, const duet_kv_wire *h) {
  (void)self, (void)src, (void)h;
  return NULL;
}
static void kv_received(void *self, int src, const duet_kv_wire *h, int dropped) { (void)self, (void)src, (void)h, (void)dropped; }
static void kv_sent(void *self, void *ctx) { (void)self, (void)ctx; }
static int finished(void *self) { return ((duet_router *)self)->shutdown; }

duet_role duet_router_iface(duet_router *r) {
  return (duet_role){r, on_msg, kv_target, kv_received, kv_sent, step, finished};
}
