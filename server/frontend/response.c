#include "server/frontend/response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "engine/tokenizer/utf8.h"

static json_t *head(const duet_job *j, const char *object) {
  return json_pack("{s:s,s:s,s:I,s:s}", "id", j->id, "object", object, "created", j->created, "model",
                   j->s->model_name);
}

/* Text for the client is valid UTF-8 by construction (the detokenizer
 * never cuts a character; stop strings cut at their own start). Should a
 * decoder ever hand out bad bytes, they go out as U+FFFD, never as
 * invalid JSON. */
static json_t *text(const char *p, size_t n) {
  if (!p) p = "", n = 0; /* nothing generated yet: jansson makes no string of NULL */
  if (duet_utf8_invalid_at(p, n) < 0) return json_stringn_nocheck(p, n);
  char *fixed = malloc(3 * n + 1);
  if (!fixed) return json_string("");
  size_t m = duet_utf8_lossy((const unsigned char *)p, n, fixed);
  json_t *j = json_stringn_nocheck(fixed, m);
  free(fixed);
  return j;
}

json_t *duet_resp_chunk(const duet_job *j, const duet_choice *c, const char *t, size_t len, json_t *lp,
                        const char *finish, int role) {
  json_t *o = head(j, j->chat ? "chat.completion.chunk" : "text_completion");
  json_t *ch = json_object();
  json_object_set_new(ch, "index", json_integer(c->index));
  if (j->chat) {
    json_t *delta = json_object();
    if (role) json_object_set_new(delta, "role", json_string("assistant"));
    if (role || len) json_object_set_new(delta, "content", text(t, len));
    json_object_set_new(ch, "delta", delta);
  } else {
    json_object_set_new(ch, "text", text(t, len));
  }
  json_object_set_new(ch, "logprobs", lp ? lp : json_null());
  json_object_set_new(ch, "finish_reason", finish ? json_string(finish) : json_null());
  json_object_set_new(o, "choices", json_pack("[o]", ch));
  if (j->p.include_usage) json_object_set_new(o, "usage", json_null());
  return o;
}

static json_t *usage(const duet_job *j) {
  long long prompt = 0, gen = 0;
  for (int i = 0; i < j->n_choices; i++) {
    gen += j->ch[i].n_gen;
    if (i % j->p.n == 0) prompt += j->ch[i].prompt_tokens; /* a prompt counts once for its n choices */
  }
  return json_pack("{s:I,s:I,s:I}", "prompt_tokens", prompt, "completion_tokens", gen, "total_tokens", prompt + gen);
}

json_t *duet_resp_usage_chunk(const duet_job *j) {
  json_t *o = head(j, j->chat ? "chat.completion.chunk" : "text_completion");
  json_object_set_new(o, "choices", json_array());
  json_object_set_new(o, "usage", usage(j));
  return o;
}

json_t *duet_resp_whole(const duet_job *j) {
  json_t *o = head(j, j->chat ? "chat.completion" : "text_completion");
  json_t *arr = json_array();
  for (int i = 0; i < j->n_choices; i++) {
    const duet_choice *c = &j->ch[i];
    json_t *ch = json_pack("{s:i}", "index", c->index);
    json_t *body = text(c->text ? c->text : "", c->len);
    if (j->chat) {
      json_object_set_new(ch, "message", json_pack("{s:s,s:o}", "role", "assistant", "content", body));
    } else {
      const json_t *echo = j->echo[c->prompt];
      if (echo) {
        size_t el = json_string_length(echo);
        char *both = malloc(el + c->len + 1);
        if (both) {
          memcpy(both, json_string_value(echo), el);
          memcpy(both + el, c->text ? c->text : "", c->len);
          json_decref(body);
          body = text(both, el + c->len);
          free(both);
        }
      }
      json_object_set_new(ch, "text", body);
    }
    json_object_set(ch, "logprobs", c->lp ? c->lp : json_null());
    json_object_set_new(ch, "finish_reason", json_string(c->finish ? c->finish : "stop"));
    json_array_append_new(arr, ch);
  }
  json_object_set_new(o, "choices", arr);
  json_object_set_new(o, "usage", usage(j));
  return o;
}

/* A token's bytes as it reads inside the sequence (" the" for
 * SentencePiece's "\u2581the"; a byte token's own byte, which may be a
 * piece of a character). malloc'd; NULL with *n = 0 on failure. */
static char *tok_bytes(const duet_job *j, int id, size_t *n) {
  char *t = NULL;
  if (duet_tokenizer_token_bytes(j->s->tok, id, &t, n) < 0) *n = 0;
  return t;
}

/* Its text: a piece of a character shows as U+FFFD, as OpenAI shows it. */
static json_t *tok_text(const duet_job *j, int id) {
  size_t n;
  char *b = tok_bytes(j, id, &n);
  json_t *s = text(b ? b : "", n);
  free(b);
  return s;
}

/* "token_id:N" when the client asked for ids (vLLM's
 * return_tokens_as_token_ids: a piece of a character or two tokens with
 * the same text stay distinguishable). */
static json_t *id_str(int id) {
  char buf[32];
  snprintf(buf, sizeof buf, "token_id:%d", id);
  return json_string(buf);
}

static json_t *tok_str(const duet_job *j, int id) { return j->p.tokens_as_ids ? id_str(id) : tok_text(j, id); }

/* Chat's entry: its "bytes" are the token's own, so joined, pieces of a
 * character make the character again. */
static json_t *chat_entry(const duet_job *j, int id, float logprob) {
  size_t n;
  char *b = tok_bytes(j, id, &n);
  json_t *raw = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(raw, json_integer((unsigned char)b[i]));
  json_t *s = j->p.tokens_as_ids ? id_str(id) : text(b ? b : "", n);
  free(b);
  return json_pack("{s:o,s:f,s:o}", "token", s, "logprob", (double)logprob, "bytes", raw);
}

json_t *duet_resp_logprobs(const duet_job *j, const int32_t *ids, const duet_token_logprobs *lp, int n, size_t *offset) {
  int top = j->p.logprobs;
  if (j->chat) {
    json_t *content = json_array();
    for (int i = 0; i < n; i++) {
      json_t *e = chat_entry(j, ids[i], lp[i].logprob);
      json_t *tops = json_array();
      for (int k = 0; k < lp[i].n_top && k < top; k++)
        json_array_append_new(tops, chat_entry(j, lp[i].top_ids[k], lp[i].top_logprobs[k]));
      json_object_set_new(e, "top_logprobs", tops);
      json_array_append_new(content, e);
    }
    return json_pack("{s:o}", "content", content);
  }
  json_t *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
  for (int i = 0; i < n; i++) {
    json_t *s = tok_text(j, ids[i]); /* the offsets count the text, whatever the token shows */
    json_array_append_new(offs, json_integer((json_int_t)*offset));
    *offset += duet_utf8_count(json_string_value(s), json_string_length(s));
    if (j->p.tokens_as_ids) json_decref(s), s = id_str(ids[i]);
    json_array_append_new(toks, s);
    json_array_append_new(lps, json_real(lp[i].logprob));
    json_t *t = json_object();
    for (int k = 0; k < lp[i].n_top && k < top; k++) {
      json_t *ks = tok_str(j, lp[i].top_ids[k]);
      json_object_set_new(t, json_string_value(ks), json_real(lp[i].top_logprobs[k]));
      json_decref(ks);
    }
    json_array_append_new(tops, t);
  }
  return json_pack("{s:o,s:o,s:o,s:o}", "tokens", toks, "token_logprobs", lps, "top_logprobs", tops, "text_offset",
                   offs);
}

json_t *duet_resp_prompt_logprobs(const duet_job *j, const int32_t *ids, int n, const duet_token_logprobs *lp,
                                  size_t *offset) {
  json_t *first = tok_text(j, ids[0]);
  json_t *acc = json_pack("{s:[o],s:[n],s:[n],s:[I]}", "tokens", j->p.tokens_as_ids ? id_str(ids[0]) : json_incref(first),
                          "token_logprobs", "top_logprobs", "text_offset", (json_int_t)0);
  *offset = duet_utf8_count(json_string_value(first), json_string_length(first));
  json_decref(first);
  return n > 1 ? duet_resp_logprobs_join(acc, duet_resp_logprobs(j, ids + 1, lp, n - 1, offset)) : acc;
}

json_t *duet_resp_logprobs_join(json_t *acc, json_t *more) {
  if (!acc) return more;
  if (!more) return acc;
  const char *key;
  json_t *v;
  json_object_foreach(more, key, v) json_array_extend(json_object_get(acc, key), v);
  json_decref(more);
  return acc;
}
