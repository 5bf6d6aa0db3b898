#include "clients/openai_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/error.h"

double duet_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The generated text of one choice: choices[0].text (completions) or
 * choices[0].delta.content / message.content (chat). */
static const char *choice_text(const duet_oai_call *call, json_t *choice) {
  if (!call->chat) return json_string_value(json_object_get(choice, "text"));
  json_t *m = json_object_get(choice, call->stream ? "delta" : "message");
  return json_string_value(json_object_get(m, "content"));
}

static void take_usage(duet_oai_call *call, json_t *root) {
  json_t *usage = json_object_get(root, "usage");
  if (json_is_object(usage)) {
    call->completion_tokens = (int)json_integer_value(json_object_get(usage, "completion_tokens"));
    call->prompt_tokens = (int)json_integer_value(json_object_get(usage, "prompt_tokens"));
  }
}

static void take_error(duet_oai_call *call, json_t *root) {
  json_t *err = json_object_get(root, "error");
  const char *msg = json_string_value(json_object_get(err, "message"));
  if (err) snprintf(call->error, sizeof call->error, "%s", msg ? msg : "error without a message");
}

static void handle_json(duet_oai_call *call, const char *data, size_t len) {
  json_error_t jerr;
  json_t *root = json_loadb(data, len, 0, &jerr);
  if (!root) {
    snprintf(call->error, sizeof call->error, "unparsable JSON from server: %s", jerr.text);
    return;
  }
  take_error(call, root);
  take_usage(call, root);
  json_t *choices = json_object_get(root, "choices");
  json_t *choice = json_array_get(choices, 0);
  if (choice) {
    const char *fr = json_string_value(json_object_get(choice, "finish_reason"));
    if (fr) snprintf(call->finish_reason, sizeof call->finish_reason, "%s", fr);
    const char *text = choice_text(call, choice);
    if (text && *text && !call->print_raw) {
      call->n_events++;
      call->cb.on_text(call, text, strlen(text));
    }
  }
  json_decref(root);
}

static void on_event(const char *data, size_t len, void *user) {
  duet_oai_call *call = user;
  if (len == 6 && memcmp(data, "[DONE]", 6) == 0) { call->saw_done = 1; return; }
  if (call->print_raw) {
    call->cb.on_text(call, data, len);
    call->cb.on_text(call, "\n", 1);
  }
  handle_json(call, data, len);
}

static void on_status(int status, void *user) {
  ((duet_oai_call *)user)->status = status;
}

static void on_data(const char *buf, size_t len, void *user) {
  duet_oai_call *call = user;
  if (call->stream && call->status == 200) {
    if (duet_sse_feed(&call->sse, buf, len) < 0)
      snprintf(call->error, sizeof call->error, "%s", duet_last_error());
    return;
  }
  if (call->body_len + len + 1 > call->body_cap) {
    size_t cap = (call->body_len + len + 1) * 2;
    char *nb = realloc(call->body, cap);
    if (!nb) {
      snprintf(call->error, sizeof call->error, "out of memory buffering a %zu-byte response", cap / 2);
      return;
    }
    call->body = nb;
    call->body_cap = cap;
  }
  memcpy(call->body + call->body_len, buf, len);
  call->body_len += len;
}

static void on_done(int err, void *user) {
  duet_oai_call *call = user;
  call->req = NULL;
  if (call->body_len && !call->error[0]) { /* else the body is incomplete (out of memory) */
    if (call->print_raw) call->cb.on_text(call, call->body, call->body_len);
    handle_json(call, call->body, call->body_len);
  }
  if (!err && call->status != 200 && !call->error[0])
    snprintf(call->error, sizeof call->error, "HTTP status %d", call->status);
  if (!err && call->stream && call->status == 200 && !call->saw_done && !call->error[0])
    snprintf(call->error, sizeof call->error, "stream ended without [DONE]");
  if (err && !call->error[0])
    snprintf(call->error, sizeof call->error, "%s", err == DUET_EIO ? duet_last_error() : duet_strerror(err));
  int rv = err ? err : (call->error[0] ? DUET_EPROTO : DUET_OK);
  duet_sse_free(&call->sse);
  free(call->body);
  call->body = NULL;
  call->body_len = call->body_cap = 0;
  call->cb.on_done(call, rv);
}

int duet_oai_start(duet_oai_call *call, duet_http_conn *c, const char *path_prefix,
                   const char *api_key, json_t *request, const duet_oai_callbacks *cb) {
  call->cb = *cb;
  call->status = 0;
  call->completion_tokens = call->prompt_tokens = -1;
  call->finish_reason[0] = call->error[0] = 0;
  call->n_events = call->saw_done = 0;
  duet_sse_init(&call->sse, on_event, call);
  json_object_set_new(request, "stream", json_boolean(call->stream));
  if (call->stream)
    json_object_set_new(request, "stream_options", json_pack("{s:b}", "include_usage", 1));
  char *body = json_dumps(request, JSON_COMPACT);
  if (!body) return duet_error(DUET_ENOMEM, "out of memory serializing the request");
  char path[512], auth[512];
  snprintf(path, sizeof path, "%s/v1/%s", path_prefix, call->chat ? "chat/completions" : "completions");
  snprintf(auth, sizeof auth, "Bearer %s", api_key ? api_key : "");
  const char *headers[] = {"authorization", auth, NULL};
  duet_http_callbacks hcb = {on_status, on_data, on_done};
  int rv = duet_http_request(c, "POST", path, api_key ? headers : NULL, body, strlen(body), &hcb,
                             call, &call->req);
  free(body);
  return rv;
}

void duet_oai_cancel(duet_oai_call *call) {
  if (call->req) duet_http_cancel(call->req);
}
