#include "clients/http_client.h"

#include <http_parser.h>
#include <netdb.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

struct duet_http_req {
  duet_http_conn *conn;
  duet_http_callbacks cb;
  void *user;
  int32_t stream_id;   /* HTTP/2 */
  char *wire;          /* HTTP/1.1: head + body; HTTP/2: body */
  size_t wire_len, wire_off;
  int cancelled, sent;
  duet_http_req *next;
};

struct duet_http_conn {
  uv_loop_t *loop;
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  duet_http_version version;
  int connected, closing;
  char authority[300];
  nghttp2_session *h2;
  http_parser parser;
  /* HTTP/1.1: FIFO, the head is in flight once sent. HTTP/2: live streams. */
  duet_http_req *head, *tail;
};

/* ---- shared plumbing ---------------------------------------------------- */

typedef struct {
  uv_write_t req;
  char data[];
} write_buf;

static void on_written(uv_write_t *w, int status) {
  (void)status; /* a failed write also shows up as a read error/EOF */
  free(w);
}

static void conn_write(duet_http_conn *c, const void *data, size_t len) {
  write_buf *wb = malloc(sizeof *wb + len);
  if (!wb) return;
  memcpy(wb->data, data, len);
  uv_buf_t b = uv_buf_init(wb->data, (unsigned)len);
  if (uv_write(&wb->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) free(wb);
}

static void list_remove(duet_http_conn *c, duet_http_req *r) {
  duet_http_req **p = &c->head, *prev = NULL;
  while (*p && *p != r) { prev = *p; p = &(*p)->next; }
  if (!*p) return;
  *p = r->next;
  if (c->tail == r) c->tail = prev;
}

static void req_finish(duet_http_req *r, int err) {
  duet_http_conn *c = r->conn;
  list_remove(c, r);
  if (r->cancelled && err != 0) err = DUET_ECANCELED;
  if (r->cb.on_done) r->cb.on_done(err, r->user);
  free(r->wire);
  free(r);
}

static void fail_all(duet_http_conn *c, int err) {
  while (c->head) req_finish(c->head, err);
}

static void on_closed(uv_handle_t *h) {
  duet_http_conn *c = h->data;
  if (c->h2) nghttp2_session_del(c->h2);
  free(c);
}

void duet_http_close(duet_http_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  fail_all(c, DUET_ECLOSED);
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* A broken connection fails its requests but stays allocated until the
 * owner calls duet_http_close. */
static void conn_broken(duet_http_conn *c, int err) {
  c->connected = 0;
  uv_read_stop((uv_stream_t *)&c->tcp);
  fail_all(c, err);
}

/* ---- HTTP/2 ------------------------------------------------------------- */

static void h2_flush(duet_http_conn *c) {
  if (!c->connected || !c->h2) return;
  for (;;) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->h2, &data);
    if (n < 0) { conn_broken(c, DUET_EPROTO); return; }
    if (n == 0) break;
    conn_write(c, data, (size_t)n);
  }
}

static ssize_t h2_read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud) {
  (void)s, (void)sid, (void)ud;
  duet_http_req *r = src->ptr;
  size_t n = r->wire_len - r->wire_off;
  if (n > len) n = len;
  memcpy(buf, r->wire + r->wire_off, n);
  r->wire_off += n;
  if (r->wire_off == r->wire_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *ud) {
  (void)flags, (void)ud;
  duet_http_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (r && namelen == 7 && memcmp(name, ":status", 7) == 0 && r->cb.on_status) {
    char tmp[8] = {0};
    memcpy(tmp, value, valuelen < 7 ? valuelen : 7);
    r->cb.on_status(atoi(tmp), r->user);
  }
  return 0;
}

static int h2_on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data,
                      size_t len, void *ud) {
  (void)flags, (void)ud;
  duet_http_req *r = nghttp2_session_get_stream_user_data(s, sid);
  if (r && r->cb.on_data) r->cb.on_data((const char *)data, len, r->user);
  return 0;
}

static int h2_on_close(nghttp2_session *s, int32_t sid, uint32_t error_code, void *ud) {
  (void)ud;
  duet_http_req *r = nghttp2_session_get_stream_user_data(s, sid);
  if (r) {
    nghttp2_session_set_stream_user_data(s, sid, NULL);
    req_finish(r, error_code == NGHTTP2_NO_ERROR ? 0 : DUET_EPROTO);
  }
  return 0;
}

static int h2_session_new(duet_http_conn *c) {
  nghttp2_session_callbacks *cbs;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return DUET_ENOMEM;
  nghttp2_session_callbacks_set_on_header_callback(cbs, h2_on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_on_close);
  int rv = nghttp2_session_client_new(&c->h2, cbs, c);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) return DUET_ENOMEM;
  /* A large window: streamed completions should never stall on us. */
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
                                 {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24}};
  nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2);
  nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 1 << 28);
  return DUET_OK;
}

static nghttp2_nv make_nv(const char *name, const char *value) {
  nghttp2_nv nv = {(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                   NGHTTP2_NV_FLAG_NONE};
  return nv;
}

static int h2_submit(duet_http_conn *c, duet_http_req *r, const char *method, const char *path,
                     const char *const *extra) {
  nghttp2_nv nva[24];
  size_t n = 0;
  char len_str[24];
  snprintf(len_str, sizeof len_str, "%zu", r->wire_len);
  nva[n++] = make_nv(":method", method);
  nva[n++] = make_nv(":scheme", "http");
  nva[n++] = make_nv(":authority", c->authority);
  nva[n++] = make_nv(":path", path);
  if (r->wire) {
    nva[n++] = make_nv("content-type", "application/json");
    nva[n++] = make_nv("content-length", len_str);
  }
  for (size_t i = 0; extra && extra[i] && extra[i + 1] && n < 24; i += 2)
    nva[n++] = make_nv(extra[i], extra[i + 1]);
  nghttp2_data_provider prd = {.source.ptr = r, .read_callback = h2_read_body};
  int32_t sid = nghttp2_submit_request(c->h2, NULL, nva, n, r->wire ? &prd : NULL, r);
  if (sid < 0) return duet_error(DUET_EPROTO, "HTTP/2 request: %s", nghttp2_strerror(sid));
  r->stream_id = sid;
  h2_flush(c);
  return DUET_OK;
}

/* ---- HTTP/1.1 ----------------------------------------------------------- */

static int h1_on_headers_complete(http_parser *p) {
  duet_http_conn *c = p->data;
  if (c->head && c->head->cb.on_status) c->head->cb.on_status(p->status_code, c->head->user);
  return 0;
}

static int h1_on_body(http_parser *p, const char *at, size_t len) {
  duet_http_conn *c = p->data;
  if (c->head && c->head->cb.on_data) c->head->cb.on_data(at, len, c->head->user);
  return 0;
}

static void h1_send_next(duet_http_conn *c);

static int h1_on_message_complete(http_parser *p) {
  duet_http_conn *c = p->data;
  if (c->head) req_finish(c->head, 0);
  h1_send_next(c);
  return 0;
}

static const http_parser_settings h1_settings = {
    .on_headers_complete = h1_on_headers_complete,
    .on_body = h1_on_body,
    .on_message_complete = h1_on_message_complete,
};

static void h1_send_next(duet_http_conn *c) {
  duet_http_req *r = c->head;
  if (!c->connected || !r || r->sent) return;
  r->sent = 1;
  http_parser_init(&c->parser, HTTP_RESPONSE);
  c->parser.data = c;
  conn_write(c, r->wire, r->wire_len);
}

static int h1_serialize(duet_http_conn *c, duet_http_req *r, const char *method, const char *path,
                        const char *const *extra, const char *body, size_t body_len) {
  size_t cap = 512 + strlen(path) + body_len;
  for (size_t i = 0; extra && extra[i] && extra[i + 1]; i += 2)
    cap += strlen(extra[i]) + strlen(extra[i + 1]) + 4;
  r->wire = malloc(cap);
  if (!r->wire) return duet_error(DUET_ENOMEM, "out of memory for a %zu-byte HTTP/1.1 request", cap);
  int n = snprintf(r->wire, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, c->authority);
  if (body)
    n += snprintf(r->wire + n, cap - n,
                  "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
  for (size_t i = 0; extra && extra[i] && extra[i + 1]; i += 2)
    n += snprintf(r->wire + n, cap - n, "%s: %s\r\n", extra[i], extra[i + 1]);
  n += snprintf(r->wire + n, cap - n, "\r\n");
  if (body) memcpy(r->wire + n, body, body_len);
  r->wire_len = (size_t)n + (body ? body_len : 0);
  return DUET_OK;
}

/* ---- connection --------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(hint);
  buf->len = buf->base ? hint : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  duet_http_conn *c = s->data;
  if (nread < 0) {
    if (c->version == DUET_HTTP_1 && c->head && c->head->sent)
      http_parser_execute(&c->parser, &h1_settings, NULL, 0); /* EOF may end a body */
    conn_broken(c, DUET_ECLOSED);
  } else if (nread > 0 && c->version == DUET_HTTP_2) {
    ssize_t rv = nghttp2_session_mem_recv(c->h2, (const uint8_t *)buf->base, (size_t)nread);
    if (rv < 0) conn_broken(c, DUET_EPROTO);
    else h2_flush(c);
  } else if (nread > 0) {
    size_t done = http_parser_execute(&c->parser, &h1_settings, buf->base, (size_t)nread);
    if (done != (size_t)nread && c->parser.http_errno != HPE_OK) conn_broken(c, DUET_EPROTO);
  }
  free(buf->base);
}

static void on_connect(uv_connect_t *req, int status) {
  duet_http_conn *c = req->data;
  if (c->closing) return;
  if (status < 0) { /* the reason (refused, unreachable...) goes with the error */
    duet_error(DUET_EIO, "cannot connect to %s: %s", c->authority, uv_strerror(status));
    conn_broken(c, DUET_EIO);
    return;
  }
  c->connected = 1;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (c->version == DUET_HTTP_2) h2_flush(c);
  else h1_send_next(c);
}

int duet_http_parse_url(const char *url, char *host, size_t host_cap, int *port, char *prefix,
                        size_t prefix_cap) {
  const char *p = url;
  if (strncmp(p, "http://", 7) == 0) p += 7;
  else if (strstr(p, "://")) return duet_error(DUET_EINVAL, "only http:// URLs are supported: %s", url);
  const char *slash = strchr(p, '/');
  const char *end = slash ? slash : p + strlen(p);
  const char *colon = memchr(p, ':', (size_t)(end - p));
  size_t hlen = (size_t)((colon ? colon : end) - p);
  if (hlen == 0 || hlen >= host_cap) return duet_error(DUET_EINVAL, "bad host in URL: %s", url);
  memcpy(host, p, hlen);
  host[hlen] = 0;
  *port = 80;
  if (colon) { /* digits only: atoi took "80x" as 80 and wrapped 2^32+81 to 81 */
    long v = 0;
    const char *d = colon + 1;
    for (; d < end && *d >= '0' && *d <= '9' && v <= 65535; d++) v = v * 10 + (*d - '0');
    if (d != end || d == colon + 1 || v < 1 || v > 65535) return duet_error(DUET_EINVAL, "bad port in URL: %s", url);
    *port = (int)v;
  }
  snprintf(prefix, prefix_cap, "%s", slash ? slash : "");
  size_t pl = strlen(prefix);
  if (pl && prefix[pl - 1] == '/') prefix[pl - 1] = 0;
  return DUET_OK;
}

int duet_http_connect(uv_loop_t *loop, const char *host, int port, duet_http_version v,
                      duet_http_conn **out) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
  char port_str[8];
  snprintf(port_str, sizeof port_str, "%d", port);
  if (getaddrinfo(host, port_str, &hints, &ai) != 0)
    return duet_error(DUET_ENOENT, "cannot resolve host %s", host);
  duet_http_conn *c = calloc(1, sizeof *c);
  if (!c) { freeaddrinfo(ai); return duet_error(DUET_ENOMEM, "out of memory for a connection to %s", host); }
  c->loop = loop;
  c->version = v;
  snprintf(c->authority, sizeof c->authority, "%s:%d", host, port);
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->connect_req.data = c;
  if (v == DUET_HTTP_2 && h2_session_new(c) != DUET_OK) {
    freeaddrinfo(ai);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    return duet_error(DUET_ENOMEM, "out of memory for an HTTP/2 session to %s", host);
  }
  int rv = uv_tcp_connect(&c->connect_req, &c->tcp, ai->ai_addr, on_connect);
  freeaddrinfo(ai);
  if (rv != 0) {
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    return duet_error(DUET_EIO, "connect %s:%d: %s", host, port, uv_strerror(rv));
  }
  *out = c;
  return DUET_OK;
}

int duet_http_request(duet_http_conn *c, const char *method, const char *path,
                      const char *const *extra_headers, const char *body, size_t body_len,
                      const duet_http_callbacks *cb, void *user, duet_http_req **out) {
  if (c->closing) return duet_error(DUET_ECLOSED, "connection is closing");
  duet_http_req *r = calloc(1, sizeof *r);
  if (!r) return duet_error(DUET_ENOMEM, "out of memory for an HTTP request");
  r->conn = c;
  r->cb = *cb;
  r->user = user;
  int rv;
  if (c->version == DUET_HTTP_2) {
    if (body) {
      r->wire = malloc(body_len ? body_len : 1);
      if (!r->wire) { free(r); return duet_error(DUET_ENOMEM, "out of memory for a %zu-byte request body", body_len); }
      memcpy(r->wire, body, body_len);
      r->wire_len = body_len;
    }
    rv = h2_submit(c, r, method, path, extra_headers);
  } else {
    rv = h1_serialize(c, r, method, path, extra_headers, body, body_len);
  }
  if (rv != DUET_OK) { free(r->wire); free(r); return rv; }
  if (c->tail) c->tail->next = r;
  else c->head = r;
  c->tail = r;
  if (c->version == DUET_HTTP_1) h1_send_next(c);
  if (out) *out = r;
  return DUET_OK;
}

void duet_http_cancel(duet_http_req *r) {
  duet_http_conn *c = r->conn;
  r->cancelled = 1;
  if (c->version == DUET_HTTP_2) {
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_CANCEL);
    h2_flush(c);
  } else if (r->sent) {
    conn_broken(c, DUET_ECLOSED); /* the only way to stop an HTTP/1.1 response */
  } else {
    req_finish(r, DUET_ECANCELED);
  }
}
