#include "proto/message.h"

#include <string.h>

#include "engine/error.h"
#include "proto/wbuf.h"

int duet_msg_kind_internal(int kind) { return kind >= DUET_MSG_INTERNAL_FIRST && kind <= DUET_MSG_INTERNAL_LAST; }

int duet_msg_kind_valid(int kind) {
  return (kind >= DUET_MSG_REQUEST && kind <= DUET_MSG_SHUTDOWN) || duet_msg_kind_internal(kind);
}

void duet_msg_header_encode(const duet_msg_header *h, uint8_t out[DUET_MSG_HEADER_SIZE]) {
  uint32_t reserved = 0;
  memcpy(out + 0, &h->magic, 4);
  memcpy(out + 4, &h->version, 2);
  memcpy(out + 6, &h->kind, 2);
  memcpy(out + 8, &h->request_id, 8);
  memcpy(out + 16, &h->payload_len, 4);
  memcpy(out + 20, &reserved, 4);
}

int duet_msg_header_decode(const uint8_t *buf, size_t len, duet_msg_header *h) {
  memset(h, 0, sizeof *h);
  if (!buf || len < DUET_MSG_HEADER_SIZE)
    return duet_error(DUET_EPROTO, "message header truncated: %zu of %d bytes", len, DUET_MSG_HEADER_SIZE);
  duet_rbuf r;
  duet_rbuf_init(&r, buf, DUET_MSG_HEADER_SIZE);
  h->magic = duet_rbuf_u32(&r);
  h->version = duet_rbuf_u16(&r);
  h->kind = duet_rbuf_u16(&r);
  h->request_id = duet_rbuf_u64(&r);
  h->payload_len = duet_rbuf_u32(&r);
  if (h->magic != DUET_PROTO_MAGIC)
    return duet_error(DUET_EPROTO, "bad message magic 0x%08x (expected 0x%08x \"DUET\")", h->magic, DUET_PROTO_MAGIC);
  if (h->version != DUET_PROTO_VERSION)
    return duet_error(DUET_EPROTO, "unsupported protocol version %u (this build speaks %d)", h->version,
                      DUET_PROTO_VERSION);
  if (!duet_msg_kind_valid(h->kind)) return duet_error(DUET_EPROTO, "unknown message kind %u", h->kind);
  if (h->payload_len > DUET_MSG_MAX_PAYLOAD)
    return duet_error(DUET_EPROTO, "message payload of %u bytes exceeds the limit of %u", h->payload_len,
                      DUET_MSG_MAX_PAYLOAD);
  return DUET_OK;
}

static void put_sampling(duet_wbuf *w, const duet_sampling_params *s) {
  duet_wbuf_f32(w, s->temperature);
  duet_wbuf_i32(w, s->top_k);
  duet_wbuf_f32(w, s->top_p);
  duet_wbuf_f32(w, s->min_p);
  duet_wbuf_f32(w, s->repetition_penalty);
  duet_wbuf_f32(w, s->presence_penalty);
  duet_wbuf_f32(w, s->frequency_penalty);
  duet_wbuf_u64(w, s->seed);
  duet_wbuf_i32(w, s->n_logprobs);
  duet_wbuf_i32(w, s->min_tokens);
  duet_wbuf_i32(w, s->n_bias);
  for (int i = 0; i < s->n_bias; i++) duet_wbuf_i32(w, s->bias_ids[i]), duet_wbuf_f32(w, s->bias[i]);
}

static void get_sampling(duet_rbuf *r, duet_sampling_params *s) {
  s->temperature = duet_rbuf_f32(r);
  s->top_k = duet_rbuf_i32(r);
  s->top_p = duet_rbuf_f32(r);
  s->min_p = duet_rbuf_f32(r);
  s->repetition_penalty = duet_rbuf_f32(r);
  s->presence_penalty = duet_rbuf_f32(r);
  s->frequency_penalty = duet_rbuf_f32(r);
  s->seed = duet_rbuf_u64(r);
  s->n_logprobs = duet_rbuf_i32(r);
  s->min_tokens = duet_rbuf_i32(r);
  s->n_bias = duet_rbuf_i32(r);
  if (s->n_bias < 0 || s->n_bias > DUET_MAX_LOGIT_BIAS) {
    r->bad = 1;
    s->n_bias = 0;
    return;
  }
  for (int i = 0; i < s->n_bias; i++) s->bias_ids[i] = duet_rbuf_i32(r), s->bias[i] = duet_rbuf_f32(r);
}

/* An int32 array inside a payload, checked for count and alignment so the
 * caller may read it in place. */
static const int32_t *take_ids(duet_rbuf *r, int32_t n, int32_t max, const char *what) {
  if (n < 0 || n > max) {
    r->bad = 1;
    duet_error(DUET_EPROTO, "%s: count %d out of range [0, %d]", what, n, max);
    return NULL;
  }
  const uint8_t *p = duet_rbuf_take(r, (size_t)n * 4);
  if (!p) {
    duet_error(DUET_EPROTO, "%s: %d ids do not fit in the payload", what, n);
    return NULL;
  }
  if ((uintptr_t)p % 4) {
    r->bad = 1;
    duet_error(DUET_EPROTO, "%s: payload not 4-byte aligned", what);
    return NULL;
  }
  return (const int32_t *)p;
}

int duet_msg_encode_request(uint64_t id, const duet_request_msg *q, uint8_t **out, size_t *out_len) {
  if (q->n_stop_ids < 0 || q->n_stop_ids > DUET_MAX_STOP_IDS || q->n_prompt < 0 || (q->n_prompt && !q->prompt) ||
      q->sampling.n_bias < 0 || q->sampling.n_bias > DUET_MAX_LOGIT_BIAS)
    return duet_error(DUET_EINVAL, "request %llu: bad stop-id, logit-bias or prompt count", (unsigned long long)id);
  duet_wbuf w;
  duet_wbuf_init(&w, 64 + 4 * (size_t)q->n_prompt);
  put_sampling(&w, &q->sampling);
  duet_wbuf_i32(&w, q->max_tokens);
  duet_wbuf_i32(&w, q->ignore_eos);
  duet_wbuf_i32(&w, q->n_stop_ids);
  duet_wbuf_bytes(&w, q->stop_ids, 4 * (size_t)q->n_stop_ids);
  duet_wbuf_i32(&w, q->n_prompt);
  duet_wbuf_bytes(&w, q->prompt, 4 * (size_t)q->n_prompt);
  duet_wbuf_i32(&w, q->prompt_logprobs);
  return duet_wbuf_finish(&w, DUET_MSG_REQUEST, id, out, out_len);
}

int duet_msg_decode_request(const uint8_t *payload, size_t len, duet_request_msg *q) {
  memset(q, 0, sizeof *q);
  duet_rbuf r;
  duet_rbuf_init(&r, payload, len);
  get_sampling(&r, &q->sampling);
  q->max_tokens = duet_rbuf_i32(&r);
  q->ignore_eos = duet_rbuf_i32(&r);
  q->n_stop_ids = duet_rbuf_i32(&r);
  if (r.bad) return duet_error(DUET_EPROTO, "request payload truncated (%zu bytes)", len);
  const int32_t *stops = take_ids(&r, q->n_stop_ids, DUET_MAX_STOP_IDS, "request stop ids");
  if (!stops && r.bad) return DUET_EPROTO;
  if (q->n_stop_ids) memcpy(q->stop_ids, stops, 4 * (size_t)q->n_stop_ids);
  q->n_prompt = duet_rbuf_i32(&r);
  if (r.bad) return duet_error(DUET_EPROTO, "request payload truncated before the prompt");
  q->prompt = take_ids(&r, q->n_prompt, (int32_t)(DUET_MSG_MAX_PAYLOAD / 4), "request prompt");
  if (r.bad) return DUET_EPROTO;
  q->prompt_logprobs = duet_rbuf_i32(&r);
  if (r.bad || (q->prompt_logprobs != 0 && q->prompt_logprobs != 1))
    return duet_error(DUET_EPROTO, "request prompt_logprobs missing or not 0/1");
  if (duet_rbuf_left(&r)) return duet_error(DUET_EPROTO, "request payload has %zu trailing bytes", duet_rbuf_left(&r));
  return DUET_OK;
}

_Static_assert(sizeof(duet_token_logprobs) == 8 + 8 * DUET_MAX_LOGPROBS, "logprobs entries are packed 4-byte fields");

static void put_logprobs(duet_wbuf *w, const duet_token_logprobs *lps, int n) {
  for (int i = 0; i < n; i++) {
    const duet_token_logprobs *lp = &lps[i];
    duet_wbuf_f32(w, lp->logprob);
    duet_wbuf_i32(w, lp->n_top);
    duet_wbuf_bytes(w, lp->top_ids, sizeof lp->top_ids);
    duet_wbuf_bytes(w, lp->top_logprobs, sizeof lp->top_logprobs);
  }
}

/* n logprobs entries read in place (packed 4-byte fields), each checked. */
static const duet_token_logprobs *take_logprobs(duet_rbuf *r, int32_t n, const char *what) {
  if (n < 0 || (size_t)n > DUET_MSG_MAX_PAYLOAD / sizeof(duet_token_logprobs)) {
    r->bad = 1;
    duet_error(DUET_EPROTO, "%s: count %d out of range", what, n);
    return NULL;
  }
  const uint8_t *p = duet_rbuf_take(r, (size_t)n * sizeof(duet_token_logprobs));
  if (!p) {
    duet_error(DUET_EPROTO, "%s truncated", what);
    return NULL;
  }
  const duet_token_logprobs *lp = (const duet_token_logprobs *)p;
  for (int i = 0; i < n; i++)
    if (lp[i].n_top < 0 || lp[i].n_top > DUET_MAX_LOGPROBS) {
      r->bad = 1;
      duet_error(DUET_EPROTO, "%s entry %d: n_top %d out of range", what, i, lp[i].n_top);
      return NULL;
    }
  return lp;
}

int duet_msg_encode_tokens(uint64_t id, const duet_tokens_msg *t, uint8_t **out, size_t *out_len) {
  if (t->n < 1 || !t->ids || t->n_prompt_lp < 0 || (t->n_prompt_lp && !t->prompt_lp))
    return duet_error(DUET_EINVAL, "tokens message for %llu: no tokens or bad prompt logprobs", (unsigned long long)id);
  duet_wbuf w;
  duet_wbuf_init(&w, 12 + (size_t)t->n * (4 + sizeof(duet_token_logprobs)) +
                         (size_t)t->n_prompt_lp * sizeof(duet_token_logprobs));
  duet_wbuf_i32(&w, t->n);
  duet_wbuf_i32(&w, t->logprobs != NULL);
  duet_wbuf_bytes(&w, t->ids, 4 * (size_t)t->n);
  if (t->logprobs) put_logprobs(&w, t->logprobs, t->n);
  duet_wbuf_i32(&w, t->n_prompt_lp);
  put_logprobs(&w, t->prompt_lp, t->n_prompt_lp);
  return duet_wbuf_finish(&w, DUET_MSG_TOKENS, id, out, out_len);
}

int duet_msg_decode_tokens(const uint8_t *payload, size_t len, duet_tokens_msg *t) {
  memset(t, 0, sizeof *t);
  duet_rbuf r;
  duet_rbuf_init(&r, payload, len);
  int32_t n = duet_rbuf_i32(&r), has_lp = duet_rbuf_i32(&r);
  if (r.bad) return duet_error(DUET_EPROTO, "tokens payload truncated (%zu bytes)", len);
  if (n < 1) return duet_error(DUET_EPROTO, "tokens message with %d tokens", n);
  t->n = n;
  t->ids = take_ids(&r, n, (int32_t)(DUET_MSG_MAX_PAYLOAD / 4), "tokens ids");
  if (r.bad) return DUET_EPROTO;
  if (has_lp && !(t->logprobs = take_logprobs(&r, n, "tokens logprobs"))) return DUET_EPROTO;
  t->n_prompt_lp = duet_rbuf_i32(&r);
  if (r.bad) return duet_error(DUET_EPROTO, "tokens payload truncated before the prompt logprobs");
  if (t->n_prompt_lp && !(t->prompt_lp = take_logprobs(&r, t->n_prompt_lp, "prompt logprobs"))) return DUET_EPROTO;
  if (duet_rbuf_left(&r)) return duet_error(DUET_EPROTO, "tokens payload has %zu trailing bytes", duet_rbuf_left(&r));
  return DUET_OK;
}

int duet_msg_encode_finish(uint64_t id, const duet_finish_msg *f, uint8_t **out, size_t *out_len) {
  duet_wbuf w;
  duet_wbuf_init(&w, 16 + sizeof f->message);
  size_t mlen = strnlen(f->message, sizeof f->message - 1);
  duet_wbuf_i32(&w, f->reason);
  duet_wbuf_i32(&w, f->prompt_tokens);
  duet_wbuf_i32(&w, f->completion_tokens);
  duet_wbuf_u32(&w, (uint32_t)mlen);
  duet_wbuf_bytes(&w, f->message, mlen);
  return duet_wbuf_finish(&w, DUET_MSG_FINISH, id, out, out_len);
}

int duet_msg_decode_finish(const uint8_t *payload, size_t len, duet_finish_msg *f) {
  memset(f, 0, sizeof *f);
  duet_rbuf r;
  duet_rbuf_init(&r, payload, len);
  f->reason = duet_rbuf_i32(&r);
  f->prompt_tokens = duet_rbuf_i32(&r);
  f->completion_tokens = duet_rbuf_i32(&r);
  uint32_t mlen = duet_rbuf_u32(&r);
  if (r.bad) return duet_error(DUET_EPROTO, "finish payload truncated (%zu bytes)", len);
  if (f->reason < DUET_FINISH_STOP || f->reason > DUET_FINISH_ERROR)
    return duet_error(DUET_EPROTO, "finish reason %d unknown", f->reason);
  if (mlen >= sizeof f->message) return duet_error(DUET_EPROTO, "finish message of %u bytes too long", mlen);
  const uint8_t *m = duet_rbuf_take(&r, mlen);
  if (!m) return duet_error(DUET_EPROTO, "finish message truncated");
  memcpy(f->message, m, mlen);
  if (duet_rbuf_left(&r)) return duet_error(DUET_EPROTO, "finish payload has %zu trailing bytes", duet_rbuf_left(&r));
  return DUET_OK;
}

static void put_i32s(duet_wbuf *w, const int32_t *v) {
  for (int i = 0; i < DUET_MAX_GROUPS; i++) duet_wbuf_i32(w, v[i]);
}
static void get_i32s(duet_rbuf *r, int32_t *v) {
  for (int i = 0; i < DUET_MAX_GROUPS; i++) v[i] = duet_rbuf_i32(r);
}

int duet_msg_encode_stats(const duet_stats_msg *s, uint8_t **out, size_t *out_len) {
  duet_wbuf w;
  duet_wbuf_init(&w, sizeof *s);
  duet_wbuf_i32(&w, s->n_prefill_groups);
  duet_wbuf_i32(&w, s->n_decode_groups);
  put_i32s(&w, s->prefill_queued_tokens);
  put_i32s(&w, s->prefill_active);
  put_i32s(&w, s->decode_active);
  put_i32s(&w, s->decode_waiting);
  put_i32s(&w, s->kv_blocks_used);
  put_i32s(&w, s->kv_blocks_free);
  duet_wbuf_u64(&w, s->kv_bytes_moved);
  duet_wbuf_f64(&w, s->kv_transfer_seconds);
  duet_wbuf_f64(&w, s->prefill_step_seconds);
  duet_wbuf_f64(&w, s->decode_step_seconds);
  duet_wbuf_u64(&w, s->prefill_steps);
  duet_wbuf_u64(&w, s->decode_steps);
  return duet_wbuf_finish(&w, DUET_MSG_STATS, 0, out, out_len);
}

int duet_msg_decode_stats(const uint8_t *payload, size_t len, duet_stats_msg *s) {
  memset(s, 0, sizeof *s);
  duet_rbuf r;
  duet_rbuf_init(&r, payload, len);
  s->n_prefill_groups = duet_rbuf_i32(&r);
  s->n_decode_groups = duet_rbuf_i32(&r);
  get_i32s(&r, s->prefill_queued_tokens);
  get_i32s(&r, s->prefill_active);
  get_i32s(&r, s->decode_active);
  get_i32s(&r, s->decode_waiting);
  get_i32s(&r, s->kv_blocks_used);
  get_i32s(&r, s->kv_blocks_free);
  s->kv_bytes_moved = duet_rbuf_u64(&r);
  s->kv_transfer_seconds = duet_rbuf_f64(&r);
  s->prefill_step_seconds = duet_rbuf_f64(&r);
  s->decode_step_seconds = duet_rbuf_f64(&r);
  s->prefill_steps = duet_rbuf_u64(&r);
  s->decode_steps = duet_rbuf_u64(&r);
  if (r.bad) return duet_error(DUET_EPROTO, "stats payload truncated (%zu bytes)", len);
  if (duet_rbuf_left(&r)) return duet_error(DUET_EPROTO, "stats payload has %zu trailing bytes", duet_rbuf_left(&r));
  if (s->n_prefill_groups < 0 || s->n_prefill_groups > DUET_MAX_GROUPS || s->n_decode_groups < 0 ||
      s->n_decode_groups > DUET_MAX_GROUPS)
    return duet_error(DUET_EPROTO, "stats: group counts %d/%d out of range", s->n_prefill_groups, s->n_decode_groups);
  return DUET_OK;
}

int duet_msg_encode_empty(duet_msg_kind kind, uint64_t id, uint8_t **out, size_t *out_len) {
  duet_wbuf w;
  duet_wbuf_init(&w, 0);
  return duet_wbuf_finish(&w, kind, id, out, out_len);
}
