#include "server/runtime/decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/kv_cache.h"
#include "engine/sampler.h"
#include "proto/mpi_transport.h"
#include "server/runtime/request_sampler.h"
#include "server/runtime/wire_ops.h"

typedef enum { DQ_WAITING, DQ_RESERVED, DQ_ACTIVE } dq_state;

typedef struct dreq {
  uint64_t id;
  dq_state state;
  duet_kv_seq seq;
  int32_t *prompt;
  int n_prompt, need_tokens;
  duet_request_msg req;   /* leader */
  duet_sampler *sampler;  /* leader, from the replayed first draw on */
  int first_received, next_token, generated;
  int kv_end, kv_outstanding, kv_blocks, kv_bad, kv_done_sent;
  int followers_done;
  int stopping;           /* cancel or prefill error: finish once KV is quiet */
  int stop_reason;
  char stop_msg[256];
  double t_reserved;
  struct dreq *next;
} dreq;

#define FREED_RING 1024

struct duet_decode_role {
  duet_decode_opts o;
  duet_kv_pool *pool;
  duet_workspace *ws;
  float *logits;
  dreq *head;
  int leader, shutdown;
  uint64_t freed[FREED_RING]; /* recently finished ids: late KV for them is dropped */
  int n_freed;
  /* step scratch */
  duet_kv_seq **seqs;
  dreq **batch;
  int32_t *tokens;
  uint64_t *ids;
  duet_group_stats st;
  duet_stats_clock clock;
};

int duet_decode_role_new(const duet_decode_opts *o, duet_decode_role **out) {
  *out = NULL;
  duet_decode_role *d = calloc(1, sizeof *d);
  if (!d) return duet_error(DUET_ENOMEM, "decode: out of memory");
  d->o = *o;
  const duet_model *m = o->model;
  if (!d->o.block_size) d->o.block_size = DUET_KV_BLOCK_TOKENS;
  if (!d->o.max_batch) d->o.max_batch = 64;
  int bs = d->o.block_size, mb = d->o.max_batch;
  /* Room for a whole batch of full-context sequences, so a full batch
   * never waits for blocks; capped at 1 GiB (--kv-blocks overrides). */
  if (!d->o.pool_blocks)
    d->o.pool_blocks = duet_pool_default_blocks(m->cfg.max_pos, m->cfg.n_layers, m->n_kv_heads_local, m->cfg.head_dim, bs,
                                                mb, 1, (size_t)1 << 30);
  d->leader = o->tp_rank == 0;
  int rc = duet_kv_pool_new(d->o.pool_blocks, bs, m->cfg.n_layers, m->n_kv_heads_local, m->cfg.head_dim, &d->pool);
  if (!rc) rc = duet_workspace_new(m, mb, &d->ws);
  d->seqs = calloc((size_t)mb, sizeof *d->seqs);
  d->batch = calloc((size_t)mb, sizeof *d->batch);
  d->tokens = calloc((size_t)mb, sizeof *d->tokens);
  d->ids = calloc((size_t)mb, sizeof *d->ids);
  if (d->leader) d->logits = malloc(sizeof(float) * (size_t)mb * (size_t)m->cfg.vocab);
  if (!rc && (!d->seqs || !d->batch || !d->tokens || !d->ids || (d->leader && !d->logits)))
    rc = duet_error(DUET_ENOMEM, "decode: out of memory");
  if (rc) {
    duet_decode_role_free(d);
    return rc;
  }
  d->st.role = DUET_ROLE_DECODE;
  d->st.group = o->group;
  *out = d;
  return DUET_OK;
}

static void dreq_free(duet_decode_role *d, dreq *r) {
  duet_kv_seq_release(d->pool, &r->seq);
  free(r->seq.blocks);
  free(r->prompt);
  if (r->sampler) duet_sampler_free(r->sampler);
  free(r);
}

void duet_decode_role_free(duet_decode_role *d) {
  if (!d) return;
  while (d->head) {
    dreq *r = d->head;
    d->head = r->next;
    dreq_free(d, r);
  }
  duet_workspace_free(d->ws);
  duet_kv_pool_free(d->pool);
  free(d->logits);
  free(d->seqs);
  free(d->batch);
  free(d->tokens);
  free(d->ids);
  free(d);
}

static dreq *find(duet_decode_role *d, uint64_t id) {
  for (dreq *r = d->head; r; r = r->next)
    if (r->id == id) return r;
  return NULL;
}

static int recently_freed(const duet_decode_role *d, uint64_t id) {
  int n = d->n_freed < FREED_RING ? d->n_freed : FREED_RING;
  for (int i = 0; i < n; i++)
    if (d->freed[i] == id) return 1;
  return 0;
}

static dreq *add(duet_decode_role *d, uint64_t id, const int32_t *prompt, int n_prompt) {
  dreq *r = calloc(1, sizeof *r);
  if (!r || !(r->prompt = malloc(sizeof(int32_t) * (size_t)(n_prompt > 0 ? n_prompt : 1)))) {
    free(r);
    return NULL;
  }
  if (n_prompt) memcpy(r->prompt, prompt, sizeof(int32_t) * (size_t)n_prompt);
  r->id = id;
  r->n_prompt = n_prompt;
  duet_kv_seq_init(&r->seq);
  dreq **tail = &d->head;
  while (*tail) tail = &(*tail)->next;
  *tail = r;
  d->clock.dirty = 1;
  return r;
}

static void remove_req(duet_decode_role *d, dreq *r) {
  for (dreq **pp = &d->head; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      break;
    }
  d->freed[d->n_freed++ % FREED_RING] = r->id;
  dreq_free(d, r);
  d->clock.dirty = 1;
}

static void to_followers(duet_decode_role *d, uint8_t *buf, size_t len) {
  for (int k = 1; k < d->o.topo.tp; k++) {
    uint8_t *copy = malloc(len);
    if (copy) {
      memcpy(copy, buf, len);
      duet_net_send(d->o.net, duet_topo_decode_rank(&d->o.topo, d->o.group, k), copy, len);
    }
  }
  free(buf);
}

/* Send an encoded message when encoding succeeded (rc 0). Takes the
 * pointers, not the values: an argument list's order of evaluation is
 * unspecified, so buf and len are read only after the encoder ran. */
static void send_to(duet_decode_role *d, int dest, int rc, uint8_t **buf, size_t *len) {
  if (rc == 0) duet_net_send(d->o.net, dest, *buf, *len);
}

/* The one FINISH of a request; its blocks go back to the pool now, on
 * every rank of the group. */
static void finish(duet_decode_role *d, dreq *r, int reason, const char *msg) {
  duet_finish_msg f = {reason, r->n_prompt, r->generated, ""};
  if (msg) snprintf(f.message, sizeof f.message, "%s", msg);
  uint8_t *buf;
  size_t len;
  send_to(d, 0, duet_msg_encode_finish(r->id, &f, &buf, &len), &buf, &len);
  if (r->state != DQ_WAITING && duet_op_encode_ints(DUET_OP_G_FREE, r->id, NULL, 0, &buf, &len) == 0)
    to_followers(d, buf, len);
  remove_req(d, r);
}

/* After token number `generated` was emitted: 1 when the request ended. */
static int check_done(duet_decode_role *d, dreq *r, int tok) {
  if (duet_request_is_end(&r->req, &d->o.model->cfg, tok)) finish(d, r, DUET_FINISH_STOP, NULL);
  else if (r->generated >= r->need_tokens - r->n_prompt) finish(d, r, DUET_FINISH_LENGTH, NULL);
  else return 0;
  return 1;
}

static int kv_quiet(const duet_decode_role *d, const dreq *r) {
  return r->kv_end && r->kv_outstanding == 0 && r->followers_done == d->o.topo.tp - 1;
}

/* Reserve blocks for waiting requests, in arrival order (no overtaking, so
 * a long prompt is not starved by short ones). */
static int admit(duet_decode_role *d) {
  int n = 0;
  for (dreq *r = d->head; r; r = r->next) {
    if (r->state != DQ_WAITING) continue;
    if (duet_kv_seq_reserve(d->pool, &r->seq, r->need_tokens) != 0) break;
    r->state = DQ_RESERVED;
    r->t_reserved = duet_now_s();
    uint8_t *buf;
    size_t len;
    int32_t nt[2] = {r->need_tokens, r->n_prompt}, g = d->o.group;
    if (duet_op_encode_ints(DUET_OP_G_RESERVE, r->id, nt, 2, &buf, &len) == 0) to_followers(d, buf, len);
    send_to(d, 0, duet_op_encode_ints(DUET_OP_RESERVED, r->id, &g, 1, &buf, &len), &buf, &len);
    n++;
  }
  return n;
}

/* RESERVED -> ACTIVE once every rank has all the KV and the first token
 * is here; or finish a stopping request once no KV is in flight. */
static int promote(duet_decode_role *d) {
  int n = 0;
  for (dreq *r = d->head, *next; r; r = next) {
    next = r->next;
    if (r->state != DQ_RESERVED || !kv_quiet(d, r)) continue;
    if (r->stopping) {
      finish(d, r, r->stop_reason, r->stop_msg[0] ? r->stop_msg : NULL);
      n++;
      continue;
    }
    if (!r->first_received) continue;
    d->st.transfer_seconds += duet_now_s() - r->t_reserved;
    n++;
    int want = duet_kv_blocks_for(d->pool, r->n_prompt) * d->o.model->cfg.n_layers;
    if (r->kv_bad || r->kv_blocks != want) { /* counted on the leader; followers check their own */
      finish(d, r, DUET_FINISH_ERROR, "KV transfer incomplete");
      continue;
    }
    r->seq.n_tokens = r->n_prompt;
    r->state = DQ_ACTIVE;
    r->generated = 1;
    check_done(d, r, r->next_token);
  }
  return n;
}

/* More active sequences than a batch holds: the ones that just ran go to
 * the back of the list, so every sequence gets its turn. */
static void rotate(duet_decode_role *d, int n) {
  int active = 0;
  for (dreq *r = d->head; r; r = r->next) active += r->state == DQ_ACTIVE;
  if (active <= n) return;
  for (int i = 0; i < n; i++) {
    dreq *r = d->batch[i], **pp = &d->head;
    while (*pp != r) pp = &(*pp)->next;
    *pp = r->next;
    dreq **tail = &d->head;
    while (*tail) tail = &(*tail)->next;
    *tail = r;
    r->next = NULL;
  }
}

static int decode_step(duet_decode_role *d) {
  int n = 0, vocab = d->o.model->cfg.vocab;
  for (dreq *r = d->head; r && n < d->o.max_batch; r = r->next)
    if (r->state == DQ_ACTIVE) {
      d->batch[n] = r;
      d->seqs[n] = &r->seq;
      d->tokens[n] = r->next_token;
      d->ids[n] = r->id;
      n++;
    }
  if (!n) return 0;
  rotate(d, n);
  uint8_t *buf;
  size_t len;
  if (duet_op_encode_step(d->ids, d->tokens, n, &buf, &len) == 0) to_followers(d, buf, len);
  double t0 = duet_now_s();
  int rc = duet_decode(d->o.model, d->pool, d->seqs, d->tokens, n, d->logits, d->ws, &d->o.tp);
  d->st.step_seconds += duet_now_s() - t0;
  d->st.steps++;
  for (int i = 0; i < n; i++) {
    dreq *r = d->batch[i];
    if (rc) {
      finish(d, r, DUET_FINISH_ERROR, duet_last_error());
      continue;
    }
    duet_token_logprobs lp;
    int want_lp = r->req.sampling.n_logprobs > 0;
    int tok = duet_sample(r->sampler, d->logits + (size_t)i * vocab, want_lp ? &lp : NULL);
    if (tok < 0) {
      finish(d, r, DUET_FINISH_ERROR, duet_last_error());
      continue;
    }
    int32_t t32 = tok;
    duet_tokens_msg t = {1, &t32, want_lp ? &lp : NULL, 0, NULL};
    send_to(d, 0, duet_msg_encode_tokens(r->id, &t, &buf, &len), &buf, &len);
    r->generated++;
    r->next_token = tok;
    check_done(d, r, tok);
  }
  return n;
}

static void report_stats(duet_decode_role *d) {
  if (!d->leader || !duet_stats_due(&d->clock)) return;
  d->st.active = d->st.waiting = 0;
  for (dreq *r = d->head; r; r = r->next) {
    if (r->state == DQ_WAITING) d->st.waiting++;
    else d->st.active++;
  }
  d->st.blocks_free = duet_kv_free_count(d->pool);
  d->st.blocks_used = duet_kv_block_count(d->pool) - d->st.blocks_free;
  duet_group_stats s = d->st;
  s.kv_bytes *= (uint64_t)d->o.topo.tp; /* every rank of the group received an equal shard */
  duet_stats_send(d->o.net, &s);
}

static int step(void *self) {
  duet_decode_role *d = self;
  int n = 0;
  if (d->leader) n = admit(d) + promote(d) + decode_step(d);
  report_stats(d);
  return n;
}

static void on_reserve(duet_decode_role *d, uint64_t id, const uint8_t *pl, size_t len) {
  int32_t pg;
  duet_request_msg q;
  if (duet_op_decode_req(pl, len, &pg, &q) || find(d, id)) return;
  dreq *r = add(d, id, q.prompt, q.n_prompt);
  if (!r) return;
  r->req = q;
  r->req.prompt = r->prompt;
  int max_new = q.max_tokens < 1 ? 1 : q.max_tokens;
  int ctx = d->o.model->cfg.max_pos;
  r->need_tokens = q.n_prompt + (max_new < ctx - q.n_prompt ? max_new : ctx - q.n_prompt);
  int need = duet_kv_blocks_for(d->pool, r->need_tokens), have = duet_kv_block_count(d->pool);
  if (q.n_prompt < 1 || q.n_prompt >= ctx) {
    char m[160];
    snprintf(m, sizeof m, "prompt of %d tokens does not fit the context of %d", q.n_prompt, ctx);
    finish(d, r, DUET_FINISH_ERROR, m);
  } else if (need > have) {
    char m[160];
    snprintf(m, sizeof m, "prompt + max_tokens need %d KV blocks; the decode pool has %d", need, have);
    finish(d, r, DUET_FINISH_ERROR, m);
  }
}

/* The first token came from prefill with its logits: draw it again here
 * so this sampler's state is exactly what one process would have. */
static void on_first(duet_decode_role *d, dreq *r, const uint8_t *pl, size_t len) {
  int vocab = d->o.model->cfg.vocab;
  int32_t token;
  const float *logits;
  if (r->first_received || duet_op_decode_first(pl, len, vocab, &token, &logits)) return;
  r->first_received = 1;
  float *row = malloc(sizeof(float) * (size_t)vocab);
  int rc = row ? duet_request_sampler_new(&r->req, &d->o.model->cfg, r->prompt, r->n_prompt, &r->sampler)
               : DUET_ENOMEM;
  int tok = -1;
  if (!rc) {
    memcpy(row, logits, sizeof(float) * (size_t)vocab);
    tok = duet_sample(r->sampler, row, NULL);
  }
  free(row);
  r->next_token = tok;
  if (tok != token && !r->stopping) {
    r->stopping = 1;
    r->stop_reason = DUET_FINISH_ERROR;
    snprintf(r->stop_msg, sizeof r->stop_msg, "decode sampler replay gave %d, prefill sampled %d", tok, token);
  }
}

static void stop_later(dreq *r, int reason, const char *msg) {
  if (r->stopping) return;
  r->stopping = 1;
  r->stop_reason = reason;
  snprintf(r->stop_msg, sizeof r->stop_msg, "%s", msg ? msg : "");
}

static void on_cancel(duet_decode_role *d, dreq *r, const uint8_t *pl, size_t len) {
  int32_t dispatched = 1;
  duet_op_decode_ints(pl, len, &dispatched, 1);
  /* Blocks may still be receiving KV only when prefill was dispatched and
   * its END has not landed everywhere; otherwise free now. */
  if (r->state == DQ_RESERVED && dispatched) stop_later(r, DUET_FINISH_CANCELLED, NULL);
  else finish(d, r, DUET_FINISH_CANCELLED, NULL);
}

static void leader_msg(duet_decode_role *d, const duet_msg_header *h, const uint8_t *pl) {
  if (h->kind == DUET_OP_RESERVE) {
    on_reserve(d, h->request_id, pl, h->payload_len);
    return;
  }
  dreq *r = find(d, h->request_id);
  if (!r) return;
  if (h->kind == DUET_OP_FIRST) on_first(d, r, pl, h->payload_len);
  else if (h->kind == DUET_OP_CANCEL) on_cancel(d, r, pl, h->payload_len);
  else if (h->kind == DUET_MSG_FINISH) { /* prefill failed; its END follows */
    duet_finish_msg f;
    if (duet_msg_decode_finish(pl, h->payload_len, &f) == 0) stop_later(r, DUET_FINISH_ERROR, f.message);
  } else if (h->kind == DUET_OP_G_KVDONE) {
    int32_t ok = 0;
    duet_op_decode_ints(pl, h->payload_len, &ok, 1);
    r->followers_done++;
    if (!ok) r->kv_bad = 1;
  }
}

static void follower_kv_check(duet_decode_role *d, dreq *r) {
  if (d->leader || r->kv_done_sent || !r->kv_end || r->kv_outstanding) return;
  r->kv_done_sent = 1;
  r->seq.n_tokens = r->n_prompt; /* the leader does the same when it promotes */
  int32_t ok = !r->kv_bad && r->kv_blocks == duet_kv_blocks_for(d->pool, r->n_prompt) * d->o.model->cfg.n_layers;
  if (r->n_prompt == 0) ok = 1; /* cancelled before any prompt reached prefill */
  uint8_t *buf;
  size_t len;
  send_to(d, duet_topo_decode_rank(&d->o.topo, d->o.group, 0),
          duet_op_encode_ints(DUET_OP_G_KVDONE, r->id, &ok, 1, &buf, &len), &buf, &len);
}

static void follower_step(duet_decode_role *d, const uint8_t *pl, size_t len) {
  int n;
  if (duet_op_decode_step(pl, len, d->o.max_batch, d->ids, d->tokens, &n)) return;
  for (int i = 0; i < n; i++) {
    dreq *r = find(d, d->ids[i]);
    if (!r) {
      fprintf(stderr, "duet decode rank %d: step names unknown request %llu; the group cannot continue\n",
              d->o.tp_rank, (unsigned long long)d->ids[i]);
      abort();
    }
    d->seqs[i] = &r->seq;
  }
  if (duet_decode(d->o.model, d->pool, d->seqs, d->tokens, n, NULL, d->ws, &d->o.tp)) {
    fprintf(stderr, "duet decode rank %d: %s\n", d->o.tp_rank, duet_last_error());
    abort();
  }
}

static void follower_msg(duet_decode_role *d, const duet_msg_header *h, const uint8_t *pl) {
  if (h->kind == DUET_OP_G_RESERVE) {
    int32_t v[2];
    if (duet_op_decode_ints(pl, h->payload_len, v, 2) || find(d, h->request_id)) return;
    dreq *r = add(d, h->request_id, NULL, 0);
    if (!r) abort();
    r->n_prompt = v[1];
    r->need_tokens = v[0];
    r->state = DQ_RESERVED;
    if (duet_kv_seq_reserve(d->pool, &r->seq, v[0])) {
      fprintf(stderr, "duet decode rank %d: %s (the leader had room)\n", d->o.tp_rank, duet_last_error());
      abort();
    }
    follower_kv_check(d, r);
  } else if (h->kind == DUET_OP_G_STEP) {
    follower_step(d, pl, h->payload_len);
  } else if (h->kind == DUET_OP_G_FREE) {
    dreq *r = find(d, h->request_id);
    if (r) remove_req(d, r);
  }
}

static void on_msg(void *self, int src, uint8_t *buf, size_t len) {
  duet_decode_role *d = self;
  (void)src;
  duet_msg_header h;
  if (duet_msg_header_decode(buf, len, &h) == 0 && len == DUET_MSG_HEADER_SIZE + (size_t)h.payload_len) {
    const uint8_t *pl = buf + DUET_MSG_HEADER_SIZE;
    if (h.kind == DUET_MSG_SHUTDOWN) {
      d->shutdown = 1;
      uint8_t *b;
      size_t l;
      if (d->leader && duet_msg_encode_empty(DUET_MSG_SHUTDOWN, 0, &b, &l) == 0) to_followers(d, b, l);
    } else if (d->leader) {
      leader_msg(d, &h, pl);
    } else {
      follower_msg(d, &h, pl);
    }
  }
  free(buf);
}

/* Every data header of a known request counts as outstanding until its
 * kv_received, including one refused here (returned NULL: dropped). */
static void *kv_target(void *self, int src, const duet_kv_wire *h) {
  duet_decode_role *d = self;
  (void)src;
  dreq *r = find(d, h->request_id);
  if (!r) return recently_freed(d, h->request_id) ? NULL : DUET_KV_DEFER;
  if (r->state == DQ_WAITING) return DUET_KV_DEFER;
  if (h->flags & DUET_KV_END) return r;
  r->kv_outstanding++;
  size_t bytes = duet_kv_layer_floats(d->pool) * sizeof(float);
  if (h->layer_first >= d->o.model->cfg.n_layers || h->layer_count != 1 || h->block_index >= (uint32_t)r->seq.n_blocks ||
      h->data_bytes != bytes || h->shard != d->o.tp_rank || h->dtype != DUET_F32)
    return NULL;
  return duet_kv_layer_data(d->pool, r->seq.blocks[h->block_index], h->layer_first);
}

static void kv_received(void *self, int src, const duet_kv_wire *h, int dropped) {
  duet_decode_role *d = self;
  (void)src;
  dreq *r = find(d, h->request_id);
  if (!r) return;
  if (h->flags & DUET_KV_END) {
    r->kv_end = 1;
  } else {
    r->kv_outstanding--;
    if (dropped) r->kv_bad = 1;
    else {
      r->kv_blocks++;
      d->st.kv_bytes += h->data_bytes;
    }
  }
  follower_kv_check(d, r);
}

static void kv_sent(void *self, void *ctx) { (void)self, (void)ctx; }
static int finished(void *self) { return ((duet_decode_role *)self)->shutdown; }

duet_role duet_decode_role_iface(duet_decode_role *d) {
  return (duet_role){d, on_msg, kv_target, kv_received, kv_sent, step, finished};
}
