#include "server/frontend/listener.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "server/frontend/http1.h"
#include "server/frontend/http2.h"
#include "server/frontend/tls.h"

/* Past this many bytes waiting in the kernel-bound queue a connection stops
 * producing (HTTP/2 stops pulling DATA; HTTP/1.1 streams stage in memory). */
#define WRITE_HIGH_WATER (256u << 10)

static const char PREFACE[24] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

double duet_now(void) { return (double)uv_hrtime() * 1e-9; }

/* libuv calls alloc then read on the same thread with nothing in between,
 * so one buffer serves every connection. */
static char read_buf[65536];
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h, (void)hint;
  b->base = read_buf;
  b->len = sizeof read_buf;
}

static void on_handle_closed(uv_handle_t *h) {
  duet_conn *c = h->data;
  if (--c->open_handles > 0) return;
  /* Both handles are closed: no callback can reach c any more. Aborting the
   * requests here (not in duet_conn_close) keeps a handler that is in the
   * middle of writing from seeing its request freed under it. */
  if (c->h2) duet_h2_free(c->h2);
  if (c->h1) duet_h1_free(c->h1);
  duet_tls_free(c->tls);
  duet_server *s = c->srv;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->metrics.connections_open--;
  free(c);
}

void duet_conn_close(duet_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->kick, on_handle_closed);
}

void duet_conn_finish(duet_conn *c) {
  if (!c->write_queued) duet_conn_close(c);
  else c->close_when_flushed = 1;
}

static void on_kick(uv_timer_t *t) {
  duet_conn *c = t->data;
  if (c->closing) return;
  if (c->h1) duet_h1_resume(c->h1);
  if (c->h2 && duet_h2_flush(c->h2) < 0) duet_conn_close(c);
}

void duet_conn_kick(duet_conn *c) {
  if (!c->closing) uv_timer_start(&c->kick, on_kick, 0, 0);
}

typedef struct {
  uv_write_t w;
  duet_conn *c;
  size_t n;
  char data[];
} wreq;

static void on_written(uv_write_t *w, int status) {
  wreq *q = (wreq *)w;
  duet_conn *c = q->c;
  c->write_queued -= q->n;
  free(q);
  if (c->closing) return;
  if (status < 0) {
    duet_conn_close(c);
    return;
  }
  c->last_write = duet_now();
  if (c->close_when_flushed) {
    if (!c->write_queued) duet_conn_close(c);
    return;
  }
  if (c->write_queued < WRITE_HIGH_WATER / 2) {
    if (c->h2 && duet_h2_flush(c->h2) < 0) duet_conn_close(c);
    else if (c->h1) duet_h1_writable(c->h1);
  }
}

static void raw_write(void *user, const char *p, size_t n) {
  duet_conn *c = user;
  if (c->closing || !n) return;
  if (!c->write_queued) {
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (w == (int)n) {
      c->last_write = duet_now();
      return;
    }
    if (w < 0 && w != UV_EAGAIN) {
      duet_conn_close(c);
      return;
    }
    if (w > 0) p += w, n -= (size_t)w;
  }
  wreq *q = malloc(sizeof *q + n);
  if (!q) {
    duet_conn_close(c);
    return;
  }
  memcpy(q->data, p, n);
  q->c = c;
  q->n = n;
  uv_buf_t b = uv_buf_init(q->data, (unsigned)n);
  if (uv_write(&q->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
    free(q);
    duet_conn_close(c);
    return;
  }
  c->write_queued += n;
}

void duet_conn_write(duet_conn *c, const char *p, size_t n) {
  if (c->closing) return;
  if (c->tls) {
    if (duet_tls_write(c->tls, p, n, raw_write, c) < 0) duet_conn_close(c);
  } else {
    raw_write(c, p, n);
  }
}

int duet_conn_writable(const duet_conn *c) { return !c->closing && c->write_queued < WRITE_HIGH_WATER; }

static void start_proto(duet_conn *c, int h2) {
  c->proto = h2 ? DUET_PROTO_H2 : DUET_PROTO_H1;
  if (h2) {
    if (duet_h2_new(c, NULL, NULL, 0, &c->h2) < 0) duet_conn_close(c);
  } else if (!(c->h1 = duet_h1_new(c))) {
    duet_conn_close(c);
  }
}

static void feed_proto(duet_conn *c, const char *p, size_t n) {
  int rc = c->h2 ? duet_h2_feed(c->h2, p, n) : c->h1 ? duet_h1_feed(c->h1, p, n) : 0;
  if (rc < 0) duet_conn_close(c);
}

/* Cleartext detection: the HTTP/2 preface, byte for byte, or HTTP/1.1 as
 * soon as one byte differs. */
static void on_plain(void *user, const char *p, size_t n) {
  duet_conn *c = user;
  if (c->closing) return;
  if (c->proto == DUET_PROTO_DETECT && c->tls) {
    int h2 = duet_tls_is_h2(c->tls);
    if (h2 < 0) return;
    start_proto(c, h2);
  }
  while (c->proto == DUET_PROTO_DETECT && n) {
    c->sniff[c->sniff_len++] = *p++;
    n--;
    int match = !memcmp(c->sniff, PREFACE, c->sniff_len);
    if (match && c->sniff_len < sizeof PREFACE) continue;
    start_proto(c, match);
    if (c->closing) return;
    feed_proto(c, c->sniff, c->sniff_len);
  }
  if (n && !c->closing) feed_proto(c, p, n);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
  duet_conn *c = st->data;
  if (nread < 0) {
    duet_conn_close(c);
    return;
  }
  if (!nread || c->closing) return;
  c->last_read = duet_now();
  if (!c->tls) {
    on_plain(c, b->base, (size_t)nread);
    return;
  }
  int rc = duet_tls_feed(c->tls, b->base, (size_t)nread, on_plain, raw_write, c);
  /* ALPN is known once the handshake is done, even before any data */
  if (rc == 0 && c->proto == DUET_PROTO_DETECT && duet_tls_is_h2(c->tls) >= 0)
    start_proto(c, duet_tls_is_h2(c->tls));
  if (rc < 0) duet_conn_close(c);
}

void duet_conn_pause_read(duet_conn *c) {
  if (c->reading && !c->closing) uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
}

void duet_conn_resume_read(duet_conn *c) {
  if (c->reading || c->closing) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) duet_conn_close(c);
  else c->reading = 1;
}

static int conn_idle(const duet_conn *c) {
  if (c->h1) return duet_h1_idle(c->h1);
  if (c->h2) return duet_h2_idle(c->h2);
  return 1;
}

/* Once a second: idle connections past the idle timeout, and clients that
 * stall (a half-sent request, or not reading what we send) past the slow
 * timeout, are closed so they cannot hold slots forever. */
static void on_tick(uv_timer_t *t) {
  duet_conn *c = t->data;
  const duet_opts *o = &c->srv->opts;
  double now = duet_now();
  int stalled_write = c->write_queued && now - c->last_write > o->slow_timeout;
  int idle = conn_idle(c);
  int partial = c->proto == DUET_PROTO_DETECT || (c->h1 && duet_h1_mid_request(c->h1)) ||
                (c->h2 && duet_h2_mid_request(c->h2));
  int stalled_read = partial && now - c->last_read > o->slow_timeout;
  if (stalled_write || stalled_read) duet_conn_close(c);
  else if (!idle || now - c->last_read <= o->idle_timeout || c->close_when_flushed) return;
  /* HTTP/2 says goodbye with a GOAWAY (RFC 9113 6.8): a client that sent a
   * request on the pooled connection just then learns it was not taken */
  else if (c->h2) duet_h2_goaway(c->h2);
  else duet_conn_close(c);
}

static void on_connection(uv_stream_t *l, int status) {
  duet_server *s = l->data;
  if (status < 0) return;
  duet_conn *c = calloc(1, sizeof *c);
  if (!c) return;
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  c->open_handles = 1;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->metrics.connections_open++;
  uv_timer_init(s->loop, &c->timer);
  c->timer.data = c;
  uv_timer_init(s->loop, &c->kick);
  c->kick.data = c;
  c->open_handles = 3;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
    duet_conn_close(c);
    return;
  }
  s->metrics.connections_total++;
  /* Over the limit: accept and close at once, so the backlog does not fill
   * with connections nobody will serve. */
  if (s->metrics.connections_open > s->opts.max_conns || s->draining) {
    duet_conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  c->last_read = c->last_write = duet_now();
  if (s->tls && !(c->tls = duet_tls_new(s->tls))) {
    duet_conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, on_tick, 1000, 1000);
  duet_conn_resume_read(c);
}

int duet_listener_start(duet_server *s) {
  struct sockaddr_storage addr;
  if (uv_ip4_addr(s->opts.host, s->opts.port, (struct sockaddr_in *)&addr) < 0 &&
      uv_ip6_addr(s->opts.host, s->opts.port, (struct sockaddr_in6 *)&addr) < 0)
    return duet_error(DUET_EINVAL, "--host: '%s' is not an IPv4 or IPv6 address", s->opts.host);
  uv_tcp_init(s->loop, &s->listener);
  s->listener.data = s;
  int rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
  if (rc < 0) {
    uv_close((uv_handle_t *)&s->listener, NULL);
    return duet_error(DUET_EIO, "cannot listen on %s:%d: %s", s->opts.host, s->opts.port, uv_strerror(rc));
  }
  s->listening = 1;
  return 0;
}

void duet_listener_stop(duet_server *s) {
  if (!s->listening) return;
  s->listening = 0;
  uv_close((uv_handle_t *)&s->listener, NULL);
}

void duet_conns_drain(duet_server *s) {
  for (duet_conn *c = s->conns; c; c = c->next) {
    if (c->closing) continue;
    if (conn_idle(c)) duet_conn_close(c);
    else if (c->h1) duet_h1_drain(c->h1);
    else if (c->h2) duet_h2_drain(c->h2);
  }
}

/* What was already written (the last events of drained streams) still
 * goes out; the loop stops when the workers are down either way. */
void duet_conns_close_all(duet_server *s) {
  for (duet_conn *c = s->conns; c; c = c->next) duet_conn_finish(c);
}
