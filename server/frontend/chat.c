#include "server/frontend/chat.h"

#include <stdlib.h>
#include <string.h>

#include "engine/chat_template.h"
#include "engine/error.h"
#include "engine/tokenizer.h"
#include "server/frontend/completions.h"
#include "server/frontend/generate.h"
#include "server/frontend/listener.h"
#include "server/frontend/request.h"

int duet_chat_load(duet_server *s) { return duet_chat_template_load(s->opts.model_dir, &s->tmpl); }

void duet_chat_unload(duet_server *s) {
  duet_chat_template_free(s->tmpl);
  s->tmpl = NULL;
}

/* The shape OpenAI requires before the template sees anything: a
 * non-empty list of objects with a string role and string, list (of
 * content parts) or null content. */
static int check_messages(duet_req *r, const json_t *m) {
  if (!json_is_array(m) || !json_array_size(m)) {
    duet_req_error(r, 400, "invalid_request_error", "messages", "'messages' must be a non-empty list");
    return -1;
  }
  size_t i;
  json_t *v;
  json_array_foreach(m, i, v) {
    json_t *role = json_object_get(v, "role"), *content = json_object_get(v, "content");
    if (!json_is_object(v) || !json_is_string(role) ||
        (content && !json_is_string(content) && !json_is_array(content) && !json_is_null(content))) {
      duet_req_error(r, 400, "invalid_request_error", "messages",
                     "messages[%zu] must be an object with a string 'role' and a string or list 'content'", i);
      return -1;
    }
  }
  return 0;
}

/* OpenAI's content parts ([{"type":"text","text":...}]) become one string,
 * as vLLM does for text-only models; templates then see plain strings.
 * A null or absent content (an assistant turn that only called tools, as
 * the SDKs replay it) is "" there too: a template would print None or
 * fail on '+' with it. */
static json_t *flatten(duet_req *r, const json_t *msgs) {
  json_t *out = json_deep_copy(msgs);
  size_t i, k;
  json_t *m, *part;
  json_array_foreach(out, i, m) {
    json_t *content = json_object_get(m, "content");
    if (!content || json_is_null(content)) json_object_set_new(m, "content", json_string(""));
    if (!json_is_array(content)) continue;
    size_t len = 0;
    char *text = NULL;
    json_array_foreach(content, k, part) {
      json_t *t = json_object_get(part, "text");
      const char *type = json_string_value(json_object_get(part, "type"));
      if (!type || strcmp(type, "text") || !json_is_string(t)) {
        duet_req_error(r, 400, "invalid_request_error", "messages",
                       "messages[%zu].content[%zu]: only {\"type\": \"text\"} parts are supported", i, k);
        free(text);
        json_decref(out);
        return NULL;
      }
      /* parts are joined with a newline, as vLLM and llama-server do */
      size_t sep = k > 0;
      char *q = realloc(text, len + sep + json_string_length(t) + 1);
      if (!q) break;
      text = q;
      if (sep) text[len++] = '\n';
      memcpy(text + len, json_string_value(t), json_string_length(t));
      len += json_string_length(t);
      text[len] = 0;
    }
    json_object_set_new(m, "content", json_stringn(text ? text : "", len));
    free(text);
  }
  return out;
}

char *duet_chat_render(duet_req *r, const json_t *body, int add_generation_prompt, size_t *len) {
  duet_server *s = r->conn->srv;
  json_t *msgs = json_object_get(body, "messages");
  if (check_messages(r, msgs) < 0) return NULL;
  if (!s->tmpl) {
    duet_req_error(r, 400, "invalid_request_error", "messages", "the model '%s' has no chat template", s->model_name);
    return NULL;
  }
  json_t *flat = flatten(r, msgs);
  if (!flat) return NULL;
  char *text = NULL;
  int rc = duet_chat_template_render_n(s->tmpl, flat, add_generation_prompt, NULL, &text, len);
  json_decref(flat);
  if (rc < 0) {
    duet_req_error(r, 400, "invalid_request_error", "messages", "chat template: %s", duet_last_error());
    return NULL;
  }
  return text;
}

void duet_chat_completions(duet_req *r) {
  duet_server *s = r->conn->srv;
  duet_params p;
  json_t *body = duet_api_begin(r, 1, &p);
  if (!body) return;
  size_t len = 0;
  char *text = duet_chat_render(r, body, 1, &len);
  if (!text) {
    json_decref(body);
    return;
  }
  int *ids = NULL, n = 0;
  /* the template writes the special tokens itself (as transformers'
   * apply_chat_template, which tokenizes without adding them again) */
  int rc = duet_tokenizer_encode(s->tok, text, len, 0, &ids, &n);
  free(text);
  duet_job *j = rc < 0 ? NULL : duet_job_new(r, 1, body, &p);
  json_decref(body);
  if (!j || duet_job_add_prompt(j, (int32_t *)ids, n, NULL) < 0) {
    if (!j) free(ids);
    else duet_job_free(j);
    duet_req_error(r, 400, "invalid_request_error", "messages", "cannot tokenize the conversation: %s", duet_last_error());
    return;
  }
  duet_job_run(j);
}
