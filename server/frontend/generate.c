#include "server/frontend/generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/error.h"
#include "engine/tokenizer.h"
#include "server/frontend/listener.h"
#include "server/frontend/request.h"
#include "server/frontend/response.h"
#include "server/frontend/stop.h"

/* --- backend id -> choice (open addressing; slot key 0 empty, 1 deleted,
 * so a backend id k is stored as k + 2) --- */

#define TOMB 1u
static size_t slot_of(uint64_t k, size_t cap) { return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 7) & (cap - 1); }

static int gens_put(duet_server *s, uint64_t id, void *v) {
  uint64_t k = id + 2;
  if ((s->gens_used + 1) * 2 > s->gens_cap) {
    size_t cap = s->gens_cap ? s->gens_cap : 256;
    while ((s->gens_n + 1) * 4 > cap) cap *= 2;
    duet_slot *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < s->gens_cap; i++) {
      if (s->gens[i].key <= TOMB) continue;
      size_t j = slot_of(s->gens[i].key, cap);
      while (t[j].key) j = (j + 1) & (cap - 1);
      t[j] = s->gens[i];
    }
    free(s->gens);
    s->gens = t;
    s->gens_cap = cap;
    s->gens_used = s->gens_n;
  }
  size_t j = slot_of(k, s->gens_cap);
  while (s->gens[j].key > TOMB) j = (j + 1) & (s->gens_cap - 1);
  if (!s->gens[j].key) s->gens_used++;
  s->gens[j].key = k;
  s->gens[j].val = v;
  s->gens_n++;
  return 0;
}

static duet_slot *gens_find(duet_server *s, uint64_t id) {
  uint64_t k = id + 2;
  if (!s->gens_cap) return NULL;
  for (size_t j = slot_of(k, s->gens_cap); s->gens[j].key; j = (j + 1) & (s->gens_cap - 1))
    if (s->gens[j].key == k) return &s->gens[j];
  return NULL;
}

static void gens_del(duet_server *s, uint64_t k) {
  duet_slot *e = gens_find(s, k);
  if (!e) return;
  e->key = TOMB;
  e->val = NULL;
  s->gens_n--;
}

void duet_gen_cancel_all(duet_server *s) {
  for (size_t i = 0; i < s->gens_cap; i++)
    if (s->gens[i].key > TOMB) duet_backend_cancel(s->backend, s->gens[i].key - 2);
}

/* --- job lifetime --- */

duet_job *duet_job_new(duet_req *r, int chat, json_t *body, const duet_params *p) {
  duet_job *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->s = r->conn->srv;
  j->req = r;
  j->chat = chat;
  j->p = *p;
  j->body = json_incref(body);
  j->t0 = r->t_start;
  j->created = (long long)time(NULL);
  snprintf(j->id, sizeof j->id, "%s-%llx%06llx", chat ? "chatcmpl" : "cmpl", (unsigned long long)j->created,
           (unsigned long long)(j->s->next_id + 1));
  j->s->jobs++;
  return j;
}

int duet_job_add_prompt(duet_job *j, int32_t *ids, int n, json_t *echo) {
  int k = j->n_prompts;
  int32_t **p = realloc(j->prompts, (k + 1) * sizeof *p);
  if (p) j->prompts = p;
  int *l = realloc(j->prompt_lens, (k + 1) * sizeof *l);
  if (l) j->prompt_lens = l;
  json_t **e = realloc(j->echo, (k + 1) * sizeof *e);
  if (e) j->echo = e;
  if (!p || !l || !e) {
    free(ids);
    json_decref(echo);
    return DUET_ENOMEM;
  }
  j->prompts[k] = ids;
  j->prompt_lens[k] = n;
  j->echo[k] = echo;
  j->n_prompts++;
  return 0;
}

void duet_job_free(duet_job *j) {
  for (int i = 0; i < j->n_choices; i++) {
    duet_choice *c = &j->ch[i];
    if (c->alive) gens_del(j->s, c->gid);
    duet_detok_free(c->detok);
    free(c->text);
    json_decref(c->lp);
  }
  for (int i = 0; i < j->n_prompts; i++) {
    free(j->prompts[i]);
    json_decref(j->echo[i]);
  }
  free(j->prompts);
  free(j->prompt_lens);
  free(j->echo);
  free(j->ch);
  json_decref(j->body);
  j->s->jobs--;
  free(j);
}

static void maybe_free(duet_job *j) {
  if (!j->alive && !j->req) duet_job_free(j);
}

static void cancel_alive(duet_job *j) {
  for (int i = 0; i < j->n_choices; i++)
    if (j->ch[i].alive) duet_backend_cancel(j->s->backend, j->ch[i].gid);
}

/* The client went away (disconnect, RST_STREAM): stop the work now. */
static void on_abort(duet_req *r) {
  duet_job *j = r->handler;
  j->req = NULL;
  if (j->alive) j->s->metrics.cancels++;
  cancel_alive(j);
  for (int i = 0; i < j->n_choices; i++) j->ch[i].open = 0;
  j->open = 0;
  maybe_free(j);
}

static void detach(duet_job *j) {
  if (j->req) {
    j->req->on_abort = NULL;
    j->req->handler = NULL;
  }
  j->req = NULL;
}

/* An error after the request was accepted: an error event on a stream
 * that has begun, else an error status. */
static void job_fail(duet_job *j, int status, const char *msg) {
  cancel_alive(j);
  for (int i = 0; i < j->n_choices; i++) j->ch[i].open = 0;
  j->open = 0;
  duet_req *r = j->req;
  if (!r) return;
  detach(j);
  if (r->headed) {
    duet_req_sse_json(r, duet_error_json(status == 503 ? "service_unavailable" : "server_error", NULL, status, msg));
    duet_req_sse_done(r); /* then [DONE], as vLLM: a client reading to it ends cleanly */
  } else if (status == 503 || status == 429) {
    duet_req_busy(r, status, "%s", msg);
  } else {
    duet_req_error(r, status, "server_error", NULL, "%s", msg);
  }
}

static void job_complete(duet_job *j) {
  duet_req *r = j->req;
  if (!r) return;
  detach(j);
  duet_hist_observe(&j->s->metrics.e2e, duet_now() - j->t0);
  if (j->p.stream) {
    if (j->p.include_usage) duet_req_sse_json(r, duet_resp_usage_chunk(j));
    duet_req_sse_done(r);
  } else {
    duet_req_json(r, 200, duet_resp_whole(j));
  }
}

/* --- text --- */

static int append(duet_choice *c, const char *p, size_t n) {
  if (c->len + n + 1 > c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 256;
    while (cap < c->len + n + 1) cap *= 2;
    char *q = realloc(c->text, cap);
    if (!q) return -1;
    c->text = q;
    c->cap = cap;
  }
  memcpy(c->text + c->len, p, n);
  c->len += n;
  c->text[c->len] = 0;
  return 0;
}

/* Emits what is safe to emit, cutting at a stop string; finish != NULL
 * closes the choice (everything left is emitted). lp is stolen. */
static void advance(duet_choice *c, json_t *lp, const char *finish) {
  duet_job *j = c->job;
  /* as vLLM: a stop string counts once it ends in the text of the
   * min_tokens-th token or later */
  duet_stop_result sr = {-1, c->len};
  if (c->n_gen >= j->p.sp.min_tokens)
    sr = duet_stop_scan(j->p.stop, j->p.n_stop, j->p.stop_max_len, c->text, c->len,
                        c->emitted > c->stop_from ? c->emitted : c->stop_from);
  if (sr.match >= 0) {
    c->len = (size_t)sr.match;
    c->text[c->len] = 0;
    finish = "stop";
    if (c->alive) duet_backend_cancel(j->s->backend, c->gid);
  }
  size_t safe = finish ? c->len : sr.safe;
  if (j->p.stream && j->req) {
    if (safe > c->emitted || lp || finish)
      duet_req_sse_json(j->req, duet_resp_chunk(j, c, c->text + c->emitted, safe - c->emitted, lp, finish, 0));
    else json_decref(lp);
  } else {
    c->lp = duet_resp_logprobs_join(c->lp, lp);
  }
  c->emitted = safe;
  if (!finish) return;
  c->open = 0;
  c->finish = finish;
  if (c->n_gen > 1) duet_hist_observe(&j->s->metrics.tpot, (c->t_last - c->t_first) / (c->n_gen - 1));
  if (--j->open == 0) job_complete(j);
}

/* The tokenizer's eos_token, when the model has it: an instruct
 * tokenizer's end of turn, which vLLM stops at too. */
static int tokenizer_eos(const duet_server *s) {
  int e = s->tok ? duet_tokenizer_eos_id(s->tok) : -1;
  return e < s->vocab ? e : -1;
}

/* Whether token id ends the choice (the workers stop at the same ids):
 * its text is left out, as vLLM does without include_stop_str_in_output;
 * it still counts and has its logprobs. */
static int ends_choice(const duet_job *j, int id) {
  if (!j->p.ignore_eos && (duet_config_is_eos(&j->s->cfg, id) || id == tokenizer_eos(j->s))) return 1;
  for (int i = 0; i < j->p.n_stop_ids; i++)
    if (id == j->p.stop_ids[i]) return 1;
  return 0;
}

/* OpenAI's legacy echo + logprobs scores the prompt too (how evaluation
 * harnesses compute log-likelihoods). */
static int prompt_logprobs(const duet_job *j) { return !j->chat && j->p.echo && j->p.logprobs >= 0; }

void duet_gen_tokens(duet_server *s, uint64_t id, const duet_tokens_msg *t) {
  duet_slot *e = gens_find(s, id);
  if (!e) return;
  duet_choice *c = e->val;
  duet_job *j = c->job;
  if (!c->open) return;
  double now = duet_now();
  int streamed = j->p.stream && j->req, first = !c->n_gen;
  if (first) c->t_first = now;
  if (!j->ttft_seen) {
    j->ttft_seen = 1;
    duet_hist_observe(&s->metrics.ttft, now - j->t0);
  }
  c->t_last = now;
  char buf[1024];
  for (int i = 0; i < t->n; i++) {
    c->n_gen++;
    s->metrics.generation_tokens++;
    if (c->n_gen == j->p.sp.min_tokens) c->stop_from = c->len;
    if (ends_choice(j, t->ids[i])) continue;
    int n = duet_detok_push(c->detok, t->ids[i], buf, sizeof buf);
    if (n > 0 && append(c, buf, (size_t)n) < 0) {
      job_fail(j, 500, "out of memory");
      return;
    }
  }
  json_t *lp = NULL;
  /* echo with logprobs: prefill's first message scores the prompt */
  if (first && prompt_logprobs(j) && t->n_prompt_lp == c->prompt_tokens - 1 && c->prompt_tokens > 0)
    lp = duet_resp_prompt_logprobs(j, j->prompts[c->prompt], c->prompt_tokens, t->prompt_lp, &c->lp_offset);
  if (j->p.logprobs >= 0 && t->logprobs)
    lp = duet_resp_logprobs_join(lp, duet_resp_logprobs(j, t->ids, t->logprobs, t->n, &c->lp_offset));
  advance(c, lp, NULL);
  if (streamed) duet_metrics_overhead(&s->metrics, duet_now() - now);
}

void duet_gen_finish(duet_server *s, uint64_t id, const duet_finish_msg *f) {
  duet_slot *e = gens_find(s, id);
  if (!e) return;
  duet_choice *c = e->val;
  duet_job *j = c->job;
  gens_del(s, id);
  c->alive = 0;
  j->alive--;
  s->metrics.requests_running--;
  if (f->prompt_tokens > 0) c->prompt_tokens = f->prompt_tokens;
  if (c->open) {
    if (f->reason == DUET_FINISH_ERROR || f->reason == DUET_FINISH_CANCELLED) {
      char msg[300];
      snprintf(msg, sizeof msg, "generation failed: %s", f->message[0] ? f->message : "cancelled by the workers");
      job_fail(j, s->backend_ready ? 500 : 503, msg);
    } else {
      char buf[1024];
      int n = duet_detok_finish(c->detok, buf, sizeof buf);
      if (n > 0) append(c, buf, (size_t)n);
      advance(c, NULL, f->reason == DUET_FINISH_LENGTH ? "length" : "stop");
    }
  }
  maybe_free(j);
}

/* --- submission --- */

static int check_lengths(duet_job *j) {
  duet_server *s = j->s;
  for (int i = 0; i < j->n_prompts; i++) {
    const char *what = j->chat ? "messages" : "prompt";
    int n = j->prompt_lens[i];
    if (n < 1) {
      duet_req_error(j->req, 400, "invalid_request_error", what, "the %s is empty", what);
      return -1;
    }
    for (int k = 0; k < n; k++)
      if (j->prompts[i][k] < 0 || j->prompts[i][k] >= s->vocab) {
        duet_req_error(j->req, 400, "invalid_request_error", what, "token id %d is outside the vocabulary [0, %d)",
                       j->prompts[i][k], s->vocab);
        return -1;
      }
    int want = j->p.max_tokens ? j->p.max_tokens : j->chat ? s->ctx_len - n : 16;
    if (want > s->opts.max_tokens) want = s->opts.max_tokens;
    if (n >= s->ctx_len || n + want > s->ctx_len) {
      duet_req_error(j->req, 400, "invalid_request_error", n >= s->ctx_len ? what : "max_tokens",
                     "this model's maximum context length is %d tokens; the request has %d in the %s and %d "
                     "to generate",
                     s->ctx_len, n, what, want);
      return -1;
    }
    if (!j->p.max_tokens || j->p.max_tokens > want) j->p.max_tokens = want;
    if (j->p.sp.min_tokens > j->p.max_tokens) {
      duet_req_error(j->req, 400, "invalid_request_error", "min_tokens",
                     "'min_tokens' (%d) must not exceed the %d tokens to generate", j->p.sp.min_tokens, j->p.max_tokens);
      return -1;
    }
    /* the prompt's logprobs travel in one message (168 bytes a token) */
    if (prompt_logprobs(j) && (size_t)n * sizeof(duet_token_logprobs) > DUET_MSG_MAX_PAYLOAD / 2) {
      duet_req_error(j->req, 400, "invalid_request_error", "echo", "echo with logprobs takes prompts of at most %zu tokens",
                     DUET_MSG_MAX_PAYLOAD / 2 / sizeof(duet_token_logprobs));
      return -1;
    }
  }
  return 0;
}

static int make_choices(duet_job *j) {
  j->n_choices = j->n_prompts * j->p.n;
  j->ch = calloc((size_t)j->n_choices, sizeof *j->ch);
  if (!j->ch) return DUET_ENOMEM;
  for (int i = 0; i < j->n_choices; i++) {
    duet_choice *c = &j->ch[i];
    c->job = j;
    c->index = i;
    c->prompt = i / j->p.n;
    c->open = 1;
    c->prompt_tokens = j->prompt_lens[c->prompt];
    int rc = duet_detok_new(j->s->tok, 1, &c->detok);
    if (rc < 0) return rc;
    duet_detok_prime(c->detok, j->prompts[c->prompt], c->prompt_tokens); /* failing, the text starts afresh */
  }
  j->open = j->n_choices;
  return 0;
}

static int submit(duet_job *j, duet_choice *c) {
  duet_server *s = j->s;
  duet_request_msg m;
  memset(&m, 0, sizeof m);
  m.sampling = j->p.sp;
  /* without a seed each choice draws differently; with one, reproducibly */
  json_t *seed = json_object_get(j->body, "seed");
  m.sampling.seed = seed && !json_is_null(seed) ? j->p.sp.seed + (uint64_t)(c->index % j->p.n)
                                                : (uint64_t)uv_hrtime() ^ (s->next_id << 20);
  m.max_tokens = j->p.max_tokens;
  m.prompt_logprobs = prompt_logprobs(j);
  m.ignore_eos = j->p.ignore_eos;
  /* the workers stop at the model's EOS ids; and at these (ends_choice) */
  _Static_assert(DUET_MAX_STOP <= DUET_MAX_STOP_IDS, "stop_token_ids plus the tokenizer's EOS fit the wire");
  for (int i = 0; i < j->p.n_stop_ids; i++) m.stop_ids[m.n_stop_ids++] = j->p.stop_ids[i];
  if (!j->p.ignore_eos && tokenizer_eos(s) >= 0 && m.n_stop_ids < DUET_MAX_STOP_IDS)
    m.stop_ids[m.n_stop_ids++] = tokenizer_eos(s);
  m.n_prompt = j->prompt_lens[c->prompt];
  m.prompt = j->prompts[c->prompt];
  c->gid = ++s->next_id;
  if (gens_put(s, c->gid, c) < 0) return DUET_ENOMEM;
  int rc = duet_backend_submit(s->backend, c->gid, &m);
  if (rc < 0) {
    gens_del(s, c->gid);
    return rc;
  }
  c->alive = 1;
  j->alive++;
  s->metrics.requests_running++;
  s->metrics.prompt_tokens += (uint64_t)m.n_prompt;
  return 0;
}

static void stream_start(duet_job *j) {
  duet_req_sse_begin(j->req);
  for (int i = 0; i < j->n_choices; i++) {
    duet_choice *c = &j->ch[i];
    const json_t *echo = j->echo[c->prompt];
    if (j->chat) duet_req_sse_json(j->req, duet_resp_chunk(j, c, "", 0, NULL, NULL, 1));
    else if (echo)
      duet_req_sse_json(j->req, duet_resp_chunk(j, c, json_string_value(echo), json_string_length(echo), NULL, NULL, 0));
  }
}

void duet_job_run(duet_job *j) {
  duet_server *s = j->s;
  duet_req *r = j->req;
  /* the error paths below answer r (which may free it) before the job
   * hooked itself to r: forget r without touching it */
  if (check_lengths(j) < 0) {
    j->req = NULL;
    duet_job_free(j);
    return;
  }
  if (!s->backend_ready || s->draining) {
    duet_req_busy(r, 503, "%s", s->draining ? "shutting down" : "workers are not ready");
  } else if (s->metrics.requests_running + j->n_prompts * j->p.n > s->opts.max_queued) {
    duet_req_busy(r, 429, "too many requests in flight (--max-queued %d)", s->opts.max_queued);
  } else if (make_choices(j) < 0) {
    duet_req_error(r, 500, "server_error", NULL, "cannot start the generation: %s", duet_last_error());
  } else {
    r->handler = j;
    r->on_abort = on_abort;
    for (int i = 0; i < j->n_choices; i++) {
      int rc = submit(j, &j->ch[i]);
      if (rc == 0) continue;
      job_fail(j, rc == DUET_ENOSPC ? 429 : rc == DUET_EAGAIN ? 503 : 500,
               rc == DUET_ENOSPC ? "the workers' queue is full" : rc == DUET_EAGAIN ? "workers are not ready"
                                                                          : duet_last_error());
      maybe_free(j);
      return;
    }
    if (j->p.stream) stream_start(j);
    return;
  }
  j->req = NULL;
  duet_job_free(j);
}
