#include "server/frontend/http2.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "server/frontend/cors.h"
#include "server/frontend/listener.h"
#include "server/frontend/request.h"
#include "server/frontend/router.h"

struct duet_h2 {
  nghttp2_session *s;
  duet_conn *c;
  int in_recv, in_send;
  int streams;
  duet_req *list; /* open streams' requests, linked by next */
};

static void link_req(duet_h2 *h, duet_req *r) {
  r->next = h->list;
  h->list = r;
  h->streams++;
}

static void unlink_req(duet_h2 *h, duet_req *r) {
  for (duet_req **p = &h->list; *p; p = &(*p)->next)
    if (*p == r) {
      *p = r->next;
      h->streams--;
      return;
    }
}

static duet_h2 *of(duet_req *r) { return r->conn->h2; }

static ssize_t read_out(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *user) {
  (void)s, (void)id, (void)user;
  duet_req *r = src->ptr;
  size_t n = duet_req_out_pending(r);
  if (n > len) n = len;
  memcpy(buf, r->out + r->out_off, n);
  duet_req_out_consume(r, n);
  if (r->ended && !duet_req_out_pending(r)) *flags |= NGHTTP2_DATA_FLAG_EOF;
  else if (!n) return NGHTTP2_ERR_DEFERRED;
  return (ssize_t)n;
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}

static void t_head(duet_req *r, int status, const char *ctype, int retry_after, long long clen) {
  duet_h2 *h = of(r);
  if (!h) return;
  char st[8], ra[16], cl[24];
  snprintf(st, sizeof st, "%d", status);
  snprintf(ra, sizeof ra, "%d", retry_after);
  snprintf(cl, sizeof cl, "%lld", clen);
  nghttp2_nv nv[5 + DUET_CORS_MAX] = {NV(":status", st), NV("content-type", ctype)};
  size_t n = 2;
  if (clen >= 0) nv[n++] = (nghttp2_nv)NV("content-length", cl);
  else nv[n++] = (nghttp2_nv)NV("cache-control", "no-cache");
  if (retry_after > 0) nv[n++] = (nghttp2_nv)NV("retry-after", ra);
  if (r->allow) nv[n++] = (nghttp2_nv)NV("allow", r->allow);
  duet_hdr cors[DUET_CORS_MAX];
  for (int i = 0, k = duet_cors_headers(r, cors); i < k; i++)
    nv[n++] = (nghttp2_nv){(uint8_t *)cors[i].name, (uint8_t *)cors[i].value, strlen(cors[i].name),
                           strlen(cors[i].value), NGHTTP2_NV_FLAG_NONE};
  nghttp2_data_provider prd = {.source.ptr = r, .read_callback = read_out};
  if (nghttp2_submit_response(h->s, r->stream_id, nv, n, clen == 0 || duet_req_is_head(r) ? NULL : &prd) < 0)
    nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_INTERNAL_ERROR);
}

static void kick(duet_req *r) {
  duet_h2 *h = of(r);
  if (!h) return;
  nghttp2_session_resume_data(h->s, r->stream_id);
  if (duet_h2_flush(h) < 0) duet_conn_close(r->conn);
}

static void t_body(duet_req *r, const char *p, size_t n) {
  duet_req_out_append(r, p, n);
  kick(r);
}

static void t_end(duet_req *r) { kick(r); }

static const duet_req_transport H2 = {t_head, t_body, t_end};

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  duet_h2 *h = user;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  duet_req *r = duet_req_new(h->c, &H2);
  if (!r) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  r->stream_id = f->hd.stream_id;
  link_req(h, r);
  nghttp2_session_set_stream_user_data(s, f->hd.stream_id, r);
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *user) {
  (void)flags;
  duet_h2 *h = user;
  duet_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (!r || f->hd.type != NGHTTP2_HEADERS) return 0;
  r->hdr_bytes += nlen + vlen + 32; /* RFC 7541's accounting */
  if (r->hdr_bytes > h->c->srv->opts.max_header) {
    r->reject_status = 431;
    return 0;
  }
  const char *n = (const char *)name, *v = (const char *)value;
  if (nlen == 7 && !memcmp(n, ":method", 7)) snprintf(r->method, sizeof r->method, "%.*s", (int)vlen, v);
  else if (nlen == 5 && !memcmp(n, ":path", 5)) duet_req_set_str(&r->path, v, vlen);
  else if (nlen == 14 && !memcmp(n, "content-length", 14)) r->content_length = atoll(v);
  else duet_req_header(r, n, nlen, v, vlen);
  if (r->content_length > (long long)h->c->srv->opts.max_body) r->reject_status = 413;
  return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user) {
  (void)flags;
  duet_h2 *h = user;
  duet_req *r = nghttp2_session_get_stream_user_data(s, id);
  if (!r || r->reject_status) return 0;
  if (duet_req_append_body(r, (const char *)data, len, h->c->srv->opts.max_body) < 0) r->reject_status = 413;
  return 0;
}

static void dispatch(duet_h2 *h, duet_req *r) {
  r->received = 1;
  switch (r->reject_status) {
    case 0: duet_route(r); break;
    case 413:
      duet_req_error(r, 413, "invalid_request_error", NULL, "request body over the %zu-byte limit (--max-body)",
                     h->c->srv->opts.max_body);
      break;
    default:
      duet_req_error(r, 431, "invalid_request_error", NULL, "request headers over the %zu-byte limit (--max-header)",
                     h->c->srv->opts.max_header);
  }
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  duet_h2 *h = user;
  if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  duet_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (r && !r->headed) dispatch(h, r);
  return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *user) {
  (void)code;
  duet_h2 *h = user;
  duet_req *r = nghttp2_session_get_stream_user_data(s, id);
  if (!r) return 0;
  nghttp2_session_set_stream_user_data(s, id, NULL);
  unlink_req(h, r);
  duet_req_free(r); /* a reset stream aborts its generation here */
  return 0;
}

int duet_h2_new(duet_conn *c, duet_req *up, const unsigned char *settings, size_t slen, duet_h2 **out) {
  duet_h2 *h = calloc(1, sizeof *h);
  if (!h) return duet_error(DUET_ENOMEM, "HTTP/2 session");
  h->c = c;
  nghttp2_session_callbacks *cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  int rc = nghttp2_session_server_new(&h->s, cb, h);
  nghttp2_session_callbacks_del(cb);
  if (rc < 0) {
    free(h);
    return duet_error(DUET_ENOMEM, "HTTP/2 session: %s", nghttp2_strerror(rc));
  }
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)c->srv->opts.max_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)c->srv->opts.max_header},
  };
  nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
  if (up) {
    up->tp = &H2;
    up->stream_id = 1;
    rc = nghttp2_session_upgrade2(h->s, settings, slen, !strcmp(up->method, "HEAD"), up);
    if (rc < 0) {
      nghttp2_session_del(h->s);
      free(h);
      duet_req_free(up);
      return duet_error(DUET_EPROTO, "h2c upgrade: %s", nghttp2_strerror(rc));
    }
    /* a server session ignores the user data given to upgrade2 */
    nghttp2_session_set_stream_user_data(h->s, 1, up);
    link_req(h, up);
  }
  *out = h;
  return 0;
}

void duet_h2_start_upgraded(duet_h2 *h) {
  duet_req *r = nghttp2_session_get_stream_user_data(h->s, 1);
  if (r) dispatch(h, r);
  if (duet_h2_flush(h) < 0) duet_conn_close(h->c);
}

void duet_h2_free(duet_h2 *h) {
  if (!h) return;
  /* nghttp2_session_del does not call on_stream_close: abort by hand */
  while (h->list) {
    duet_req *r = h->list;
    h->list = r->next;
    duet_req_free(r);
  }
  nghttp2_session_del(h->s);
  free(h);
}

int duet_h2_feed(duet_h2 *h, const char *p, size_t n) {
  h->in_recv = 1;
  ssize_t rc = nghttp2_session_mem_recv(h->s, (const uint8_t *)p, n);
  h->in_recv = 0;
  if (rc < 0) {
    /* nghttp2 queued a GOAWAY naming the error; send it, then close */
    duet_h2_flush(h);
    duet_conn_finish(h->c);
    return 0;
  }
  return duet_h2_flush(h);
}

/* nghttp2 hands out one frame at a time; gathering them into one buffer
 * makes one write (one syscall) per batch instead of one per frame. */
int duet_h2_flush(duet_h2 *h) {
  if (h->in_recv || h->in_send) return 0;
  h->in_send = 1;
  static char buf[65536];
  size_t used = 0;
  int rc = 0;
  while (duet_conn_writable(h->c)) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(h->s, &data);
    if (n < 0) {
      rc = -1;
      break;
    }
    if (!n) break;
    if (used + (size_t)n > sizeof buf) {
      duet_conn_write(h->c, buf, used);
      used = 0;
    }
    if ((size_t)n > sizeof buf) duet_conn_write(h->c, (const char *)data, (size_t)n);
    else memcpy(buf + used, data, (size_t)n), used += (size_t)n;
  }
  if (used) duet_conn_write(h->c, buf, used);
  h->in_send = 0;
  if (rc == 0 && !nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s)) duet_conn_finish(h->c);
  return rc;
}

int duet_h2_idle(const duet_h2 *h) { return h->streams == 0; }

/* A stream whose request is still arriving; one that is all in and waits
 * for its (non-streamed) answer is the server's delay, not the client's. */
int duet_h2_mid_request(const duet_h2 *h) {
  for (const duet_req *r = h->list; r; r = r->next)
    if (!r->received) return 1;
  return 0;
}

void duet_h2_drain(duet_h2 *h) {
  nghttp2_submit_shutdown_notice(h->s);
  if (duet_h2_flush(h) < 0) duet_conn_close(h->c);
}

void duet_h2_goaway(duet_h2 *h) {
  nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s), NGHTTP2_NO_ERROR,
                        NULL, 0);
  duet_h2_flush(h);
  duet_conn_finish(h->c);
}
