#include "server/runtime/prefill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/kv_cache.h"
#include "engine/sampler.h"
#include "proto/mpi_transport.h"
#include "server/runtime/request_sampler.h"
#include "server/runtime/wire_ops.h"

typedef enum { PQ_QUEUED, PQ_DRAINING } pq_state;

typedef struct preq {
  uint64_t id;
  int decode_group;
  int32_t *prompt;
  int n_prompt, pos;
  duet_kv_seq seq;
  duet_request_msg req; /* leader: sampling params etc. (prompt points to .prompt) */
  pq_state state;
  int inflight;         /* KV sends not yet completed */
  int cancelled;
  duet_token_logprobs *prompt_lp; /* leader, echo with logprobs: (n_prompt - 1) */
  struct preq *next;
} preq;

struct duet_prefill_role {
  duet_prefill_opts o;
  duet_kv_pool *pool;
  duet_workspace *ws;
  float *logits, *logits_copy;
  float *chunk_logits; /* (logits_rows(), vocab): every row's, for prompt logprobs */
  preq *head; /* FIFO: queued first, then draining */
  int leader, shutdown;
  duet_group_stats st;
  duet_stats_clock clock;
};

int duet_prefill_role_new(const duet_prefill_opts *o, duet_prefill_role **out) {
  *out = NULL;
  duet_prefill_role *p = calloc(1, sizeof *p);
  if (!p) return duet_error(DUET_ENOMEM, "prefill: out of memory");
  p->o = *o;
  const duet_model *m = o->model;
  if (!p->o.block_size) p->o.block_size = DUET_KV_BLOCK_TOKENS;
  int bs = p->o.block_size;
  if (!p->o.token_budget) p->o.token_budget = 512;
  p->o.token_budget = (p->o.token_budget + bs - 1) / bs * bs;
  if (!p->o.pool_blocks) /* a few prompts in flight while their sends drain; 512 MiB at most */
    p->o.pool_blocks = duet_pool_default_blocks(m->cfg.max_pos, m->cfg.n_layers, m->n_kv_heads_local, m->cfg.head_dim, bs,
                                                4, p->o.token_budget / bs, (size_t)512 << 20);
  p->leader = o->tp_rank == 0;
  int rc = duet_kv_pool_new(p->o.pool_blocks, bs, m->cfg.n_layers, m->n_kv_heads_local, m->cfg.head_dim, &p->pool);
  if (!rc) rc = duet_workspace_new(m, p->o.token_budget, &p->ws);
  if (!rc && p->leader) {
    p->logits = malloc(sizeof(float) * (size_t)m->cfg.vocab);
    p->logits_copy = malloc(sizeof(float) * (size_t)m->cfg.vocab);
    if (!p->logits || !p->logits_copy) rc = duet_error(DUET_ENOMEM, "prefill: out of memory for logits");
  }
  if (rc) {
    duet_prefill_role_free(p);
    return rc;
  }
  p->st.role = DUET_ROLE_PREFILL;
  p->st.group = o->group;
  *out = p;
  return DUET_OK;
}

static void preq_free(duet_prefill_role *p, preq *r) {
  duet_kv_seq_release(p->pool, &r->seq);
  free(r->seq.blocks);
  free(r->prompt);
  free(r->prompt_lp);
  free(r);
}

void duet_prefill_role_free(duet_prefill_role *p) {
  if (!p) return;
  while (p->head) {
    preq *r = p->head;
    p->head = r->next;
    preq_free(p, r);
  }
  duet_workspace_free(p->ws);
  duet_kv_pool_free(p->pool);
  free(p->logits);
  free(p->logits_copy);
  free(p->chunk_logits);
  free(p);
}

static preq *find(duet_prefill_role *p, uint64_t id) {
  for (preq *r = p->head; r; r = r->next)
    if (r->id == id) return r;
  return NULL;
}

static preq *add(duet_prefill_role *p, uint64_t id, int decode_group, const int32_t *prompt, int n_prompt) {
  preq *r = calloc(1, sizeof *r);
  if (!r || !(r->prompt = malloc(sizeof(int32_t) * (size_t)n_prompt))) {
    free(r);
    return NULL;
  }
  memcpy(r->prompt, prompt, sizeof(int32_t) * (size_t)n_prompt);
  r->id = id;
  r->decode_group = decode_group;
  r->n_prompt = n_prompt;
  duet_kv_seq_init(&r->seq);
  preq **tail = &p->head;
  while (*tail) tail = &(*tail)->next;
  *tail = r;
  p->clock.dirty = 1;
  return r;
}

static int peer(duet_prefill_role *p, int decode_group) {
  return duet_topo_decode_rank(&p->o.topo, decode_group, p->o.tp_rank);
}

/* No more KV for this request from this rank: tell the decode peer, and
 * let the blocks go once the sends are done. */
static void send_end(duet_prefill_role *p, preq *r) {
  duet_kv_wire h = {.flags = DUET_KV_END, .request_id = r->id, .shard = (uint16_t)p->o.tp_rank};
  p->o.net->send_kv(p->o.net, peer(p, r->decode_group), &h, 0, NULL, NULL);
  r->state = PQ_DRAINING;
  p->clock.dirty = 1;
}

typedef struct {
  duet_prefill_role *p;
  preq *r;
} layer_ctx;

/* forward's layer_done hook: positions [first, first+n) of `layer` are
 * written; send every block of that range that is now complete (or holds
 * the prompt's last token), as one run under one header. Chunks are
 * block-aligned, so each (block, layer) goes exactly once. */
static void on_layer_done(int layer, int first, int n, void *ctx) {
  layer_ctx *c = ctx;
  duet_prefill_role *p = c->p;
  preq *r = c->r;
  int bs = p->o.block_size, end = first + n;
  int b0 = first / bs, b1 = end == r->n_prompt ? (end + bs - 1) / bs : end / bs; /* blocks [b0, b1) */
  if (b1 <= b0) return;
  const void **data = malloc(sizeof(void *) * (size_t)(b1 - b0));
  if (!data) return; /* the decode side sees the blocks missing and fails the request */
  for (int b = b0; b < b1; b++) data[b - b0] = duet_kv_layer_data(p->pool, r->seq.blocks[b], layer);
  int ntok = (b1 * bs < r->n_prompt ? b1 * bs : r->n_prompt) - b0 * bs;
  duet_kv_wire h = {0, r->id, (uint16_t)layer, 1, (uint32_t)b0, (uint32_t)ntok, DUET_F32, (uint16_t)p->o.tp_rank,
                    duet_kv_layer_floats(p->pool) * sizeof(float)};
  if (p->o.net->send_kv(p->o.net, peer(p, r->decode_group), &h, b1 - b0, data, r) == 0) r->inflight += b1 - b0;
  free(data);
}

/* Room for the chunk's blocks: blocks still held by completed sends come
 * back as the transport makes progress. */
static int wait_for_blocks(duet_prefill_role *p, preq *r, int upto, int block) {
  int need = duet_kv_blocks_for(p->pool, upto) - r->seq.n_blocks;
  if (need > duet_kv_block_count(p->pool))
    return duet_error(DUET_ENOSPC, "prefill pool of %d blocks cannot hold a %d-token prompt",
                      duet_kv_block_count(p->pool), r->n_prompt);
  duet_backoff b = {0, 500};
  for (int i = 0; duet_kv_free_count(p->pool) < need; i++) {
    if (!block) return DUET_EAGAIN;
    if (i > 2000000) return duet_error(DUET_ETIMEDOUT, "prefill: KV sends did not complete");
    duet_backoff_step(&b, p->o.net->pump(p->o.net));
    for (preq **pp = &p->head; *pp;) { /* release what drained meanwhile */
      preq *q = *pp;
      if (q != r && q->state == PQ_DRAINING && q->inflight == 0) {
        *pp = q->next;
        preq_free(p, q);
      } else {
        pp = &q->next;
      }
    }
  }
  return DUET_OK;
}

/* Rows of a chunk whose every position's logits are kept (prompt
 * logprobs): 64 MiB of them, a multiple of the block size. */
static int logits_rows(const duet_prefill_role *p) {
  int bs = p->o.block_size, rows = (int)(((size_t)64 << 20) / sizeof(float) / (size_t)p->o.model->cfg.vocab);
  rows = rows / bs * bs;
  return rows < bs ? bs : rows;
}

static int wants_prompt_lp(const duet_prefill_role *p, const preq *r) {
  return p->leader && r->req.prompt_logprobs && r->n_prompt > 1;
}

/* Leader: the chunk's rows of logits -> prompt_lp of positions pos..pos+n
 * (each row scores the next prompt token); the last row of the prompt
 * goes to p->logits for the first token. */
static void prompt_logprobs(duet_prefill_role *p, preq *r, int n, int last) {
  int vocab = p->o.model->cfg.vocab, top = r->req.sampling.n_logprobs;
  for (int j = 0; j < n; j++) {
    const float *row = p->chunk_logits + (size_t)j * (size_t)vocab;
    int q = r->pos + j;
    if (q + 1 < r->n_prompt) duet_logprobs_of(row, vocab, r->prompt[q + 1], top, &r->prompt_lp[q]);
    else if (last) memcpy(p->logits, row, sizeof(float) * (size_t)vocab);
  }
}

static int chunk_buffers(duet_prefill_role *p, preq *r) {
  if (!p->chunk_logits) p->chunk_logits = malloc(sizeof(float) * (size_t)logits_rows(p) * (size_t)p->o.model->cfg.vocab);
  if (!r->prompt_lp) r->prompt_lp = malloc(sizeof *r->prompt_lp * (size_t)(r->n_prompt - 1));
  if (!p->chunk_logits || !r->prompt_lp) return duet_error(DUET_ENOMEM, "prefill: out of memory for prompt logprobs");
  return DUET_OK;
}

static int run_chunk(duet_prefill_role *p, preq *r, int n, int last) {
  int rc = wait_for_blocks(p, r, r->pos + n, 1), all = wants_prompt_lp(p, r);
  if (!rc && all) rc = chunk_buffers(p, r);
  if (rc) return rc;
  layer_ctx lc = {p, r};
  duet_forward_hooks hooks = p->o.tp;
  hooks.layer_done = on_layer_done;
  hooks.layer_done_ctx = &lc;
  double t0 = duet_now_s();
  float *logits = all ? p->chunk_logits : last && p->leader ? p->logits : NULL;
  rc = duet_prefill(p->o.model, p->pool, &r->seq, r->prompt + r->pos, n, logits, all, p->ws, &hooks);
  p->st.step_seconds += duet_now_s() - t0;
  p->st.steps++;
  p->clock.dirty = 1; /* duetd's stall watchdog counts steps: a long prompt's chunks are its progress */
  if (rc) return rc;
  if (all) prompt_logprobs(p, r, n, last);
  r->pos += n;
  return DUET_OK;
}

static void send_finish_error(duet_prefill_role *p, preq *r, const char *msg) {
  duet_finish_msg f = {DUET_FINISH_ERROR, r->n_prompt, 0, ""};
  snprintf(f.message, sizeof f.message, "prefill: %s", msg);
  uint8_t *buf;
  size_t len;
  if (duet_msg_encode_finish(r->id, &f, &buf, &len) == 0)
    duet_net_send(p->o.net, duet_topo_decode_rank(&p->o.topo, r->decode_group, 0), buf, len);
}

/* Leader: sample the first token, send it to the coordinator (for the
 * client) and with the logits to the decode leader (whose sampler replays
 * the same draw, so its state matches a single-process run). */
static int first_token(duet_prefill_role *p, preq *r) {
  int vocab = p->o.model->cfg.vocab;
  duet_sampler *s;
  int rc = duet_request_sampler_new(&r->req, &p->o.model->cfg, r->prompt, r->n_prompt, &s);
  if (rc) return rc;
  memcpy(p->logits_copy, p->logits, sizeof(float) * (size_t)vocab);
  duet_token_logprobs lp;
  int tok = duet_sample(s, p->logits, r->req.sampling.n_logprobs > 0 ? &lp : NULL);
  duet_sampler_free(s);
  if (tok < 0) return tok;
  int32_t id32 = tok;
  duet_tokens_msg t = {1, &id32, r->req.sampling.n_logprobs > 0 ? &lp : NULL, r->prompt_lp ? r->n_prompt - 1 : 0,
                       r->prompt_lp};
  uint8_t *buf;
  size_t len;
  if ((rc = duet_msg_encode_tokens(r->id, &t, &buf, &len)) < 0) return rc; /* too large: the request fails, answered */
  duet_net_send(p->o.net, 0, buf, len);
  if (duet_op_encode_first(r->id, tok, p->logits_copy, vocab, &buf, &len) == 0)
    duet_net_send(p->o.net, duet_topo_decode_rank(&p->o.topo, r->decode_group, 0), buf, len);
  return DUET_OK;
}

static void tell_followers(duet_prefill_role *p, int kind, uint64_t id, const duet_chunk_op *c, int decode_group) {
  for (int k = 1; k < p->o.topo.tp; k++) {
    uint8_t *buf;
    size_t len;
    int rc = kind == DUET_OP_G_CHUNK ? duet_op_encode_chunk(id, c, &buf, &len)
                                     : duet_op_encode_ints(DUET_OP_G_END, id, &decode_group, 1, &buf, &len);
    if (rc == 0) duet_net_send(p->o.net, duet_topo_prefill_rank(&p->o.topo, p->o.group, k), buf, len);
  }
}

static void end_request(duet_prefill_role *p, preq *r) {
  tell_followers(p, DUET_OP_G_END, r->id, NULL, r->decode_group);
  send_end(p, r);
}

/* Leader step: chunks of queued prompts, in arrival order, up to the
 * budget. Returns the number of tokens prefilled. */
static int leader_step(duet_prefill_role *p) {
  int budget = p->o.token_budget, done = 0, bs = p->o.block_size;
  for (preq *r = p->head; r && budget > 0; r = r->next) {
    if (r->state != PQ_QUEUED) continue;
    if (r->cancelled) {
      end_request(p, r);
      continue;
    }
    int n = r->n_prompt - r->pos, last = 1, limit = budget;
    if (wants_prompt_lp(p, r) && logits_rows(p) < limit) limit = logits_rows(p);
    if (n > limit) {
      n = limit / bs * bs;
      last = 0;
      if (n == 0) break;
    }
    if (wait_for_blocks(p, r, r->pos + n, 0) == DUET_EAGAIN) break; /* try again next step */
    duet_chunk_op c = {r->decode_group, r->pos, n, last, r->n_prompt, r->prompt + r->pos};
    tell_followers(p, DUET_OP_G_CHUNK, r->id, &c, 0);
    int rc = run_chunk(p, r, n, last);
    if (!rc && last) rc = first_token(p, r);
    if (rc) {
      send_finish_error(p, r, duet_last_error());
      end_request(p, r);
      continue;
    }
    if (last) end_request(p, r);
    budget -= n;
    done += n;
  }
  return done;
}

static void reap(duet_prefill_role *p) {
  for (preq **pp = &p->head; *pp;) {
    preq *q = *pp;
    if (q->state == PQ_DRAINING && q->inflight == 0) {
      *pp = q->next;
      preq_free(p, q);
      p->clock.dirty = 1;
    } else {
      pp = &q->next;
    }
  }
}

static void report_stats(duet_prefill_role *p) {
  if (!p->leader || !duet_stats_due(&p->clock)) return;
  p->st.queued_tokens = p->st.active = 0;
  for (preq *r = p->head; r; r = r->next)
    if (r->state == PQ_QUEUED) {
      p->st.queued_tokens += r->n_prompt - r->pos;
      p->st.active++;
    }
  p->st.blocks_free = duet_kv_free_count(p->pool);
  p->st.blocks_used = duet_kv_block_count(p->pool) - p->st.blocks_free;
  duet_stats_send(p->o.net, &p->st);
}

static int step(void *self) {
  duet_prefill_role *p = self;
  int done = p->leader ? leader_step(p) : 0;
  reap(p);
  report_stats(p);
  return done;
}

/* Follower: run the chunk its leader ran (same order, so the group's
 * allreduces pair up). */
static void follower_chunk(duet_prefill_role *p, uint64_t id, const duet_chunk_op *c) {
  preq *r = find(p, id);
  if (!r && c->pos == 0) r = add(p, id, c->decode_group, c->tokens, c->n_prompt);
  if (r && c->pos == 0 && r->n_prompt != c->n_prompt) r = NULL;
  if (!r || r->pos != c->pos) {
    fprintf(stderr, "duet prefill rank %d: chunk for request %llu out of order; the group cannot continue\n",
            p->o.tp_rank, (unsigned long long)id);
    abort();
  }
  if (c->pos > 0) memcpy(r->prompt + c->pos, c->tokens, sizeof(int32_t) * (size_t)c->n);
  int rc = run_chunk(p, r, c->n, c->last);
  if (rc) {
    fprintf(stderr, "duet prefill rank %d: %s\n", p->o.tp_rank, duet_last_error());
    abort(); /* the leader's allreduces would never pair up again */
  }
}

static void on_leader_msg(duet_prefill_role *p, const duet_msg_header *h, const uint8_t *pl) {
  if (h->kind == DUET_OP_PREFILL) {
    int32_t dg;
    duet_request_msg q;
    if (duet_op_decode_req(pl, h->payload_len, &dg, &q) || dg < 0 || dg >= p->o.topo.n_decode) return;
    preq *r = add(p, h->request_id, dg, q.prompt, q.n_prompt);
    if (!r) return;
    r->req = q;
    r->req.prompt = r->prompt;
  } else if (h->kind == DUET_OP_CANCEL) {
    preq *r = find(p, h->request_id);
    if (r) r->cancelled = 1;
  }
}

static void on_msg(void *self, int src, uint8_t *buf, size_t len) {
  duet_prefill_role *p = self;
  (void)src;
  duet_msg_header h;
  if (duet_msg_header_decode(buf, len, &h) == 0 && len == DUET_MSG_HEADER_SIZE + (size_t)h.payload_len) {
    const uint8_t *pl = buf + DUET_MSG_HEADER_SIZE;
    if (h.kind == DUET_MSG_SHUTDOWN) {
      p->shutdown = 1;
      for (int k = 1; p->leader && k < p->o.topo.tp; k++) {
        uint8_t *b;
        size_t l;
        if (duet_msg_encode_empty(DUET_MSG_SHUTDOWN, 0, &b, &l) == 0)
          duet_net_send(p->o.net, duet_topo_prefill_rank(&p->o.topo, p->o.group, k), b, l);
      }
    } else if (p->leader) {
      on_leader_msg(p, &h, pl);
    } else if (h.kind == DUET_OP_G_CHUNK) {
      duet_chunk_op c;
      if (duet_op_decode_chunk(pl, h.payload_len, &c) == 0) follower_chunk(p, h.request_id, &c);
    } else if (h.kind == DUET_OP_G_END) {
      int32_t dg;
      if (duet_op_decode_ints(pl, h.payload_len, &dg, 1) == 0 && dg >= 0 && dg < p->o.topo.n_decode) {
        preq *r = find(p, h.request_id);
        if (!r) { /* never started here: the decode peer still waits for END */
          int32_t none = 0;
          r = add(p, h.request_id, dg, &none, 1);
        }
        if (r && r->state == PQ_QUEUED) send_end(p, r);
      }
    }
  }
  free(buf);
}

static void *kv_target(void *self, int src, const duet_kv_wire *h) {
  (void)self, (void)src, (void)h;
  return NULL; /* prefill receives no KV */
}
static void kv_received(void *self, int src, const duet_kv_wire *h, int dropped) { (void)self, (void)src, (void)h, (void)dropped; }
static void kv_sent(void *self, void *ctx) {
  (void)self;
  ((preq *)ctx)->inflight--;
}
static int finished(void *self) {
  duet_prefill_role *p = self;
  if (!p->shutdown) return 0;
  for (preq *r = p->head; r; r = r->next)
    if (r->inflight) return 0;
  return 1;
}

duet_role duet_prefill_role_iface(duet_prefill_role *p) {
  return (duet_role){p, on_msg, kv_target, kv_received, kv_sent, step, finished};
}
