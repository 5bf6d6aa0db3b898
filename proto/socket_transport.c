#include "proto/socket_transport.h"

#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

struct duet_sock_conn {
  uv_tcp_t tcp;
  uv_connect_t connect;
  duet_sock_callbacks cb;
  uint8_t *rbuf;      /* bytes of the message being assembled */
  size_t rlen, rcap;
  size_t queued;
  int closing;
};

typedef struct {
  uv_write_t req;
  duet_sock_conn *c;
  uint8_t *buf;
  size_t len;
} write_req;

int duet_sock_conn_new(uv_loop_t *loop, const duet_sock_callbacks *cb, duet_sock_conn **out) {
  duet_sock_conn *c = calloc(1, sizeof *c);
  if (!c) return duet_error(DUET_ENOMEM, "socket: out of memory");
  int rc = uv_tcp_init(loop, &c->tcp);
  if (rc) {
    free(c);
    return duet_error(DUET_EIO, "socket: uv_tcp_init: %s", uv_strerror(rc));
  }
  c->tcp.data = c;
  c->cb = *cb;
  *out = c;
  return DUET_OK;
}

uv_stream_t *duet_sock_conn_stream(duet_sock_conn *c) { return (uv_stream_t *)&c->tcp; }
void duet_sock_conn_set_user(duet_sock_conn *c, void *user) { c->cb.user = user; }
size_t duet_sock_conn_queued(const duet_sock_conn *c) { return c->queued; }

static void on_closed(uv_handle_t *h) {
  duet_sock_conn *c = h->data;
  free(c->rbuf);
  free(c);
}

void duet_sock_conn_close(duet_sock_conn *c, const char *why) {
  if (c->closing) return;
  c->closing = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  if (c->cb.on_close) c->cb.on_close(c, why, c->cb.user);
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

/* Consume bytes: assemble messages, hand each one over whole. Returns 0,
 * or -1 after closing the connection over a bad header. */
static int feed(duet_sock_conn *c, const uint8_t *p, size_t n) {
  while (n > 0 && !c->closing) {
    size_t need = DUET_MSG_HEADER_SIZE;
    duet_msg_header h;
    if (c->rlen >= DUET_MSG_HEADER_SIZE) {
      duet_msg_header_decode(c->rbuf, c->rlen, &h); /* validated when the header completed */
      need += h.payload_len;
    }
    if (c->rcap < need) {
      uint8_t *q = realloc(c->rbuf, need);
      if (!q) {
        duet_sock_conn_close(c, "out of memory for an incoming message");
        return -1;
      }
      c->rbuf = q;
      c->rcap = need;
    }
    size_t take = need - c->rlen < n ? need - c->rlen : n;
    memcpy(c->rbuf + c->rlen, p, take);
    c->rlen += take;
    p += take;
    n -= take;
    if (c->rlen == DUET_MSG_HEADER_SIZE) {
      if (duet_msg_header_decode(c->rbuf, c->rlen, &h) ||
          (duet_msg_kind_internal(h.kind) && !c->cb.allow_internal &&
           duet_error(DUET_EPROTO, "internal message kind %u not accepted on this socket", h.kind))) {
        duet_sock_conn_close(c, duet_last_error());
        return -1;
      }
      if (h.payload_len) continue;
    }
    if (c->rlen < DUET_MSG_HEADER_SIZE) continue;
    duet_msg_header_decode(c->rbuf, c->rlen, &h);
    if (c->rlen < DUET_MSG_HEADER_SIZE + (size_t)h.payload_len) continue;
    uint8_t *msg = c->rbuf;
    size_t len = c->rlen;
    c->rbuf = NULL;
    c->rlen = c->rcap = 0;
    c->cb.on_msg(c, &h, msg, len, c->cb.user);
  }
  return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  duet_sock_conn *c = s->data;
  if (nread > 0) feed(c, (const uint8_t *)buf->base, (size_t)nread);
  else if (nread < 0) duet_sock_conn_close(c, nread == UV_EOF ? "peer closed the connection" : uv_strerror((int)nread));
  free(buf->base);
}

int duet_sock_conn_start(duet_sock_conn *c) {
  uv_tcp_nodelay(&c->tcp, 1);
  int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  return rc ? duet_error(DUET_EIO, "socket: uv_read_start: %s", uv_strerror(rc)) : DUET_OK;
}

static void on_written(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  w->c->queued -= w->len;
  free(w->buf);
  if (status && status != UV_ECANCELED) duet_sock_conn_close(w->c, uv_strerror(status));
  free(w);
}

int duet_sock_conn_send(duet_sock_conn *c, uint8_t *buf, size_t len) {
  if (c->closing) {
    free(buf);
    return duet_error(DUET_ECLOSED, "socket: connection closed");
  }
  write_req *w = malloc(sizeof *w);
  if (!w) {
    free(buf);
    return duet_error(DUET_ENOMEM, "socket: out of memory");
  }
  w->c = c;
  w->buf = buf;
  w->len = len;
  uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
  if (rc) {
    free(buf);
    free(w);
    duet_sock_conn_close(c, uv_strerror(rc));
    return duet_error(DUET_ECLOSED, "socket: write failed: %s", uv_strerror(rc));
  }
  c->queued += len;
  return DUET_OK;
}

int duet_sock_parse_addr(const char *hostport, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  const char *colon = hostport ? strrchr(hostport, ':') : NULL;
  if (!colon || colon == hostport || !colon[1])
    return duet_error(DUET_EINVAL, "address \"%s\": expected HOST:PORT", hostport ? hostport : "(null)");
  char host[256];
  size_t hl = (size_t)(colon - hostport);
  if (hl >= sizeof host) return duet_error(DUET_EINVAL, "address \"%s\": host too long", hostport);
  memcpy(host, hostport, hl);
  host[hl] = 0;
  if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') { /* [::1]:port */
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = 0;
  }
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535) return duet_error(DUET_EINVAL, "address \"%s\": bad port", hostport);
  if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0) return DUET_OK;
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0) return DUET_OK;
  return duet_error(DUET_EINVAL, "address \"%s\": host is not an IP address", hostport);
}

static void on_connected(uv_connect_t *req, int status) {
  duet_sock_conn *c = req->data;
  if (c->closing) return;
  if (c->cb.on_connect) c->cb.on_connect(c, status, c->cb.user);
  if (status) {
    duet_sock_conn_close(c, uv_strerror(status));
    return;
  }
  if (duet_sock_conn_start(c)) duet_sock_conn_close(c, duet_last_error());
}

int duet_sock_connect(duet_sock_conn *c, const char *hostport) {
  struct sockaddr_storage sa;
  int rc = duet_sock_parse_addr(hostport, &sa);
  if (rc) return rc;
  c->connect.data = c;
  rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&sa, on_connected);
  return rc ? duet_error(DUET_EIO, "connect to %s: %s", hostport, uv_strerror(rc)) : DUET_OK;
}
