#include "server/frontend/http1.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/frontend/cors.h"
#include "server/frontend/http2.h"
#include "server/frontend/listener.h"
#include "server/frontend/request.h"
#include "server/frontend/router.h"

struct duet_h1 {
  http_parser p;
  duet_conn *c;
  duet_req *cur;          /* being received */
  duet_req *head, *tail;  /* received, answered in this order */
  int nq;
  char field[32];         /* current header name, lower-cased */
  size_t field_len;
  char *val;              /* current header value */
  size_t val_len, val_cap;
  int in_value;
  size_t hdr_bytes;
  int h2c;                /* Upgrade: h2c seen */
  int expect_continue;    /* Expect: 100-continue seen */
  int continue_due;       /* cur waits for a 100 that earlier responses hold back */
  char *h2settings;       /* HTTP2-Settings value */
  char *rest;             /* bytes held back while paused */
  size_t rest_len;
  int paused, dead, draining;
  int err_status;         /* set by a callback that rejected the request */
  duet_req *upgrade;      /* the request asking for h2c */
};

static void pump(duet_h1 *h);

static void send_continue(duet_h1 *h) {
  static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
  h->continue_due = 0;
  duet_conn_write(h->c, cont, sizeof cont - 1);
}

static const char *reason(int s) {
  switch (s) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return s < 300 ? "OK" : s < 500 ? "Client Error" : "Server Error";
  }
}

/* Appended field by field: an echoed Access-Control-Request-Headers may be
 * as long as the request's header limit. */
static void put_cors(duet_req *r) {
  duet_hdr h[DUET_CORS_MAX];
  for (int i = 0, k = duet_cors_headers(r, h); i < k; i++) {
    duet_req_out_append(r, h[i].name, strlen(h[i].name));
    duet_req_out_append(r, ": ", 2);
    duet_req_out_append(r, h[i].value, strlen(h[i].value));
    duet_req_out_append(r, "\r\n", 2);
  }
}

/* transport operations */
static void t_head(duet_req *r, int status, const char *ctype, int retry_after, long long clen) {
  duet_h1 *h = r->conn->h1;
  if (h && (h->draining || h->dead)) r->keep_alive = 0;
  char buf[512];
  int n = snprintf(buf, sizeof buf, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status, reason(status), ctype);
  if (clen >= 0) {
    n += snprintf(buf + n, sizeof buf - n, "Content-Length: %lld\r\n", clen);
  } else if (r->http10) {
    /* an HTTP/1.0 client cannot parse chunked framing (RFC 9112 7.1):
     * the stream ends when the connection does */
    r->keep_alive = 0;
    n += snprintf(buf + n, sizeof buf - n, "Cache-Control: no-cache\r\n");
  } else {
    r->chunked = 1;
    n += snprintf(buf + n, sizeof buf - n, "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n");
  }
  if (retry_after > 0) n += snprintf(buf + n, sizeof buf - n, "Retry-After: %d\r\n", retry_after);
  if (r->allow) n += snprintf(buf + n, sizeof buf - n, "Allow: %s\r\n", r->allow);
  duet_req_out_append(r, buf, (size_t)n);
  put_cors(r);
  /* HTTP/1.0 closes unless the response says keep-alive too */
  const char *conn = !r->keep_alive ? "Connection: close\r\n" : r->http10 ? "Connection: keep-alive\r\n" : "";
  n = snprintf(buf, sizeof buf, "%s\r\n", conn);
  duet_req_out_append(r, buf, (size_t)n);
}

static void t_body(duet_req *r, const char *p, size_t n) {
  if (!n) return;
  if (r->chunked) {
    char sz[24];
    int k = snprintf(sz, sizeof sz, "%zx\r\n", n);
    duet_req_out_append(r, sz, (size_t)k);
  }
  duet_req_out_append(r, p, n);
  if (r->chunked) duet_req_out_append(r, "\r\n", 2);
  if (r->conn->h1 && r->conn->h1->head == r) pump(r->conn->h1);
}

static void t_end(duet_req *r) {
  if (r->chunked) duet_req_out_append(r, "0\r\n\r\n", 5);
  if (r->conn->h1) pump(r->conn->h1);
}

static const duet_req_transport H1 = {t_head, t_body, t_end};

/* Hands staged output to the socket in request order; a finished head is
 * freed and the next one's staged bytes follow. */
static void pump(duet_h1 *h) {
  duet_conn *c = h->c;
  while (h->head && !c->closing) {
    duet_req *r = h->head;
    size_t n = duet_req_out_pending(r);
    if (n) {
      if (!duet_conn_writable(c)) return;
      duet_conn_write(c, r->out + r->out_off, n);
      duet_req_out_consume(r, n);
    }
    if (!r->ended) return;
    h->head = r->next;
    if (!h->head) h->tail = NULL;
    h->nq--;
    int keep = r->keep_alive;
    duet_req_free(r);
    if (!keep) {
      h->dead = 1;
      duet_conn_finish(c);
      return;
    }
  }
  /* the last earlier response is out: the 100 is the next message */
  if (!h->head && h->continue_due && !c->closing && !h->dead) send_continue(h);
  if (h->paused && h->nq < h->c->srv->opts.max_pipeline) duet_conn_kick(c);
}

static void enqueue(duet_h1 *h, duet_req *r) {
  if (h->tail) h->tail->next = r;
  else h->head = r;
  h->tail = r;
  h->nq++;
}

static int too_big(duet_h1 *h, size_t n) {
  h->hdr_bytes += n;
  if (h->hdr_bytes <= h->c->srv->opts.max_header) return 0;
  h->err_status = 431;
  return 1;
}

static void commit_header(duet_h1 *h) {
  if (!h->in_value || !h->cur) return;
  h->in_value = 0;
  const char *v = h->val ? h->val : "";
  size_t n = h->val_len;
  if (!strcmp(h->field, "upgrade")) h->h2c = n == 3 && !strncasecmp(v, "h2c", 3);
  else if (!strcmp(h->field, "http2-settings")) duet_req_set_str(&h->h2settings, v, n);
  else if (!strcmp(h->field, "expect")) h->expect_continue = n == 12 && !strncasecmp(v, "100-continue", 12);
  else duet_req_header(h->cur, h->field, h->field_len, v, n);
  h->field_len = 0;
  h->field[0] = 0;
  h->val_len = 0;
}

static int on_begin(http_parser *p) {
  duet_h1 *h = p->data;
  h->cur = duet_req_new(h->c, &H1);
  h->hdr_bytes = 0;
  h->h2c = 0;
  h->expect_continue = 0;
  h->continue_due = 0;
  h->in_value = 0;
  h->field_len = 0;
  return h->cur ? 0 : 1;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  duet_h1 *h = p->data;
  if (too_big(h, n)) return 1;
  size_t old = h->cur->path ? strlen(h->cur->path) : 0;
  char *q = realloc(h->cur->path, old + n + 1);
  if (!q) return 1;
  memcpy(q + old, at, n);
  q[old + n] = 0;
  h->cur->path = q;
  return 0;
}

static int on_field(http_parser *p, const char *at, size_t n) {
  duet_h1 *h = p->data;
  if (too_big(h, n)) return 1;
  if (h->in_value) commit_header(h);
  for (size_t i = 0; i < n && h->field_len < sizeof h->field - 1; i++) {
    char ch = at[i];
    h->field[h->field_len++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
  }
  h->field[h->field_len] = 0;
  return 0;
}

static int on_value(http_parser *p, const char *at, size_t n) {
  duet_h1 *h = p->data;
  if (too_big(h, n)) return 1;
  h->in_value = 1;
  if (h->val_len + n + 1 > h->val_cap) {
    size_t cap = (h->val_len + n + 1) * 2;
    char *q = realloc(h->val, cap);
    if (!q) return 1;
    h->val = q;
    h->val_cap = cap;
  }
  memcpy(h->val + h->val_len, at, n);
  h->val_len += n;
  return 0;
}

static int on_headers_done(http_parser *p) {
  duet_h1 *h = p->data;
  commit_header(h);
  duet_req *r = h->cur;
  snprintf(r->method, sizeof r->method, "%s", http_method_str((enum http_method)p->method));
  r->keep_alive = http_should_keep_alive(p);
  r->http10 = p->http_major == 1 && p->http_minor == 0;
  if (p->content_length != ULLONG_MAX) {
    r->content_length = (long long)p->content_length;
    if (p->content_length > h->c->srv->opts.max_body) {
      h->err_status = 413;
      return -1;
    }
  }
  /* curl and others wait (a second) for a 100 before sending a body, a
   * chunked one too. RFC 9110 10.1.1 wants it at once, but HTTP/1.1 has no
   * way to say which request an interim response belongs to but its place
   * in the byte stream: written while an earlier response is still going
   * out, it would land inside that response or be read as its 100.
   * So a request behind others gets its 100 from pump() once they are out
   * (not at all if its body comes first: then the client did not wait). An
   * HTTP/1.0 request's expectation is ignored (10.1.1). */
  int body_follows = (p->flags & F_CHUNKED) || (p->content_length > 0 && p->content_length != ULLONG_MAX);
  if (h->expect_continue && !r->http10 && body_follows) {
    if (h->head) h->continue_due = 1;
    else send_continue(h);
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  duet_h1 *h = p->data;
  h->continue_due = 0; /* the body is coming: a 100 now may be omitted */
  if (duet_req_append_body(h->cur, at, n, h->c->srv->opts.max_body) < 0) {
    h->err_status = 413;
    return 1;
  }
  return 0;
}

static int on_complete(http_parser *p) {
  duet_h1 *h = p->data;
  duet_req *r = h->cur;
  h->cur = NULL;
  h->continue_due = 0;
  if (p->upgrade && h->h2c && h->h2settings && !h->head) {
    h->upgrade = r; /* switched over once execute returns */
    return 0;
  }
  if (p->upgrade) r->keep_alive = 0; /* an upgrade we do not do: answer and close */
  enqueue(h, r);
  duet_route(r);
  if (h->nq >= h->c->srv->opts.max_pipeline && !p->upgrade) http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings SETTINGS = {
    .on_message_begin = on_begin,
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_done,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

duet_h1 *duet_h1_new(duet_conn *c) {
  duet_h1 *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->c = c;
  http_parser_init(&h->p, HTTP_REQUEST);
  h->p.data = h;
  return h;
}

void duet_h1_free(duet_h1 *h) {
  if (!h) return;
  duet_req_free(h->cur);
  duet_req_free(h->upgrade);
  while (h->head) {
    duet_req *r = h->head;
    h->head = r->next;
    duet_req_free(r);
  }
  free(h->val);
  free(h->h2settings);
  free(h->rest);
  free(h);
}

/* A request we cannot parse gets a status in order, then the connection
 * closes: after garbage there is no telling where the next request starts. */
static void reject(duet_h1 *h) {
  duet_req *r = h->cur ? h->cur : duet_req_new(h->c, &H1);
  h->cur = NULL;
  h->dead = 1;
  duet_conn_pause_read(h->c);
  if (!r) {
    duet_conn_close(h->c);
    return;
  }
  r->keep_alive = 0;
  if (!r->method[0]) snprintf(r->method, sizeof r->method, "?");
  enqueue(h, r);
  int st = h->err_status ? h->err_status : 400;
  if (st == 413)
    duet_req_error(r, 413, "invalid_request_error", NULL, "request body over the %zu-byte limit (--max-body)",
                   h->c->srv->opts.max_body);
  else if (st == 431)
    duet_req_error(r, 431, "invalid_request_error", NULL, "request headers over the %zu-byte limit (--max-header)",
                   h->c->srv->opts.max_header);
  else
    duet_req_error(r, 400, "invalid_request_error", NULL, "malformed HTTP/1.1 request: %s",
                   http_errno_description(HTTP_PARSER_ERRNO(&h->p)));
}

static int base64url_decode(const char *s, unsigned char *out, size_t cap, size_t *n);

static void switch_to_h2(duet_h1 *h, const char *rest, size_t n) {
  duet_conn *c = h->c;
  duet_req *r = h->upgrade;
  h->upgrade = NULL;
  unsigned char settings[1024];
  size_t slen = 0;
  if (base64url_decode(h->h2settings, settings, sizeof settings, &slen) < 0) {
    enqueue(h, r);
    r->keep_alive = 0;
    duet_req_error(r, 400, "invalid_request_error", NULL, "HTTP2-Settings is not base64url");
    return;
  }
  static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
  duet_conn_write(c, sw, sizeof sw - 1);
  duet_h2 *h2 = NULL;
  if (duet_h2_new(c, r, settings, slen, &h2) < 0) {
    duet_conn_close(c);
    return;
  }
  /* From here on the connection is HTTP/2; this parser is done. */
  c->h1 = NULL;
  c->h2 = h2;
  c->proto = DUET_PROTO_H2;
  duet_h1_free(h);
  duet_h2_start_upgraded(h2);
  if (n && !c->closing && duet_h2_feed(h2, rest, n) < 0) duet_conn_close(c);
}

static int execute(duet_h1 *h, const char *p, size_t n) {
  size_t used = http_parser_execute(&h->p, &SETTINGS, p, n);
  enum http_errno e = HTTP_PARSER_ERRNO(&h->p);
  if (h->upgrade) {
    switch_to_h2(h, p + used, n - used);
    return 0;
  }
  if (e == HPE_PAUSED) {
    h->paused = 1;
    duet_conn_pause_read(h->c);
    char *q = malloc(n - used + 1);
    if (!q) return -1;
    memcpy(q, p + used, n - used);
    free(h->rest);
    h->rest = q;
    h->rest_len = n - used;
    return 0;
  }
  /* http_parser flags the upgrade with the headers; only once its body is
   * in (h->cur done) is the rest of the stream another protocol's */
  if (h->p.upgrade && !h->cur) { /* answered with Connection: close; ignore the rest */
    h->dead = 1;
    duet_conn_pause_read(h->c);
    return 0;
  }
  if (e != HPE_OK) reject(h);
  return 0;
}

int duet_h1_feed(duet_h1 *h, const char *p, size_t n) {
  if (h->dead || h->paused) return 0;
  return execute(h, p, n);
}

void duet_h1_resume(duet_h1 *h) {
  if (!h->paused || h->dead || h->nq >= h->c->srv->opts.max_pipeline) return;
  h->paused = 0;
  http_parser_pause(&h->p, 0);
  char *rest = h->rest;
  size_t n = h->rest_len;
  h->rest = NULL;
  h->rest_len = 0;
  duet_conn *c = h->c;
  if (n) execute(h, rest, n);
  free(rest);
  /* execute may have switched the connection to HTTP/2 and freed h */
  if (c->h1 == h && !h->paused && !h->dead) duet_conn_resume_read(c);
}

void duet_h1_writable(duet_h1 *h) { pump(h); }

int duet_h1_idle(const duet_h1 *h) { return !h->head && !h->cur && !h->rest_len; }
int duet_h1_mid_request(const duet_h1 *h) { return h->cur != NULL; }

void duet_h1_drain(duet_h1 *h) {
  h->draining = 1;
  for (duet_req *r = h->head; r; r = r->next) r->keep_alive = 0;
  duet_conn_pause_read(h->c);
}

static int b64val(char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '-' || ch == '+') return 62;
  if (ch == '_' || ch == '/') return 63;
  return -1;
}

/* RFC 7540 3.2.1: token68 base64url, padding optional. */
static int base64url_decode(const char *s, unsigned char *out, size_t cap, size_t *n) {
  uint32_t acc = 0;
  int bits = 0;
  size_t k = 0;
  for (; *s && *s != '='; s++) {
    int v = b64val(*s);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (k >= cap) return -1;
      out[k++] = (unsigned char)(acc >> bits);
    }
  }
  *n = k;
  return 0;
}
