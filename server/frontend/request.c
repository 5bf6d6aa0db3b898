#include "server/frontend/request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/frontend/listener.h"

duet_req *duet_req_new(duet_conn *c, const duet_req_transport *tp) {
  duet_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->conn = c;
  r->tp = tp;
  r->content_length = -1;
  r->keep_alive = 1;
  r->t_start = duet_now();
  return r;
}

void duet_req_free(duet_req *r) {
  if (!r) return;
  if (!r->ended && r->on_abort) r->on_abort(r);
  free(r->path);
  free(r->auth);
  free(r->origin);
  free(r->acr_method);
  free(r->acr_headers);
  free(r->body);
  free(r->out);
  free(r);
}

static int grow(char **p, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 256;
  while (c < need) c *= 2;
  char *q = realloc(*p, c);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

int duet_req_append_body(duet_req *r, const char *p, size_t n, size_t limit) {
  if (r->body_too_big || r->body_len + n > limit) {
    r->body_too_big = 1;
    return -1;
  }
  if (grow(&r->body, &r->body_cap, r->body_len + n + 1) < 0) return -1;
  memcpy(r->body + r->body_len, p, n);
  r->body_len += n;
  r->body[r->body_len] = 0;
  return 0;
}

int duet_req_set_str(char **dst, const char *p, size_t n) {
  char *q = malloc(n + 1);
  if (!q) return -1;
  memcpy(q, p, n);
  q[n] = 0;
  free(*dst);
  *dst = q;
  return 0;
}

static int named(const char *name, size_t nlen, const char *want) {
  return nlen == strlen(want) && !memcmp(name, want, nlen);
}

void duet_req_header(duet_req *r, const char *name, size_t nlen, const char *v, size_t vlen) {
  if (named(name, nlen, "authorization")) duet_req_set_str(&r->auth, v, vlen);
  else if (named(name, nlen, "origin")) duet_req_set_str(&r->origin, v, vlen);
  else if (named(name, nlen, "access-control-request-method")) duet_req_set_str(&r->acr_method, v, vlen);
  else if (named(name, nlen, "access-control-request-headers")) duet_req_set_str(&r->acr_headers, v, vlen);
}

int duet_req_out_append(duet_req *r, const char *p, size_t n) {
  if (r->out_off && r->out_off == r->out_len) r->out_off = r->out_len = 0;
  if (grow(&r->out, &r->out_cap, r->out_len + n) < 0) return -1;
  memcpy(r->out + r->out_len, p, n);
  r->out_len += n;
  return 0;
}

void duet_req_out_consume(duet_req *r, size_t n) {
  r->out_off += n;
  if (r->out_off == r->out_len) r->out_off = r->out_len = 0;
}

static void count_status(duet_req *r, int status) {
  duet_server *s = r->conn->srv;
  if (status >= 100 && status < 600) s->metrics.responses[status]++;
  if (s->opts.verbose) fprintf(stderr, "duetd: %s %s -> %d\n", r->method, r->path ? r->path : "?", status);
}

void duet_req_respond(duet_req *r, int status, const char *ctype, const char *body, size_t len, int retry_after) {
  if (r->headed) return;
  r->headed = 1;
  r->status = status;
  count_status(r, status);
  r->tp->head(r, status, ctype, retry_after, (long long)len);
  /* HEAD gets the GET's headers, Content-Length included, and no body:
   * body bytes would be read as the start of the next response */
  if (len && !duet_req_is_head(r)) r->tp->body(r, body, len);
  duet_req_end(r);
}

void duet_req_end(duet_req *r) {
  if (r->ended) return;
  r->ended = 1;
  r->tp->end(r);
}

void duet_req_json(duet_req *r, int status, json_t *j) {
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!s) {
    const char *oom = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":500}}";
    duet_req_respond(r, 500, "application/json", oom, strlen(oom), 0);
    return;
  }
  duet_req_respond(r, status, "application/json", s, strlen(s), 0);
  free(s);
}

json_t *duet_error_json(const char *type, const char *param, int code, const char *msg) {
  return json_pack("{s:{s:s,s:s,s:o,s:i}}", "error", "message", msg, "type", type, "param",
                   param ? json_string(param) : json_null(), "code", code);
}

static void error_v(duet_req *r, int status, const char *type, const char *param, int retry_after,
                    const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  json_t *j = duet_error_json(type, param, status, msg);
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  const char *body = s ? s : "{\"error\":{\"message\":\"error\",\"type\":\"server_error\",\"param\":null,\"code\":500}}";
  duet_req_respond(r, status, "application/json", body, strlen(body), retry_after);
  free(s);
}

void duet_req_error(duet_req *r, int status, const char *type, const char *param, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  error_v(r, status, type, param, 0, fmt, ap);
  va_end(ap);
}

void duet_req_busy(duet_req *r, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int ra = r->conn->srv->opts.retry_after;
  error_v(r, status, status == 429 ? "rate_limit_exceeded" : "service_unavailable", NULL, ra, fmt, ap);
  va_end(ap);
}

void duet_req_sse_begin(duet_req *r) {
  if (r->headed) return;
  r->headed = 1;
  r->status = 200;
  count_status(r, 200);
  r->tp->head(r, 200, "text/event-stream", 0, -1);
}

/* One event per call: "data: <compact json>\n\n", handed to the transport
 * in a single write so an event is never split between two frames by us. */
void duet_req_sse_json(duet_req *r, json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!s || r->ended) {
    free(s);
    return;
  }
  size_t n = strlen(s);
  char *ev = malloc(n + 8);
  if (ev) {
    memcpy(ev, "data: ", 6);
    memcpy(ev + 6, s, n);
    memcpy(ev + 6 + n, "\n\n", 2);
    r->tp->body(r, ev, n + 8);
  }
  free(ev);
  free(s);
}

void duet_req_sse_done(duet_req *r) {
  static const char done[] = "data: [DONE]\n\n";
  if (r->ended) return;
  r->tp->body(r, done, sizeof done - 1);
  duet_req_end(r);
}
