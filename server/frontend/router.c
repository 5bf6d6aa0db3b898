#include "server/frontend/router.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/frontend/apikey.h"
#include "server/frontend/chat.h"
#include "server/frontend/completions.h"
#include "server/frontend/listener.h"
#include "server/frontend/request.h"
#include "server/frontend/tokenize.h"

static void health(duet_req *r) {
  duet_server *s = r->conn->srv;
  if (s->backend_ready && !s->draining) {
    static const char ok[] = "{\"status\":\"ok\"}";
    duet_req_respond(r, 200, "application/json", ok, sizeof ok - 1, 0);
    return;
  }
  duet_req_busy(r, 503, "%s", s->draining ? "shutting down" : s->backend_why[0] ? s->backend_why : "workers not ready");
}

static void metrics(duet_req *r) {
  duet_server *s = r->conn->srv;
  s->metrics.backend_ready = s->backend_ready;
  char *text = duet_metrics_render(&s->metrics, s->model_name);
  if (!text) {
    duet_req_error(r, 500, "server_error", NULL, "out of memory rendering metrics");
    return;
  }
  duet_req_respond(r, 200, "text/plain; version=0.0.4", text, strlen(text), 0);
  free(text);
}

static json_t *model_object(duet_server *s) {
  static long long started;
  if (!started) started = (long long)time(NULL);
  return json_pack("{s:s,s:s,s:I,s:s,s:i}", "id", s->model_name, "object", "model", "created", started, "owned_by",
                   "duet", "max_model_len", s->ctx_len);
}

static void models(duet_req *r) {
  duet_server *s = r->conn->srv;
  duet_req_json(r, 200, json_pack("{s:s,s:[o]}", "object", "list", "data", model_object(s)));
}

/* The path of an absolute-form target ("http://host:port/v1/models"),
 * which RFC 9112 3.2.2 requires servers to accept; others as they are. */
static const char *origin_path(const char *t) {
  const char *rest = !strncasecmp(t, "http://", 7) ? t + 7 : !strncasecmp(t, "https://", 8) ? t + 8 : NULL;
  if (!rest) return t;
  rest += strcspn(rest, "/?");
  return *rest == '/' ? rest : "/";
}

/* The request's route path: without the query and one trailing '/'
 * ("/v1/models/": a base URL with a trailing slash joined by hand; vLLM
 * (Starlette) redirects it, we answer it). *len is its length. */
static const char *route_path(const duet_req *r, size_t *len) {
  const char *path = origin_path(r->path ? r->path : "");
  size_t plen = strcspn(path, "?");
  *len = plen > 1 && path[plen - 1] == '/' ? plen - 1 : plen;
  return path;
}

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* GET /v1/models/{id} (OpenAI's "retrieve model", the SDKs'
 * models.retrieve): the id percent-decoded, since an id may hold a '/'. */
#define MODELS_PREFIX "/v1/models/"
static void model_one(duet_req *r) {
  duet_server *s = r->conn->srv;
  size_t n;
  const char *id = route_path(r, &n) + strlen(MODELS_PREFIX);
  n -= strlen(MODELS_PREFIX);
  char want[512];
  size_t k = 0, i = 0;
  int printable = 1;
  for (; i < n && k < sizeof want - 1; i++) {
    if (id[i] == '%' && i + 2 < n && hexval(id[i + 1]) >= 0 && hexval(id[i + 2]) >= 0) {
      want[k++] = (char)(hexval(id[i + 1]) * 16 + hexval(id[i + 2]));
      i += 2;
    } else {
      want[k++] = id[i];
    }
    printable &= want[k - 1] >= 0x20 && want[k - 1] < 0x7f;
  }
  want[k] = 0;
  /* the whole id, byte for byte: a decoded %00 or an id cut at the buffer
   * does not name this model */
  if (i < n || k != strlen(s->model_name) || memcmp(want, s->model_name, k)) {
    if (printable) /* echoed only when it is plain text: the error must stay valid JSON */
      duet_req_error(r, 404, "not_found_error", "model", "the model '%.200s' does not exist (this server has '%s')",
                     want, s->model_name);
    else
      duet_req_error(r, 404, "not_found_error", "model", "no such model (this server has '%s')", s->model_name);
    return;
  }
  duet_req_json(r, 200, model_object(s));
}

typedef struct {
  const char *path; /* the whole path, or (prefix) what the path starts with */
  const char *method;
  void (*fn)(duet_req *r);
  int needs_key, prefix;
} route;

static const route ROUTES[] = {
    {"/health", "GET", health, 0, 0},
    {"/metrics", "GET", metrics, 0, 0},
    {"/v1/models", "GET", models, 1, 0},
    {MODELS_PREFIX, "GET", model_one, 1, 1},
    {"/v1/completions", "POST", duet_completions, 1, 0},
    {"/v1/chat/completions", "POST", duet_chat_completions, 1, 0},
    {"/tokenize", "POST", duet_tokenize, 1, 0},
    {"/detokenize", "POST", duet_detokenize, 1, 0},
};

void duet_route(duet_req *r) {
  duet_server *s = r->conn->srv;
  size_t match;
  const char *path = route_path(r, &match);
  size_t plen = strcspn(path, "?");
  const route *hit = NULL;
  for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0] && !hit; i++) {
    size_t n = strlen(ROUTES[i].path);
    if (ROUTES[i].prefix ? match > n && !memcmp(ROUTES[i].path, path, n) : n == match && !memcmp(ROUTES[i].path, path, n))
      hit = &ROUTES[i];
  }
  if (!hit) {
    duet_req_error(r, 404, "not_found_error", NULL, "no route for %.*s", (int)(plen > 200 ? 200 : plen), path);
    return;
  }
  /* HEAD is GET without the body (RFC 9110 9.3.2): monitors probe /health so */
  int get = !strcmp(hit->method, "GET");
  const char *allow = get ? "GET, HEAD, OPTIONS" : "POST, OPTIONS";
  if (!strcmp(r->method, "OPTIONS")) {
    r->allow = allow; /* also a CORS preflight's Access-Control-Allow-Methods (cors.c) */
    duet_req_respond(r, 200, "text/plain", "", 0, 0);
    return;
  }
  if (strcmp(r->method, hit->method) && !(get && duet_req_is_head(r))) {
    r->allow = allow; /* a 405 must say what is allowed (RFC 9110 15.5.6) */
    duet_req_error(r, 405, "invalid_request_error", NULL, "%s takes %s, not %s", hit->path, hit->method, r->method);
    return;
  }
  if (hit->needs_key && s->opts.api_key && !duet_apikey_ok(s->opts.api_key, r->auth)) {
    duet_req_error(r, 401, "authentication_error", NULL, "missing or wrong API key (Authorization: Bearer ...)");
    return;
  }
  if (s->draining && hit->needs_key) {
    duet_req_busy(r, 503, "shutting down");
    return;
  }
  hit->fn(r);
}
