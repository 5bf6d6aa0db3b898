#include "server/frontend/completions.h"

#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/tokenizer.h"
#include "server/frontend/generate.h"
#include "server/frontend/listener.h"
#include "server/frontend/request.h"

json_t *duet_api_body(duet_req *r) {
  duet_server *s = r->conn->srv;
  json_error_t err;
  /* RFC 8259 8.1 lets a parser ignore a UTF-8 byte order mark; some
   * Windows clients write one */
  size_t bom = r->body_len >= 3 && !memcmp(r->body, "\xEF\xBB\xBF", 3) ? 3 : 0;
  /* \u0000 is valid JSON, and vLLM tokenizes it (text pasted from binary
   * files has it): strings are used with their lengths, and what cannot
   * hold one (stop strings) refuses it by name */
  size_t flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;
  json_t *body = r->body_len > bom ? json_loadb(r->body + bom, r->body_len - bom, flags, &err) : NULL;
  if (!body) {
    duet_req_error(r, 400, "invalid_request_error", NULL, "malformed JSON body: %s",
                   r->body_len > bom ? err.text : "the body is empty");
    return NULL;
  }
  if (!json_is_object(body)) {
    duet_req_error(r, 400, "invalid_request_error", NULL, "the body must be a JSON object");
    json_decref(body);
    return NULL;
  }
  json_t *model = json_object_get(body, "model");
  if (model && !json_is_null(model) &&
      (!json_is_string(model) || json_string_length(model) != strlen(s->model_name) ||
       strcmp(json_string_value(model), s->model_name))) {
    duet_req_error(r, 404, "not_found_error", "model", "the model '%s' does not exist (this server has '%s')",
                   json_is_string(model) ? json_string_value(model) : "?", s->model_name);
    json_decref(body);
    return NULL;
  }
  return body;
}

json_t *duet_api_begin(duet_req *r, int chat, duet_params *p) {
  duet_server *s = r->conn->srv;
  json_t *body = duet_api_body(r);
  if (!body) return NULL;
  duet_param_error e;
  if (duet_params_parse(body, chat, s->opts.max_tokens, s->opts.max_n, s->vocab, p, &e) < 0) {
    duet_req_error(r, 400, "invalid_request_error", e.param, "%s", e.msg);
    json_decref(body);
    return NULL;
  }
  return body;
}

/* A list of token ids as a prompt; -1 when v is not one. */
static int id_list(const json_t *v, int32_t **out, int *n) {
  size_t len = json_array_size(v), i;
  json_t *x;
  int32_t *ids = malloc((len ? len : 1) * sizeof *ids);
  if (!ids) return -1;
  json_array_foreach(v, i, x) {
    if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > INT32_MAX) {
      free(ids);
      return -1;
    }
    ids[i] = (int32_t)json_integer_value(x);
  }
  *out = ids;
  *n = (int)len;
  return 0;
}

/* The prompt's text for echo; unchecked: ids may end inside a character,
 * and the response fixes what is not UTF-8 when it writes the text. */
static json_t *decode_all(duet_server *s, const int32_t *ids, int n) {
  char *t = NULL;
  size_t len = 0;
  if (duet_tokenizer_decode(s->tok, ids, n, 0, &t, &len) < 0) return NULL;
  json_t *j = json_stringn_nocheck(t, len);
  free(t);
  return j;
}

static int add_one(duet_job *j, const json_t *v) {
  duet_server *s = j->s;
  int32_t *ids = NULL;
  int n = 0;
  if (json_is_string(v)) {
    int *enc = NULL;
    int rc = duet_tokenizer_encode(s->tok, json_string_value(v), json_string_length(v), 1, &enc, &n);
    if (rc < 0) return rc;
    ids = (int32_t *)enc; /* int and int32_t are the same here */
    return duet_job_add_prompt(j, ids, n, j->p.echo ? json_incref((json_t *)v) : NULL);
  }
  if (json_is_array(v) && id_list(v, &ids, &n) == 0)
    return duet_job_add_prompt(j, ids, n, j->p.echo ? decode_all(s, ids, n) : NULL);
  return duet_error(DUET_EINVAL, "'prompt' must be a string, a list of token ids, or a list of either");
}

static int add_prompts(duet_job *j, const json_t *prompt) {
  if (!prompt) return duet_error(DUET_EINVAL, "'prompt' is required");
  /* a non-empty list whose first item is a string or a list is a batch */
  json_t *first = json_array_get(prompt, 0);
  if (!json_is_array(prompt) || !(json_is_string(first) || json_is_array(first))) return add_one(j, prompt);
  size_t i;
  json_t *v;
  if (json_array_size(prompt) * (size_t)j->p.n > (size_t)j->s->opts.max_n)
    return duet_error(DUET_EINVAL, "prompts x n is over the limit of %d (--max-n)", j->s->opts.max_n);
  json_array_foreach(prompt, i, v) {
    if (!json_is_string(v) && !json_is_array(v))
      return duet_error(DUET_EINVAL, "'prompt' list items must be strings or lists of token ids");
    int rc = add_one(j, v);
    if (rc < 0) return rc;
  }
  return 0;
}

void duet_completions(duet_req *r) {
  duet_params p;
  json_t *body = duet_api_begin(r, 0, &p);
  if (!body) return;
  duet_job *j = duet_job_new(r, 0, body, &p);
  json_decref(body);
  if (!j) {
    duet_req_error(r, 500, "server_error", NULL, "out of memory");
    return;
  }
  if (add_prompts(j, json_object_get(j->body, "prompt")) < 0) {
    duet_req_error(r, 400, "invalid_request_error", "prompt", "%s", duet_last_error());
    duet_job_free(j);
    return;
  }
  duet_job_run(j);
}
