#include "server/frontend/params.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(duet_param_error *e, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(duet_param_error *e, const char *param, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  e->param = param;
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return -1;
}

/* A number in [lo, hi]; absent or null keeps *out. */
static int num(const json_t *b, const char *key, double lo, double hi, float *out, duet_param_error *e) {
  json_t *v = json_object_get(b, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v)) return fail(e, key, "'%s' must be a number", key);
  double d = json_number_value(v);
  if (!isfinite(d) || d < lo || d > hi) return fail(e, key, "'%s' must be in [%g, %g], got %g", key, lo, hi, d);
  *out = (float)d;
  return 0;
}

static int integer(const json_t *b, const char *key, long long lo, long long hi, long long *out, duet_param_error *e) {
  json_t *v = json_object_get(b, key);
  if (!v || json_is_null(v)) return 0;
  if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v))) {
    double d = json_real_value(v);
    if (d < (double)lo || d > (double)hi) return fail(e, key, "'%s' must be in [%lld, %lld]", key, lo, hi);
    *out = (long long)d;
    return 0;
  }
  if (!json_is_integer(v)) return fail(e, key, "'%s' must be an integer", key);
  long long x = json_integer_value(v);
  if (x < lo || x > hi) return fail(e, key, "'%s' must be in [%lld, %lld], got %lld", key, lo, hi, x);
  *out = x;
  return 0;
}

static int boolean(const json_t *b, const char *key, int *out, duet_param_error *e) {
  json_t *v = json_object_get(b, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) return fail(e, key, "'%s' must be true or false", key);
  *out = json_is_true(v);
  return 0;
}

static int stops(const json_t *b, duet_params *p, duet_param_error *e) {
  json_t *v = json_object_get(b, "stop");
  if (!v || json_is_null(v)) return 0;
  if (json_is_string(v)) {
    if (!json_string_length(v)) return fail(e, "stop", "'stop' strings must not be empty");
    p->stop[p->n_stop++] = json_string_value(v);
  } else if (json_is_array(v)) {
    if (json_array_size(v) > DUET_MAX_STOP) return fail(e, "stop", "'stop' takes at most %d strings", DUET_MAX_STOP);
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
      if (!json_is_string(s) || !json_string_length(s))
        return fail(e, "stop", "'stop' must be a string or a list of non-empty strings");
      p->stop[p->n_stop++] = json_string_value(s);
    }
  } else {
    return fail(e, "stop", "'stop' must be a string or a list of strings");
  }
  for (int i = 0; i < p->n_stop; i++) {
    size_t n = strlen(p->stop[i]);
    /* the stop scan reads them as C strings: "\u0000" would be "" there */
    json_t *s = json_is_string(v) ? v : json_array_get(v, (size_t)i);
    if (n != json_string_length(s)) return fail(e, "stop", "'stop' strings must not contain U+0000");
    if (n > 1024) return fail(e, "stop", "'stop' strings are limited to 1024 bytes");
    if (n > p->stop_max_len) p->stop_max_len = n;
  }
  return 0;
}

/* A token id of a JSON key ("50256": logit_bias); -1 if it is not one. */
static int key_id(const char *k, int vocab) {
  long long id = 0;
  if (!*k || strlen(k) > 10) return -1;
  for (const char *c = k; *c; c++) {
    if (*c < '0' || *c > '9') return -1;
    id = id * 10 + (*c - '0');
  }
  return id < vocab ? (int)id : -1;
}

/* OpenAI's logit_bias {"token id": bias in [-100, 100]}. */
static int logit_bias(const json_t *b, int vocab, duet_params *p, duet_param_error *e) {
  json_t *v = json_object_get(b, "logit_bias"), *x;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_object(v)) return fail(e, "logit_bias", "'logit_bias' must be an object of token ids to numbers");
  if (json_object_size(v) > DUET_MAX_LOGIT_BIAS)
    return fail(e, "logit_bias", "'logit_bias' takes at most %d tokens", DUET_MAX_LOGIT_BIAS);
  const char *k;
  duet_sampling_params *sp = &p->sp;
  json_object_foreach((json_t *)v, k, x) {
    int id = key_id(k, vocab);
    if (id < 0) return fail(e, "logit_bias", "'logit_bias' key '%.32s' is not a token id in [0, %d)", k, vocab);
    double d = json_is_number(x) ? json_number_value(x) : NAN;
    if (!(d >= -100 && d <= 100)) return fail(e, "logit_bias", "'logit_bias' values must be numbers in [-100, 100]");
    for (int i = 0; i < sp->n_bias; i++)
      if (sp->bias_ids[i] == id) return fail(e, "logit_bias", "'logit_bias' names token %d twice", id);
    sp->bias_ids[sp->n_bias] = id, sp->bias[sp->n_bias++] = (float)d;
  }
  return 0;
}

/* vLLM's stop_token_ids (one slot of the wire's stop ids is the
 * tokenizer's EOS) and min_tokens (at most max_tokens). */
static int token_stops(const json_t *b, int vocab, int cap, duet_params *p, duet_param_error *e) {
  json_t *v = json_object_get(b, "stop_token_ids"), *x;
  if (v && !json_is_null(v)) {
    if (!json_is_array(v) || json_array_size(v) > DUET_MAX_STOP - 1)
      return fail(e, "stop_token_ids", "'stop_token_ids' must be a list of at most %d token ids", DUET_MAX_STOP - 1);
    size_t i;
    json_array_foreach(v, i, x) {
      if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= vocab)
        return fail(e, "stop_token_ids", "'stop_token_ids' must hold token ids in [0, %d)", vocab);
      p->stop_ids[p->n_stop_ids++] = (int)json_integer_value(x);
    }
  }
  long long min = 0;
  if (integer(b, "min_tokens", 0, cap, &min, e)) return -1;
  if (p->max_tokens && min > p->max_tokens)
    return fail(e, "min_tokens", "'min_tokens' (%lld) must not exceed the requested maximum of %d tokens", min,
                p->max_tokens);
  p->sp.min_tokens = (int)min;
  return 0;
}

static int present(const json_t *b, const char *key) {
  json_t *v = json_object_get(b, key);
  return v && !json_is_null(v);
}

/* What duet cannot do is refused by name rather than ignored: the client
 * would otherwise take the answer for what it asked (vLLM refuses suffix
 * too, and tools without a tool parser). */
static int unsupported(const json_t *b, int chat, int n, duet_param_error *e) {
  json_t *v = json_object_get(b, "suffix");
  if (!chat && present(b, "suffix") && !(json_is_string(v) && !json_string_length(v)))
    return fail(e, "suffix", "'suffix' is not supported");
  v = json_object_get(b, "best_of");
  if (!chat && present(b, "best_of") && !(json_is_integer(v) && (json_integer_value(v) == 1 || json_integer_value(v) == n)))
    return fail(e, "best_of", "'best_of' other than 1 or n is not supported");
  const char *type = json_string_value(json_object_get(json_object_get(b, "response_format"), "type"));
  if (present(b, "response_format") && (!type || strcmp(type, "text")))
    return fail(e, "response_format", "only 'response_format' {\"type\": \"text\"} is supported (no JSON mode)");
  const char *choice = json_string_value(json_object_get(b, "tool_choice"));
  int tools = json_array_size(json_object_get(b, "tools")) || json_array_size(json_object_get(b, "functions"));
  const char *which = json_array_size(json_object_get(b, "tools")) ? "tools" : "functions";
  if (chat && tools && !(choice && !strcmp(choice, "none")))
    return fail(e, which, "tool calling is not supported: leave out '%s' or set 'tool_choice' to \"none\"", which);
  return 0;
}

static int logprobs(const json_t *b, int chat, duet_params *p, duet_param_error *e) {
  long long top = -1;
  if (!chat) {
    if (integer(b, "logprobs", 0, DUET_MAX_LOGPROBS, &top, e)) return -1;
    p->logprobs = (int)top;
    return boolean(b, "echo", &p->echo, e);
  }
  int want = 0;
  if (boolean(b, "logprobs", &want, e)) return -1;
  if (integer(b, "top_logprobs", 0, DUET_MAX_LOGPROBS, &top, e)) return -1;
  if (top >= 0 && !want) return fail(e, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
  p->logprobs = want ? (top < 0 ? 0 : (int)top) : -1;
  /* vLLM's chat echo (the last message prepended): refused when asked
   * for, but false or null is the default and asks for nothing */
  int echo = 0;
  if (boolean(b, "echo", &echo, e)) return -1;
  if (echo) return fail(e, "echo", "'echo' is not supported for chat completions");
  return 0;
}

static int stream(const json_t *b, duet_params *p, duet_param_error *e) {
  if (boolean(b, "stream", &p->stream, e)) return -1;
  json_t *so = json_object_get(b, "stream_options");
  if (!so || json_is_null(so)) return 0;
  if (!json_is_object(so)) return fail(e, "stream_options", "'stream_options' must be an object");
  if (!p->stream) return fail(e, "stream_options", "'stream_options' is only allowed with 'stream': true");
  json_t *u = json_object_get(so, "include_usage");
  if (u && !json_is_boolean(u)) return fail(e, "stream_options", "'stream_options.include_usage' must be a boolean");
  p->include_usage = u && json_is_true(u);
  return 0;
}

int duet_params_parse(const json_t *b, int chat, int cap, int max_n, int vocab, duet_params *p, duet_param_error *e) {
  memset(p, 0, sizeof *p);
  p->sp.temperature = 1;
  p->sp.top_p = 1;
  p->sp.repetition_penalty = 1;
  long long x = 0;
  duet_sampling_params *sp = &p->sp;
  if (num(b, "temperature", 0, 2, &sp->temperature, e) || num(b, "top_p", 0, 1, &sp->top_p, e) ||
      num(b, "min_p", 0, 1, &sp->min_p, e) || num(b, "presence_penalty", -2, 2, &sp->presence_penalty, e) ||
      num(b, "frequency_penalty", -2, 2, &sp->frequency_penalty, e) ||
      num(b, "repetition_penalty", 0.01, 10, &sp->repetition_penalty, e))
    return -1;
  if (json_object_get(b, "top_p") && sp->top_p <= 0) return fail(e, "top_p", "'top_p' must be in (0, 1]");
  x = -1;
  if (integer(b, "top_k", -1, 1 << 30, &x, e)) return -1;
  sp->top_k = x < 0 ? 0 : (int)x;
  x = 0;
  if (integer(b, "seed", -(1LL << 62), 1LL << 62, &x, e)) return -1;
  sp->seed = (uint64_t)x;
  x = 0;
  /* both given: the newer max_completion_tokens wins, as in vLLM */
  if (integer(b, "max_tokens", 1, cap, &x, e)) return -1;
  if (chat && integer(b, "max_completion_tokens", 1, cap, &x, e)) return -1;
  p->max_tokens = (int)x;
  x = 1;
  if (integer(b, "n", 1, max_n, &x, e)) return -1;
  p->n = (int)x;
  if (logprobs(b, chat, p, e) || stream(b, p, e) || stops(b, p, e) || boolean(b, "ignore_eos", &p->ignore_eos, e) ||
      boolean(b, "return_tokens_as_token_ids", &p->tokens_as_ids, e) || logit_bias(b, vocab, p, e) ||
      token_stops(b, vocab, cap, p, e) || unsupported(b, chat, p->n, e))
    return -1;
  /* logprobs 0 still wants the chosen token's log-probability */
  sp->n_logprobs = p->logprobs < 0 ? 0 : p->logprobs ? p->logprobs : 1;
  return 0;
}
